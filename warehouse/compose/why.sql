-- grain: one row per message (queued, sent or suppressed) of one contact: what was decided and why
-- parameters: $1 contact_id, $2 campaign (NULL: every campaign)
select
    m.campaign, m.campaign_run, m.status, m.channel, m.language, m.address, m.audience_segment, m.trigger_ref,
    m.channel_reason, m.consent_address, m.consent_source, m.consent_recorded_at, m.suppression_reason,
    m.error, m.send_after, m.queued_at, m.sent_at, m.is_marketing, m.sms_segments, m.batch
from messages m
where m.contact_id = $1 and ($2::VARCHAR is null or m.campaign = $2)
order by m.queued_at, m.campaign_run
