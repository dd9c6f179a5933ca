-- grain: one row per key that appears more than once in a fact table (must return nothing)
select 'interactions' as table_name, interaction_id as key, count(*) as n from interactions group by all having count(*) > 1
union all
select 'donations', donation_id, count(*) from donations group by all having count(*) > 1
union all
select 'donation_refunds', refund_id, count(*) from donation_refunds group by all having count(*) > 1
union all
select 'volunteer_shifts', shift_id, count(*) from volunteer_shifts group by all having count(*) > 1
union all
select 'consent_events', event_id, count(*) from consent_events group by all having count(*) > 1
union all
select 'message_responses', message_id, count(*) from message_responses group by all having count(*) > 1
union all
select 'request_answers', interaction_id, count(*) from request_answers group by all having count(*) > 1
