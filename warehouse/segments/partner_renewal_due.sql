-- grain: one row per organisation with an active agreement ending within the next 60 days
-- (as-of .. as-of + 60, inclusive) and no agreement of theirs that continues after it (a signed renewal)
with params as (
    select as_of from segment_parameters
),

organisations as (
    select contact_id from contacts where kind = 'organisation'
),

ending as (
    select a.contact_id, a.ends_on
    from partners a
    cross join params p
    where a.starts_on <= p.as_of
      and a.ends_on between p.as_of and p.as_of + 60
),

renewed as (
    select e.contact_id, e.ends_on
    from ending e
    join partners a
      on a.contact_id = e.contact_id
     and a.starts_on <= e.ends_on + 1
     and (a.ends_on is null or a.ends_on > e.ends_on)
),

final as (
    select distinct e.contact_id
    from ending e
    semi join organisations o using (contact_id)
    anti join renewed r using (contact_id, ends_on)
)

select * from final
