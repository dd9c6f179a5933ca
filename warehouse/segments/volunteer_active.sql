-- grain: one row per volunteer with a shift in the last 90 days
select v.contact_id
from volunteer_measures v
cross join segment_parameters p
where v.last_shift_on > p.as_of - interval 90 day
