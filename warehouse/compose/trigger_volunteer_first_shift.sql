-- grain: one row per volunteer whose first shift ever falls in the trigger's look-back window
with firsts as (
    select contact_id, arg_min(shift_id, started_at) as shift_id, min(started_at) as started_at
    from volunteer_shifts
    where contact_id is not null
    group by contact_id
)

select f.contact_id, 'volunteer.first_shift' as audience_segment, f.shift_id as trigger_ref,
       f.started_at as trigger_at
from firsts f, compose_params p
where f.started_at >= p.lookback_starts_at and f.started_at < p.as_of_ends_at
