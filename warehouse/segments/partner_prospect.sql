-- grain: one row per organisation with no agreement started by the as-of date
-- (an organisation we know with no agreement on record at all is a prospect too)
with params as (
    select as_of from segment_parameters
),

organisations as (
    select contact_id from contacts where kind = 'organisation'
),

started as (
    select a.contact_id
    from partners a
    cross join params p
    where a.starts_on <= p.as_of
),

final as (
    select o.contact_id
    from organisations o
    anti join started s using (contact_id)
)

select * from final
