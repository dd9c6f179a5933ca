-- grain: one row per email address awaiting a double opt-in confirmation that has not been asked yet:
-- a transactional message with the %%CONFIRM_URL%% link (texts per language in the registered frame
-- `confirmation_texts`). A person who signs up again while pending is asked again at most once a day.
INSERT INTO messages (message_id, contact_id, campaign, channel, language, address, subject, body_text,
                      body_html, is_marketing, status, send_after, trigger_ref, campaign_run, channel_reason)
with pending as (
    select c.contact_id, c.address, e.event_id, e.recorded_at
    from consents c
    join consent_events e
      on e.channel = c.channel and e.address = c.address and e.status = 'pending' and e.recorded_at = c.recorded_at
    where c.channel = 'email' and c.status = 'pending'
),

not_asked as (
    select p.*
    from pending p
    where not exists (
        select 1 from messages m
        where m.campaign = 'confirm_subscription' and m.channel = 'email' and m.address = p.address
          and (m.trigger_ref = p.event_id or m.queued_at > now() - interval 1 day)
    )
),

final as (
    select distinct on (n.address)
        'confirm:' || md5(n.event_id) as message_id,
        n.contact_id,
        'confirm_subscription' as campaign,
        'email' as channel,
        t.language,
        n.address,
        t.subject,
        t.body_text,
        t.body_html,
        false as is_marketing,
        'queued' as status,
        now() as send_after,
        n.event_id as trigger_ref,
        'confirm_subscription#' || n.event_id as campaign_run,
        'double_opt_in' as channel_reason
    from not_asked n
    left join contacts k on k.contact_id = n.contact_id
    join confirmation_texts t
      on t.language = case when coalesce(k.language, $default_language) in (select language from confirmation_texts)
                           then coalesce(k.language, $default_language) else 'en' end
    order by n.address, n.recorded_at desc
)

select * from final;
