-- grain: one row per outbound message that was sent
CREATE OR REPLACE VIEW response_times AS
with sent as (
    select message_id, contact_id, channel, campaign, sent_at
    from messages
    where sent_at is not null
),

final as (
    select
        s.message_id,
        s.contact_id,
        s.channel,
        s.campaign,
        s.sent_at,
        r.responded_at,
        date_diff('second', s.sent_at, r.responded_at) as response_seconds,
        r.response_interaction_id,
        r.response_kind
    from sent s
    left join message_responses r using (message_id)
)

select * from final;

-- grain: one row per inbound interaction that awaits an answer
CREATE OR REPLACE VIEW inbound_response_times AS
with requests as (
    select interaction_id, contact_id, channel, occurred_at as received_at, subject, body
    from interactions
    where direction = 'inbound' and awaits_answer
),

sla as (
    select cast(value as double) as sla_hours from settings where key = 'sla_hours'
),

final as (
    select
        q.interaction_id,
        q.contact_id,
        q.channel,
        q.received_at,
        a.answered_at,
        date_diff('second', q.received_at, a.answered_at) as first_response_seconds,
        coalesce(a.answered_at, now()) > q.received_at + to_seconds(cast(sla.sla_hours * 3600 as bigint))
            as sla_breached,
        a.answer_interaction_id,
        q.subject,
        q.body
    from requests q
    cross join sla
    left join request_answers a using (interaction_id)
)

select * from final;
