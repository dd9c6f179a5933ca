-- grain: one row per (status, channel, language, suppression reason) of this run's decisions, a failed
-- rendering (compose_failed) counted as suppressed with its reason
with outcomes as (
    select case when f.reason is not null then 'suppressed' else d.status end as status,
           d.channel, d.language, coalesce(d.suppression_reason, f.reason) as suppression_reason
    from compose_decisions d
    left join compose_failed f using (decision_no)
),

final as (
    select status, channel, language, suppression_reason, count(*) as messages
    from outcomes
    group by all
)

select * from final order by all
