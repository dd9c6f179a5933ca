-- grain: one row per queued email / SMS that must no longer go out, with the contract's suppression reason.
-- Run before every claim: an opt-out, a hard bounce or an erasure recorded after compose still stops
-- the message. Marketing needs the address opted in (a `pending` double opt-in is no consent yet) and no
-- opt-out on any address of the contact on that channel; transactional mail respects opt-outs of its
-- own address, bounces and erasure.
UPDATE messages AS m
SET status = 'suppressed', suppression_reason = decided.reason, error = decided.detail
FROM (
    with queued as (
        select message_id, contact_id, channel, is_marketing,
               lower(trim(address)) as address,
               lower(trim(coalesce(consent_address, address))) as consent_address
        from messages
        where status = 'queued' and channel in ('email', 'sms')
    ),

    by_suppression as (
        select q.message_id,
               case when s.reason = 'erased' then 'erased' else 'bounced' end as reason,
               'the address is suppressed (' || s.reason || ', ' || coalesce(s.source, '?') || ')' as detail,
               case when s.reason = 'erased' then 1 else 2 end as priority
        from queued q
        join suppressions s on s.channel = q.channel and s.address = q.address
    ),

    by_own_opt_out as (
        select q.message_id, 'opted_out' as reason,
               'the address opted out (' || c.source || ')' as detail, 3 as priority
        from queued q
        join consents c on c.channel = q.channel and c.address = q.address and c.status = 'opted_out'
    ),

    by_contact_opt_out as (
        -- an opt-out on any address of a channel stops marketing on that channel
        select q.message_id, 'opted_out' as reason,
               'another address of the contact opted out (' || c.source || ')' as detail, 4 as priority
        from queued q
        join consents c on c.channel = q.channel and c.contact_id = q.contact_id and c.status = 'opted_out'
        where q.is_marketing
    ),

    by_missing_consent as (
        select q.message_id, 'no_consent' as reason,
               'marketing without an opt-in of the address (consent: ' || coalesce(c.status, 'none') || ')' as detail,
               5 as priority
        from queued q
        left join consents c on c.channel = q.channel and c.address = q.consent_address
        where q.is_marketing and coalesce(c.status, 'unknown') <> 'opted_in'
    ),

    final as (
        select message_id, arg_min(reason, priority) as reason, arg_min(detail, priority) as detail
        from (
            select * from by_suppression
            union all select * from by_own_opt_out
            union all select * from by_contact_opt_out
            union all select * from by_missing_consent
        )
        group by message_id
    )

    select * from final
) AS decided
WHERE m.message_id = decided.message_id AND m.status = 'queued';
