-- grain: one row per organisation with an active agreement ending within the next 60 days
-- (as-of .. as-of + 60, both inclusive). As DESIGN says, a renewal already signed does not take it
-- out: the ending agreement is still due for its evaluation and follow-up.
with params as (
    select as_of from segment_parameters
),

organisations as (
    select contact_id from contacts where kind = 'organisation'
),

final as (
    select distinct a.contact_id
    from partners a
    cross join params p
    semi join organisations o using (contact_id)
    where a.starts_on <= p.as_of
      and a.ends_on between p.as_of and p.as_of + 60
)

select * from final
