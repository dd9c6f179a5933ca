-- grain: one row per donor whose net gifts of the last 12 months reach the major-donor threshold (base currency)
select m.contact_id
from donor_measures m
cross join segment_parameters p
where m.given_last_12_months_base >= p.major_donor_threshold
