-- grain: one row per donor with a gift in the last 12 months (as-of - 12 months, as-of]
select m.contact_id
from donor_measures m
cross join segment_parameters p
where m.last_gift_on > p.as_of - interval 12 month
