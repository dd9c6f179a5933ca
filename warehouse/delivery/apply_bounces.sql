-- Bounce reports ingested since the last run (interactions of kind bounce / soft_bounce not yet in
-- bounce_events) -> bounce_events, the message they bounce marked `bounced`, hard-bounced addresses
-- suppressed, soft-bounced ones suppressed once they reach smtp.soft_bounce_limit (settings table).

-- grain: one row per new bounce report
CREATE OR REPLACE TEMP TABLE new_bounces AS
with reports as (
    select i.interaction_id, i.in_reply_to, lower(trim(i.address)) as address, i.kind, i.occurred_at
    from interactions i
    where i.channel = 'email' and i.kind in ('bounce', 'soft_bounce')
      and not exists (select 1 from bounce_events b where b.interaction_id = i.interaction_id)
),

by_message_id as (
    -- the report returns our Message-ID: the surest match
    select r.interaction_id, m.message_id, lower(trim(m.address)) as address
    from reports r
    join messages m on m.channel = 'email' and m.smtp_message_id = r.in_reply_to
),

by_recipient as (
    -- else the latest message sent to the failed recipient before the report came
    select r.interaction_id, arg_max(m.message_id, m.sent_at) as message_id
    from reports r
    join messages m
      on m.channel = 'email' and lower(trim(m.address)) = r.address
     and m.sent_at is not null and m.sent_at <= r.occurred_at + interval 1 day
    where r.address is not null
      and r.interaction_id not in (select interaction_id from by_message_id)
    group by r.interaction_id
),

final as (
    select
        r.interaction_id,
        coalesce(i.message_id, a.message_id) as message_id,
        coalesce(r.address, i.address) as address,
        case r.kind when 'bounce' then 'hard' else 'soft' end as severity,
        case when i.message_id is not null then 'message_id'
             when a.message_id is not null then 'recipient' end as matched_by,
        r.occurred_at
    from reports r
    left join by_message_id i using (interaction_id)
    left join by_recipient a using (interaction_id)
)

select * from final;

INSERT INTO bounce_events (interaction_id, message_id, address, severity, matched_by, occurred_at)
SELECT interaction_id, message_id, address, severity, matched_by, occurred_at FROM new_bounces;

-- a bounce proves the message was handed over: a sent (or unknown-fate) message becomes bounced
UPDATE messages AS m
SET status = 'bounced',
    error = 'bounced later (' || n.severity || ' bounce, report ' || n.interaction_id || ')'
FROM new_bounces AS n
WHERE m.message_id = n.message_id AND m.status IN ('sent', 'failed');

INSERT OR IGNORE INTO suppressions (channel, address, reason, recorded_at, source)
SELECT 'email', address, 'hard_bounce', min(occurred_at), 'bounce:' || min(interaction_id)
FROM new_bounces
WHERE severity = 'hard' AND address IS NOT NULL
GROUP BY address;

INSERT OR IGNORE INTO suppressions (channel, address, reason, recorded_at, source)
SELECT 'email', address, 'soft_bounce_limit', max(occurred_at), 'bounce:' || count(*) || ' soft bounces'
FROM bounce_events
WHERE severity = 'soft' AND address IS NOT NULL
  AND address IN (SELECT address FROM new_bounces WHERE severity = 'soft')
GROUP BY address
HAVING count(*) >= (SELECT coalesce(max(cast(value AS INTEGER)), 3) FROM settings WHERE key = 'soft_bounce_limit');
