-- grain: one row per delivery outcome in the registered frame `outcomes` (one per message attempt).
-- Only a message still `sending` at that attempt changes: applying the same outcomes twice (a journal
-- replayed after a crash) changes nothing.
UPDATE messages AS m
SET status = case o.outcome when 'sent' then 'sent' when 'bounced' then 'bounced'
                            when 'retry' then 'queued' when 'requeued' then 'queued' else 'failed' end,
    sent_at = case when o.outcome = 'sent' then o.finished_at else m.sent_at end,
    attempts = case when o.outcome = 'requeued' then m.attempts - 1 else m.attempts end,
    error = o.error,
    next_attempt_at = o.next_attempt_at,
    gateway_sid = coalesce(o.gateway_sid, m.gateway_sid),
    sms_segments = coalesce(o.sms_segments, m.sms_segments),
    sms_price = coalesce(o.sms_price, m.sms_price),
    batch = coalesce(o.batch, m.batch)
FROM outcomes AS o
WHERE m.message_id = o.message_id AND m.status = 'sending' AND m.attempts = o.attempt;

INSERT OR IGNORE INTO delivery_attempts
SELECT message_id, attempt, channel, outcome, reply_code, left(reply_text, 500), finished_at
FROM outcomes
WHERE outcome <> 'requeued';

-- a recipient refused for good (5xx) is suppressed for every future message on that channel
INSERT OR IGNORE INTO suppressions (channel, address, reason, recorded_at, source)
SELECT channel, lower(trim(address)), 'hard_bounce', min(finished_at), 'send:' || min(message_id)
FROM outcomes
WHERE outcome = 'bounced' AND address IS NOT NULL
GROUP BY channel, lower(trim(address));
