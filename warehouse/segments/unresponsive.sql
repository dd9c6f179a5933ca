-- grain: one row per contact with no inbound interaction in the last 12 months (DESIGN, literally:
-- also contacts who never wrote to us at all, e.g. a donor known only from a payment export)
with params as (
    select
        as_of_ends_at,
        -- the instant the last 12 months begin: local midnight after as-of - 12 months
        timezone(timezone, cast(cast(as_of - interval 12 month as date) + 1 as timestamp)) as window_starts_at
    from segment_parameters
),

recent_inbound as (
    select distinct i.contact_id
    from interactions i
    cross join params p
    where i.direction = 'inbound'
      and i.contact_id is not null
      and i.occurred_at >= p.window_starts_at
      and i.occurred_at < p.as_of_ends_at
),

final as (
    select c.contact_id
    from contacts c
    anti join recent_inbound using (contact_id)
)

select * from final
