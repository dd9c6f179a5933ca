-- grain: one row per message claimed for delivery now (status queued -> sending, attempts + 1).
-- The Message-ID is given once, before the first SMTP transaction, and kept for retries and resends.
UPDATE messages
SET status = 'sending',
    attempts = attempts + 1,
    smtp_message_id = case when channel = 'email'
                           then coalesce(smtp_message_id, replace(gen_random_uuid()::varchar, '-', '') || '@' || $domain)
                           else smtp_message_id end
WHERE message_id IN (
    select message_id
    from messages
    where status = 'queued'
      and channel = $channel
      and coalesce(send_after, $now) <= $now
      and coalesce(next_attempt_at, $now) <= $now
      and ($campaign is null or campaign = $campaign)
    order by coalesce(next_attempt_at, send_after, queued_at), message_id
    limit $limit
)
RETURNING message_id, attempts, smtp_message_id, contact_id, campaign, channel, language, address,
          subject, body_text, body_html, is_marketing;
