-- grain: one row per volunteer whose first shift ever falls in the last 30 days
select v.contact_id
from volunteer_measures v
cross join segment_parameters p
where v.first_shift_on > p.as_of - interval 30 day
