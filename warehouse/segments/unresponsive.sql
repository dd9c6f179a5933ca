-- grain: one row per person known to us for at least 12 months with no inbound interaction in the last 12
-- "Known" = an interaction in either direction, or a message we sent, on or before as-of - 12 months.
-- Persons with no interaction ever are not counted (there is nothing to be unresponsive to), nor
-- persons first in touch within the last 12 months (they have not had the whole window to answer).
with params as (
    select
        as_of_ends_at,
        -- the instant the last 12 months begin: local midnight after as-of - 12 months
        timezone(timezone, cast(cast(as_of - interval 12 month as date) + 1 as timestamp)) as window_starts_at
    from segment_parameters
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

activity as (
    select
        t.contact_id,
        min(t.touched_at)                             as first_touched_at,
        max(t.touched_at) filter (where t.is_inbound) as last_inbound_at
    from touches t
    cross join params p
    where t.touched_at < p.as_of_ends_at
    group by t.contact_id
),

final as (
    select a.contact_id
    from activity a
    cross join params p
    semi join persons using (contact_id)
    where a.first_touched_at < p.window_starts_at
      and (a.last_inbound_at is null or a.last_inbound_at < p.window_starts_at)
)

select * from final
