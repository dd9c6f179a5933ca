-- grain: one row per organisation with an ended agreement and none active: evaluate, keep loyal, follow up
with params as (
    select as_of from segment_parameters
),

organisations as (
    select contact_id from contacts where kind = 'organisation'
),

ended as (
    select a.contact_id
    from partners a
    cross join params p
    where a.ends_on < p.as_of
),

active as (
    select a.contact_id
    from partners a
    cross join params p
    where a.starts_on <= p.as_of
      and (a.ends_on is null or a.ends_on >= p.as_of)
),

final as (
    select distinct e.contact_id
    from ended e
    semi join organisations o using (contact_id)
    anti join active a using (contact_id)
)

select * from final
