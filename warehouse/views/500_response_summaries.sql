-- Response-time summaries for the report, the analyst and `legatura track`'s headline.
-- Months are calendar months in the organisation's time zone (settings 'timezone').

-- grain: one row per channel, campaign and month of sending (campaign NULL: messages outside campaigns)
CREATE OR REPLACE VIEW message_response_summary AS
with sent as (
    select
        r.*,
        cast(date_trunc('month', timezone(p.timezone, r.sent_at)) as date) as month
    from response_times r
    cross join tracking_parameters p
),

final as (
    select
        channel,
        campaign,
        month,
        count(*) as messages_sent,
        count(responded_at) as responses,
        count(*) filter (where response_kind = 'gift') as gift_responses,
        round(count(responded_at) / count(*), 4) as response_share,
        quantile_cont(response_seconds, 0.5) as median_response_seconds,
        quantile_cont(response_seconds, 0.9) as p90_response_seconds
    from sent
    group by channel, campaign, month
)

select * from final
order by month, channel, campaign;

-- grain: one row per channel and month received (requests awaiting an answer)
CREATE OR REPLACE VIEW request_response_summary AS
with requests as (
    select
        r.*,
        cast(date_trunc('month', timezone(p.timezone, r.received_at)) as date) as month
    from inbound_response_times r
    cross join tracking_parameters p
),

final as (
    select
        channel,
        month,
        count(*) as requests,
        count(answered_at) as answered,
        count(*) filter (where answered_at is not null and not sla_breached) as answered_within_sla,
        -- decided requests only: an open request still inside its SLA may yet make it
        round(count(*) filter (where answered_at is not null and not sla_breached)
              / nullif(count(*) filter (where answered_at is not null or sla_breached), 0), 4)
            as share_within_sla,
        count(*) filter (where answered_at is null) as open_requests,
        quantile_cont(first_response_seconds, 0.5) as median_first_response_seconds,
        quantile_cont(first_response_seconds, 0.9) as p90_first_response_seconds
    from requests
    group by channel, month
)

select * from final
order by month, channel;

-- grain: one row: the headline `legatura track` prints (all channels, all time)
CREATE OR REPLACE VIEW response_headline AS
with requests as (
    select
        count(*) as requests,
        count(answered_at) as answered,
        count(*) filter (where answered_at is not null and not sla_breached) as answered_within_sla,
        round(count(*) filter (where answered_at is not null and not sla_breached)
              / nullif(count(*) filter (where answered_at is not null or sla_breached), 0), 4)
            as share_within_sla,
        quantile_cont(first_response_seconds, 0.5) as median_first_response_seconds,
        quantile_cont(first_response_seconds, 0.9) as p90_first_response_seconds,
        count(*) filter (where answered_at is null) as open_requests,
        count(*) filter (where answered_at is null and sla_breached) as open_requests_breached,
        min(received_at) filter (where answered_at is null) as oldest_open_received_at
    from inbound_response_times
),

messages_sent as (
    select
        count(*) as messages_sent,
        count(responded_at) as messages_responded,
        quantile_cont(response_seconds, 0.5) as median_response_seconds
    from response_times
),

final as (
    select * from requests cross join messages_sent
)

select * from final;

-- grain: one row per request still waiting for an answer, oldest first: the morning worklist
CREATE OR REPLACE VIEW open_requests AS
with waiting as (
    select * from inbound_response_times where answered_at is null
),

final as (
    select
        w.received_at,
        c.full_name,
        coalesce(w.address, c.email, c.phone) as address,
        w.channel,
        date_diff('second', w.received_at, now()) as waiting_seconds,
        round(date_diff('second', w.received_at, now()) / 3600, 1) as waiting_hours,
        w.sla_due_at,
        w.sla_breached,
        w.subject,
        w.body,
        w.kind,
        w.contact_id,
        w.interaction_id
    from waiting w
    left join contacts c using (contact_id)
)

select * from final
order by received_at, interaction_id;

-- grain: one row per direction ('our_messages' | 'their_requests'), breakdown ('channel' |
-- 'campaign' | 'month') and value: medians do not add up, so each breakdown is computed whole
CREATE OR REPLACE VIEW response_time_breakdown AS
with ours as (
    select
        channel,
        coalesce(campaign, '(no campaign)') as campaign,
        strftime(timezone(p.timezone, sent_at), '%Y-%m') as month,
        response_seconds as seconds,
        cast(null as boolean) as within_sla,
        cast(null as boolean) as decided
    from response_times
    cross join tracking_parameters p
),

theirs as (
    select
        channel,
        strftime(timezone(p.timezone, received_at), '%Y-%m') as month,
        first_response_seconds as seconds,
        answered_at is not null and not sla_breached as within_sla,
        answered_at is not null or sla_breached as decided
    from inbound_response_times
    cross join tracking_parameters p
),

ours_by as (
    select
        'our_messages' as direction,
        case when grouping(channel) = 0 then 'channel'
             when grouping(campaign) = 0 then 'campaign'
             else 'month' end as breakdown,
        coalesce(channel, campaign, month) as value,
        count(*) as items,
        count(seconds) as responded,
        cast(null as double) as share_within_sla,
        quantile_cont(seconds, 0.5) as median_seconds,
        quantile_cont(seconds, 0.9) as p90_seconds
    from ours
    group by grouping sets ((channel), (campaign), (month))
),

theirs_by as (
    select
        'their_requests' as direction,
        case when grouping(channel) = 0 then 'channel' else 'month' end as breakdown,
        coalesce(channel, month) as value,
        count(*) as items,
        count(seconds) as responded,
        round(count(*) filter (where within_sla) / nullif(count(*) filter (where decided), 0), 4)
            as share_within_sla,
        quantile_cont(seconds, 0.5) as median_seconds,
        quantile_cont(seconds, 0.9) as p90_seconds
    from theirs
    group by grouping sets ((channel), (month))
),

final as (
    select * from ours_by
    union all
    select * from theirs_by
)

select * from final
order by direction, breakdown, value;
