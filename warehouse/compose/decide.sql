-- Who gets what: every audience member's channel, address and the consent that allows it, or the one
-- reason that stops them (DESIGN: Consent, Frequency cap, Channel choice). Reads compose_params and
-- compose_audience; leaves compose_decisions. Statements run in order, one per `;` line end.

-- grain: one row per audience contact's address on a channel (email, sms: identities; letter: postal)
CREATE OR REPLACE TEMP TABLE compose_addresses AS
with contacts_in as (
    select distinct contact_id from compose_audience
),

electronic as (
    select i.contact_id,
           case i.identity_type when 'email' then 'email' else 'sms' end as channel,
           i.identity_value as address,
           coalesce(i.identity_value = c.email, false) or coalesce(i.identity_value = c.phone, false) as is_primary
    from contact_identities i
    join contacts_in using (contact_id)
    join contacts c using (contact_id)
    where i.identity_type in ('email', 'phone')
),

postal as (
    select pa.contact_id, 'letter' as channel, pa.postal_address as address, true as is_primary
    from postal_addresses pa
    join contacts_in using (contact_id)
),

-- the latest explicit choice per address (the consents view) and whether it hard-bounced
final as (
    select a.*, k.status as consent_status, k.recorded_at as consent_recorded_at, k.source as consent_source,
           s.address is not null as bounced
    from (select * from electronic union all select * from postal) a
    left join consents k on k.channel = a.channel and k.address = a.address
    left join (select distinct channel, address from suppressions where reason <> 'erased') s
        on s.channel = a.channel and s.address = a.address
)

select * from final;

-- grain: one row per audience contact and offered channel: the address allowed, or why none is
CREATE OR REPLACE TEMP TABLE compose_channel_status AS
with params as (
    select * from compose_params
),

offered as (
    select a.contact_id, o.channel, list_position(o.channels, o.channel) as position
    from (select distinct contact_id from compose_audience) a,
         (select unnest(channels) as channel, channels from compose_params) o
),

-- an opt-out on any address of a channel stops it until an opt-in given later
judged as (
    select a.*,
           max(case when consent_status = 'opted_out' then consent_recorded_at end)
               over (partition by contact_id, channel) as last_opt_out_at
    from compose_addresses a
),

usable as (
    select *, consent_status = 'opted_in'
              and (last_opt_out_at is null or consent_recorded_at > last_opt_out_at) as opted_in_now
    from judged
),

-- the address whose consent allows the message: the primary one first, else the latest opt-in
consented as (
    select contact_id, channel, address, consent_source, consent_recorded_at
    from usable
    where opted_in_now and not bounced
    qualify row_number() over (partition by contact_id, channel
                               order by is_primary desc, consent_recorded_at desc, address) = 1
),

-- no opt-in needed (transactional, letters): the primary address first, never a bounced one
fallback as (
    select contact_id, channel, address
    from usable
    where not bounced and coalesce(consent_status, 'unknown') <> 'opted_out'
    qualify row_number() over (partition by contact_id, channel order by is_primary desc, address) = 1
),

summary as (
    select contact_id, channel, count(*) as addresses, bool_or(opted_in_now) as any_opted_in,
           max(last_opt_out_at) as last_opt_out_at
    from usable
    group by contact_id, channel
),

final as (
    select
        o.contact_id, o.channel, o.position,
        case
            when coalesce(s.addresses, 0) = 0 then 'no_address'
            when c.address is not null then null
            when s.any_opted_in then 'bounced'
            when s.last_opt_out_at is not null then 'opted_out'
            when o.channel = 'letter' or not p.is_marketing then
                case when f.address is null then 'bounced' end
            else 'no_consent'
        end as reason,
        case when reason is null then coalesce(c.address, f.address) end as address,
        case when reason is null then c.consent_source end as consent_source,
        case when reason is null then c.consent_recorded_at end as consent_recorded_at,
        s.last_opt_out_at
    from offered o
    cross join params p
    left join summary s using (contact_id, channel)
    left join consented c using (contact_id, channel)
    left join fallback f using (contact_id, channel)
)

select * from final;

-- grain: one row per audience contact erased (GDPR), by contact or by any of their addresses
CREATE OR REPLACE TEMP TABLE compose_erased AS
select distinct contact_id from (
    select e.contact_id from erasures e where e.contact_id is not null
    union all
    select i.contact_id from contact_identities i join erasures e on e.identity_value = i.identity_value
    union all
    select i.contact_id from contact_identities i
    join suppressions s on s.address = i.identity_value and s.reason = 'erased'
)
where contact_id in (select contact_id from compose_audience);

-- grain: one row per audience contact with 3+ inbound events: the local hour (and weekday) they write at
CREATE OR REPLACE TEMP TABLE compose_best_hours AS
with events as (
    select i.contact_id, timezone(p.timezone, i.occurred_at) as local_at
    from interactions i, compose_params p
    where i.direction = 'inbound' and not i.is_auto_reply
      and i.channel in ('email', 'sms', 'social', 'form')
      and i.contact_id in (select contact_id from compose_audience)
),

enough as (
    select contact_id from events group by contact_id having count(*) >= (select min_events from compose_params)
),

hours as (
    select contact_id, hour(local_at) as best_hour, count(*) as n, max(local_at) as latest
    from events
    where contact_id in (select contact_id from enough)
    group by contact_id, best_hour
),

best_hour as (
    select contact_id, best_hour from hours
    qualify row_number() over (partition by contact_id order by n desc, latest desc) = 1
),

-- a weekday only when it repeats at that hour; else the next day at that hour
best_day as (
    select e.contact_id, isodow(e.local_at) as best_dow
    from events e
    join best_hour b on b.contact_id = e.contact_id and hour(e.local_at) = b.best_hour
    group by e.contact_id, best_dow
    having count(*) >= 2
    qualify row_number() over (partition by e.contact_id order by count(*) desc, max(e.local_at) desc) = 1
)

select b.contact_id, b.best_hour, d.best_dow
from best_hour b
left join best_day d using (contact_id);

-- grain: one row per audience member (contact, triggering record): queued on one channel, or suppressed
CREATE OR REPLACE TEMP TABLE compose_decisions AS
with params as (
    select * from compose_params
),

last_inbound as (
    select contact_id, arg_max(channel, occurred_at) as channel
    from interactions
    where direction = 'inbound' and channel in ('email', 'sms')
      and contact_id in (select contact_id from compose_audience)
    group by contact_id
),

-- preferred if offered and allowed, else the channel they last wrote on, else the first allowed
chosen as (
    select s.*,
           case when s.channel = c.preferred_channel then 'preferred'
                when s.channel = li.channel then 'last_used'
                else 'first_allowed' end as channel_reason
    from compose_channel_status s
    join contacts c using (contact_id)
    left join last_inbound li using (contact_id)
    where s.reason is null
    qualify row_number() over (partition by s.contact_id order by coalesce(s.channel = c.preferred_channel, false) desc,
                                                                    coalesce(s.channel = li.channel, false) desc,
                                                                    s.position) = 1
),

-- nothing allowed: the strongest reason (opted_out, bounced, no_consent, no_address), first channel first
blocked as (
    select contact_id,
           arg_min(reason, rank) as reason,
           arg_min(channel, rank) as channel,
           string_agg(channel || ': ' || reason || coalesce(' since ' || strftime(last_opt_out_at, '%Y-%m-%d %H:%M UTC'), ''),
                      '; ' order by position) as details
    from (select *, (case reason when 'opted_out' then 1 when 'bounced' then 2 when 'no_consent' then 3 else 4 end)
                    * 10 + position as rank
          from compose_channel_status where reason is not null)
    group by contact_id
),

recent as (
    select m.contact_id, count(*) as marketing_messages
    from messages m, params p
    where m.is_marketing and m.status in ('queued', 'sending', 'sent')
      and coalesce(m.sent_at, m.send_after, m.queued_at) > p.window_starts_at
      and m.contact_id in (select contact_id from compose_audience)
    group by m.contact_id
),

decided as (
    select
        a.contact_id, a.audience_segment, a.trigger_ref, a.trigger_at, a.campaign_run,
        case when e.contact_id is not null then 'erased'
             when ch.contact_id is null then b.reason
             when p.is_marketing and coalesce(r.marketing_messages, 0) >= p.frequency_cap then 'frequency_cap'
        end as suppression_reason,
        coalesce(ch.channel, b.channel, p.channels[1]) as channel,
        case
            when e.contact_id is not null then 'erased: an erasure request covers this person'
            when ch.contact_id is null then b.details
            when suppression_reason = 'frequency_cap' then
                'frequency_cap: ' || r.marketing_messages || ' marketing message(s) in the last '
                || p.frequency_window_days || ' days (cap ' || p.frequency_cap || ')'
            else ch.channel_reason
        end as channel_reason,
        ch.address, ch.consent_source, ch.consent_recorded_at,
        case when list_contains(p.languages, c.language) then c.language
             when list_contains(p.languages, p.default_language) then p.default_language
             else p.languages[1] end as language,
        bh.best_hour, bh.best_dow
    from compose_audience a
    cross join params p
    join contacts c using (contact_id)
    left join compose_erased e using (contact_id)
    left join chosen ch using (contact_id)
    left join blocked b using (contact_id)
    left join recent r using (contact_id)
    left join compose_best_hours bh using (contact_id)
),

-- when it may go: transactional and letters at once (after a trigger's delay); marketing at the
-- contact's best hour, else the configured time or window
timed as (
    select d.*,
        cast(p.local_run as date) as day0,
        day0 + cast(case when d.best_dow is null then 0 else (d.best_dow - isodow(day0) + 7) % 7 end as integer)
            + to_hours(coalesce(d.best_hour, 0)) as best_local,
        case
            when d.suppression_reason is not null then null
            when not p.is_marketing or d.channel = 'letter' then
                greatest(coalesce(d.trigger_at + p.delay, p.run_at), p.run_at)
            when p.send_time = 'now' then p.run_at
            when p.send_time = 'fixed' then p.fixed_send_at
            when d.best_hour is not null then timezone(p.timezone,
                case when best_local >= p.local_run then best_local
                     when d.best_dow is null then best_local + interval 1 day
                     else best_local + interval 7 day end)
            else p.window_send_at
        end as send_after
    from decided d
    cross join params p
),

final as (
    select
        row_number() over (order by contact_id, trigger_ref) as decision_no,
        contact_id, audience_segment, trigger_ref, campaign_run, channel, channel_reason, language,
        case when suppression_reason is null then 'queued' else 'suppressed' end as status,
        suppression_reason,
        case when suppression_reason is null then address end as address,
        case when suppression_reason is null then consent_source end as consent_source,
        case when suppression_reason is null then consent_recorded_at end as consent_recorded_at,
        -- the address whose opt-in allowed it (none for a letter or a transactional message without one)
        case when suppression_reason is null and consent_source is not null then address end as consent_address,
        send_after,
        case when best_hour is not null and (select send_time from compose_params) = 'best'
             then 'best_hour' end as send_time_basis
    from timed
)

select * from final;
