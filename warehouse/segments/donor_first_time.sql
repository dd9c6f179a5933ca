-- grain: one row per donor whose first gift ever falls in the last 90 days
select m.contact_id
from donor_measures m
cross join segment_parameters p
where m.first_gift_on > p.as_of - interval 90 day
