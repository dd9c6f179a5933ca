-- grain: one row: what the last tracking run covered (-infinity: nothing yet)
select
    coalesce(max(covered_until) filter (where source = 'interactions'), '-infinity') as interactions_until,
    coalesce(max(covered_until) filter (where source = 'contact_merges'), '-infinity') as merges_until
from tracking_watermarks
