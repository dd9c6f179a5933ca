-- Response times in both directions. `legatura track` materialises the *_matches views into
-- message_responses / request_answers (and request_deadlines with business hours on);
-- response_times and inbound_response_times read those tables.
--
-- Our message -> their response: the earliest of
--   reply         an inbound email from the same contact naming its Message-ID in In-Reply-To or
--                 References (no time limit); dated up to reply_clock_skew_seconds (24 h) before
--                 sent_at still counts, with response_seconds 0
--   same_channel  (non-email channels) the first inbound interaction on that channel, strictly
--                 after sent_at and within attribution_days
--   gift          after an appeal (any is_marketing message): the first gift not refunded in
--                 full, strictly after sent_at and within attribution_days
-- Their request -> our answer: the first outbound interaction to the same contact on any channel
-- after it, or a sent message no outbound interaction records (matched by message_id or, for
-- email, Message-ID); marketing messages and their delivery records are no answer. Our email
-- naming their Message-ID answers it even if dated up to the skew before it.
-- Auto-replies (is_auto_reply) and bounces neither count as a response or answer nor await one.

-- grain: one row: the tracking settings as typed values (written into `settings` by `legatura track`)
CREATE OR REPLACE VIEW tracking_parameters AS
with kv as (
    select
        max(value) filter (where key = 'sla_hours') as sla_hours,
        max(value) filter (where key = 'attribution_days') as attribution_days,
        max(value) filter (where key = 'reply_clock_skew_seconds') as reply_clock_skew_seconds,
        max(value) filter (where key = 'business_hours') as business_hours,
        max(value) filter (where key = 'timezone') as timezone
    from settings
),

final as (
    select
        cast(round(cast(coalesce(sla_hours, '24') as double) * 3600) as bigint) as sla_seconds,
        cast(round(cast(coalesce(attribution_days, '7') as double) * 86400) as bigint) as attribution_seconds,
        cast(coalesce(reply_clock_skew_seconds, '86400') as bigint) as reply_clock_skew_seconds,
        coalesce(business_hours, 'false') = 'true' as business_hours,
        coalesce(timezone, 'UTC') as timezone
    from kv
)

select * from final;

-- What response matching reads, and nothing more. `legatura track` recomputes only the contacts
-- that changed by shadowing these three views with temp tables of those contacts' rows (plus the rows
-- of others their matches look up); the fingerprints of messages and gifts cover exactly these columns.

-- grain: one row per message in the outbox and its history (the columns matching reads)
CREATE OR REPLACE VIEW tracking_messages AS
select message_id, contact_id, channel, sent_at, smtp_message_id, is_marketing
from messages;

-- grain: one row per interaction (the columns matching reads, and the row's place for a scoped fetch)
CREATE OR REPLACE VIEW tracking_interactions AS
select interaction_id, contact_id, channel, direction, kind, occurred_at, external_id, in_reply_to,
       "references", is_auto_reply, awaits_answer, message_id, rowid as source_row
from interactions;

-- grain: one row per gift (the columns matching reads)
CREATE OR REPLACE VIEW tracking_donations AS
select donation_id, contact_id, donated_at, amount, amount_refunded
from donations;

-- grain: one row per message: a fingerprint of what matching reads of it (finds what changed)
CREATE OR REPLACE VIEW tracking_message_fingerprints AS
select message_id, contact_id, smtp_message_id, hash(*columns(*)) as fingerprint
from tracking_messages;

-- grain: one row per gift: a fingerprint of what matching reads of it (finds what changed)
CREATE OR REPLACE VIEW tracking_donation_fingerprints AS
select donation_id, contact_id, hash(*columns(*)) as fingerprint
from tracking_donations;

-- grain: one row per sent message that has a response in the warehouse now (first one wins)
CREATE OR REPLACE VIEW message_response_matches AS
with sent as not materialized (
    select message_id, contact_id, channel, sent_at, smtp_message_id, is_marketing
    from tracking_messages
    where sent_at is not null and contact_id is not null
),

inbound as not materialized (
    -- auto-replies and bounces are never a response
    select interaction_id, contact_id, channel, occurred_at, in_reply_to, "references"
    from tracking_interactions
    where direction = 'inbound' and not is_auto_reply and kind <> 'bounce' and contact_id is not null
),

named_message_ids as (
    -- each Message-ID an inbound email names; References keeps ours when they reply to a reply
    select interaction_id, contact_id, occurred_at, in_reply_to as named_id
    from inbound
    where channel = 'email' and in_reply_to is not null
    union all
    select interaction_id, contact_id, occurred_at, unnest("references") as named_id
    from inbound
    where channel = 'email' and len("references") > 0
),

replies as (
    -- naming our Message-ID proves it came after our message, even when its clock says earlier
    select s.message_id, n.interaction_id as response_id, n.occurred_at as responded_at,
           'reply' as response_kind, 1 as preference
    from named_message_ids n
    join sent s on s.smtp_message_id = n.named_id and s.contact_id = n.contact_id
    where s.channel = 'email'
      and n.occurred_at >= s.sent_at - to_seconds((select reply_clock_skew_seconds from tracking_parameters))
),

same_channel as (
    -- channels without threading (SMS): the first inbound message on that channel in the window
    select s.message_id, i.interaction_id as response_id, i.occurred_at as responded_at,
           'same_channel' as response_kind, 2 as preference
    from (select * from sent where channel <> 'email') s
    -- one candidate per instant (the smallest id): an asof join picks among ties at random
    asof join (select min(interaction_id) as interaction_id, contact_id, channel, occurred_at
               from inbound where channel <> 'email'
               group by contact_id, channel, occurred_at) i
        on s.contact_id = i.contact_id and s.channel = i.channel and s.sent_at < i.occurred_at
    where i.occurred_at <= s.sent_at + to_seconds((select attribution_seconds from tracking_parameters))
),

gifts as (
    -- an appeal is any marketing message; a gift in its window answers it (fully refunded ones don't)
    select s.message_id, d.donation_id as response_id, d.donated_at as responded_at,
           'gift' as response_kind, 3 as preference
    from (select * from sent where is_marketing) s
    asof join (select min(donation_id) as donation_id, contact_id, donated_at from tracking_donations
               where contact_id is not null and amount > amount_refunded
               group by contact_id, donated_at) d
        on s.contact_id = d.contact_id and s.sent_at < d.donated_at
    where d.donated_at <= s.sent_at + to_seconds((select attribution_seconds from tracking_parameters))
),

candidates as (
    select * from replies
    union all
    select * from same_channel
    union all
    select * from gifts
),

first_response as (
    select
        message_id,
        arg_min(struct_pack(response_id, responded_at, response_kind),
                struct_pack(responded_at, preference, response_id)) as best
    from candidates
    group by message_id
),

final as (
    select
        message_id,
        best.response_id as response_interaction_id,
        best.responded_at,
        best.response_kind
    from first_response
)

select * from final;

-- grain: one row per inbound interaction awaiting an answer that has one in the warehouse now
CREATE OR REPLACE VIEW request_answer_matches AS
with requests as not materialized (
    select interaction_id, contact_id, occurred_at as received_at, external_id
    from tracking_interactions
    where direction = 'inbound' and awaits_answer and not is_auto_reply and contact_id is not null
),

marketing as (
    select message_id, smtp_message_id from tracking_messages where is_marketing
),

outbound_interactions as not materialized (
    -- a newsletter or appeal is not an answer; neither is our own autoresponder
    select i.interaction_id as answer_id, i.contact_id, i.channel, i.occurred_at,
           i.in_reply_to, i."references", 'interaction' as answer_source
    from tracking_interactions i
    anti join marketing m on m.message_id = i.message_id
    anti join marketing e on i.channel = 'email' and e.smtp_message_id = i.external_id
    where i.direction = 'outbound' and not i.is_auto_reply and i.contact_id is not null
),

recorded_sends as (
    -- sent messages that also came back as outbound interactions (delivery log, Sent folder)
    select message_id as recorded_id from tracking_interactions
    where direction = 'outbound' and message_id is not null
    union all
    select external_id from tracking_interactions
    where direction = 'outbound' and channel = 'email' and external_id is not null
),

unrecorded_sends as (
    select m.message_id as answer_id, m.contact_id, m.channel, m.sent_at as occurred_at,
           'message' as answer_source
    from tracking_messages m
    anti join recorded_sends r on r.recorded_id = m.message_id
    anti join recorded_sends s on m.channel = 'email' and s.recorded_id = m.smtp_message_id
    where m.sent_at is not null and not m.is_marketing and m.contact_id is not null
),

answers as (
    select answer_id, contact_id, channel, occurred_at, answer_source from outbound_interactions
    union all
    select answer_id, contact_id, channel, occurred_at, answer_source from unrecorded_sends
),

answer_instants as (
    -- one answer per contact and instant (the smallest id): an asof join picks among ties at random
    select contact_id, occurred_at,
           arg_min(struct_pack(answer_id, channel, answer_source), answer_id) as answer
    from answers
    group by contact_id, occurred_at
),

first_later as (
    select q.interaction_id, a.answer.answer_id, a.occurred_at as answered_at, a.answer.channel as answer_channel,
           a.answer.answer_source
    from requests q
    asof join answer_instants a on q.contact_id = a.contact_id and q.received_at < a.occurred_at
),

named_request_ids as (
    select answer_id, contact_id, channel, occurred_at, answer_source, in_reply_to as named_id
    from outbound_interactions
    where channel = 'email' and in_reply_to is not null
    union all
    select answer_id, contact_id, channel, occurred_at, answer_source, unnest("references") as named_id
    from outbound_interactions
    where channel = 'email' and len("references") > 0
),

threaded_early as (
    -- our mail naming their Message-ID answers it even when our clock says slightly earlier;
    -- only these can beat first_later, which is strictly after the request
    select
        q.interaction_id,
        arg_min(struct_pack(a.answer_id, a.occurred_at, a.channel, a.answer_source),
                struct_pack(a.occurred_at, a.answer_id)) as best
    from named_request_ids a
    join requests q on q.external_id = a.named_id and q.contact_id = a.contact_id
    where a.occurred_at <= q.received_at
      and a.occurred_at >= q.received_at - to_seconds((select reply_clock_skew_seconds from tracking_parameters))
    group by q.interaction_id
),

final as (
    select
        interaction_id,
        best.answer_id as answer_interaction_id,
        best.occurred_at as answered_at,
        best.channel as answer_channel,
        best.answer_source
    from threaded_early
    union all
    select f.*
    from first_later f
    anti join threaded_early t using (interaction_id)
)

select * from final;

-- grain: one row per inbound interaction awaiting an answer: when its SLA runs out on the
-- working_days calendar (what `legatura track` stores in request_deadlines with business hours on)
CREATE OR REPLACE VIEW request_deadline_matches AS
with requests as (
    select interaction_id, occurred_at as received_at
    from tracking_interactions
    where direction = 'inbound' and awaits_answer and not is_auto_reply
),

clock_at_receipt as (
    -- working seconds elapsed on the calendar's running clock when the request came in
    select
        q.interaction_id,
        q.received_at,
        c.worked_before_seconds
            + least(greatest(date_diff('second', c.starts_at, q.received_at), 0),
                    date_diff('second', c.starts_at, c.ends_at))
            + (select sla_seconds from tracking_parameters) as due_clock
    from requests q
    asof join working_days c on q.received_at >= c.starts_at
),

final as (
    select
        r.interaction_id,
        c.starts_at + to_seconds(r.due_clock - c.worked_before_seconds) as due_at
    from clock_at_receipt r
    asof join working_days c on r.due_clock > c.worked_before_seconds
    -- past the calendar's last day: no business deadline (plain hours apply)
    where r.due_clock <= c.worked_before_seconds + date_diff('second', c.starts_at, c.ends_at)
)

select * from final;

-- grain: one row per outbound message that was sent
CREATE OR REPLACE VIEW response_times AS
with sent as (
    select message_id, contact_id, channel, campaign, is_marketing, sent_at
    from messages
    where sent_at is not null
),

final as (
    select
        s.message_id,
        s.contact_id,
        s.channel,
        s.sent_at,
        r.responded_at,
        -- a reply whose clock runs early still answered after we sent: never negative
        case when r.responded_at is not null
             then greatest(date_diff('second', s.sent_at, r.responded_at), 0) end as response_seconds,
        r.response_interaction_id,   -- a donations.donation_id when response_kind = 'gift'
        r.response_kind,
        s.campaign,
        s.is_marketing
    from sent s
    left join message_responses r using (message_id)
)

select * from final;

-- grain: one row per inbound interaction that awaits an answer
CREATE OR REPLACE VIEW inbound_response_times AS
with requests as (
    select interaction_id, contact_id, channel, kind, occurred_at as received_at, address, subject, body
    from interactions
    where direction = 'inbound' and awaits_answer and not is_auto_reply
),

final as (
    select
        q.interaction_id,
        q.contact_id,
        q.channel,
        q.received_at,
        a.answered_at,
        case when a.answered_at is not null
             then greatest(date_diff('second', q.received_at, a.answered_at), 0) end as first_response_seconds,
        coalesce(a.answered_at, now()) > coalesce(d.due_at, q.received_at + to_seconds(p.sla_seconds))
            as sla_breached,
        coalesce(d.due_at, q.received_at + to_seconds(p.sla_seconds)) as sla_due_at,
        a.answer_interaction_id,   -- a messages.message_id when answer_source = 'message'
        a.answer_channel,
        a.answer_source,
        q.kind,
        q.address,
        q.subject,
        q.body
    from requests q
    left join request_answers a using (interaction_id)
    -- business-hours deadlines are stored by `legatura track`; otherwise (and for requests
    -- ingested since) the SLA is plain hours after receipt
    left join request_deadlines d using (interaction_id)
    cross join tracking_parameters p
)

select * from final;
