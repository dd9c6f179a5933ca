-- grain: one row per active agreement that ends within 60 days of the as-of date (its organisation)
select pa.contact_id, 'partner.renewal_due' as audience_segment,
       pa.partner_id || '@' || cast(pa.ends_on as varchar) as trigger_ref, p.run_at as trigger_at
from partners pa, compose_params p
where pa.contact_id is not null and pa.ends_on is not null
  and coalesce(pa.starts_on, p.as_of) <= p.as_of and pa.ends_on >= p.as_of and pa.ends_on <= p.as_of + 60
