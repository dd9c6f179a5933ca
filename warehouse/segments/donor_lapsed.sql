-- grain: one row per donor whose last gift was 12 to 36 months ago: (as-of - 36 months, as-of - 12 months]
select m.contact_id
from donor_measures m
cross join segment_parameters p
where m.last_gift_on <= p.as_of - interval 12 month
  and m.last_gift_on > p.as_of - interval 36 month
