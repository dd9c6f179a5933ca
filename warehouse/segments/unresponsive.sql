-- grain: one row per person known to us for at least 12 months with no inbound interaction in the last 12
-- "Known" = an interaction in either direction, or a message we sent, on or before as-of - 12 months.
-- Persons with no interaction ever are not counted (there is nothing to be unresponsive to), nor
-- persons first in touch within the last 12 months (they have not had the whole window to answer).
with params as (
    select as_of, timezone, as_of - interval 12 month as window_start from segment_parameters
),

persons as (
    select contact_id from contacts where kind = 'person'
),

touches as (
    select contact_id, occurred_at as touched_at, direction = 'inbound' as is_inbound
    from interactions
    where contact_id is not null
    union all
    select contact_id, sent_at, false
    from messages
    where contact_id is not null and sent_at is not null
),

dated as (
    select t.contact_id, cast(timezone(p.timezone, t.touched_at) as date) as touched_on, t.is_inbound
    from touches t
    cross join params p
),

activity as (
    select
        d.contact_id,
        min(d.touched_on)                             as first_touched_on,
        max(d.touched_on) filter (where d.is_inbound) as last_inbound_on
    from dated d
    cross join params p
    where d.touched_on <= p.as_of
    group by d.contact_id
),

final as (
    select a.contact_id
    from activity a
    cross join params p
    semi join persons using (contact_id)
    where a.first_touched_on <= p.window_start
      and (a.last_inbound_on is null or a.last_inbound_on <= p.window_start)
)

select * from final
