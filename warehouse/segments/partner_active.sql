-- grain: one row per organisation with an agreement whose period covers the as-of date
-- (both ends inclusive; no end date = open-ended)
with params as (
    select as_of from segment_parameters
),

organisations as (
    select contact_id from contacts where kind = 'organisation'
),

active as (
    select a.contact_id
    from partners a
    cross join params p
    where a.starts_on <= p.as_of
      and (a.ends_on is null or a.ends_on >= p.as_of)
),

final as (
    select o.contact_id
    from organisations o
    semi join active a using (contact_id)
)

select * from final
