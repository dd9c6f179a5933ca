-- grain: one outbox row per row of compose_rendered: a chunk of rendered messages beside their decisions, or
-- the decisions suppressed before rendering (nothing rendered). A message whose rendering failed
-- (template_error, sms_too_long) is suppressed with that reason: no address, body or send time.
-- parameters: $campaign, $is_marketing, $batch (letters' printable batch, else NULL)
INSERT INTO messages (
    message_id, contact_id, campaign, channel, language, address, subject, body_text, body_html, is_marketing,
    status, send_after, consent_address, consent_source, consent_recorded_at, trigger_ref, batch, campaign_run,
    audience_segment, channel_reason, sms_segments, suppression_reason, error)
with decided as (
    select *, reason is not null as failed from compose_rendered
),

final as (
    select
        cast(uuid() as varchar) as message_id, contact_id, $campaign as campaign, channel, language,
        case when not failed then address end as address,
        case when not failed then subject end as subject,
        case when not failed then body_text end as body_text,
        case when not failed then body_html end as body_html,
        $is_marketing as is_marketing,
        case when failed then 'suppressed' else status end as status,
        case when not failed then send_after end as send_after,
        case when not failed then consent_address end as consent_address,
        case when not failed then consent_source end as consent_source,
        case when not failed then consent_recorded_at end as consent_recorded_at,
        trigger_ref,
        case when channel = 'letter' and status = 'queued' and not failed then $batch end as batch,
        campaign_run, audience_segment, channel_reason, sms_segments,
        coalesce(suppression_reason, reason) as suppression_reason,
        error
    from decided
)

select * from final
