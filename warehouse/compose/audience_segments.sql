-- grain: one row per contact in any included segment and in none of the excluded ones
-- parameters: $1 included segments (in the campaign's order), $2 excluded segments
with members as (
    select m.contact_id, m.segment, list_position($1::VARCHAR[], m.segment) as rank
    from segment_membership m
    semi join contacts c using (contact_id)
    where list_contains($1::VARCHAR[], m.segment)
),

excluded as (
    select contact_id from segment_membership where list_contains($2::VARCHAR[], segment)
),

final as (
    select contact_id, arg_min(segment, rank) as audience_segment,
           null as trigger_ref, null as trigger_at
    from members
    anti join excluded using (contact_id)
    group by contact_id
)

select * from final
