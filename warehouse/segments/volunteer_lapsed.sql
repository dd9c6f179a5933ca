-- grain: one row per volunteer with shifts but none in the last 180 days
select v.contact_id
from volunteer_measures v
cross join segment_parameters p
where v.last_shift_on <= p.as_of - interval 180 day
