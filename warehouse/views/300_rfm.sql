-- RFM scores on every donor, as of the last segment run (segment_parameters).

-- grain: one row per donor: recency, frequency and monetary scores 1-5 (5 = best)
CREATE OR REPLACE VIEW donor_rfm AS
with measures as (
    select
        contact_id,
        last_gift_on,
        days_since_last_gift,
        gifts_last_36_months,
        given_last_36_months_base
    from donor_measures
),

-- quintiles of the percent rank over the donors of the last 36 months: equal donors share a score
-- (ntile() would split e.g. the many one-gift donors arbitrarily), the best donor scores 5.
scored as (
    select
        contact_id,
        least(5, 1 + floor(5 * percent_rank() over (order by last_gift_on)))                as recency_score,
        least(5, 1 + floor(5 * percent_rank() over (order by gifts_last_36_months)))        as frequency_score,
        least(5, 1 + floor(5 * percent_rank() over (order by given_last_36_months_base)))   as monetary_score
    from measures
    where gifts_last_36_months > 0
),

final as (
    select
        m.contact_id,
        m.last_gift_on,
        m.days_since_last_gift                          as recency_days,
        m.gifts_last_36_months                          as frequency,
        m.given_last_36_months_base                     as monetary_base,
        -- donors with no gift in 36 months rank below every scored donor
        cast(coalesce(s.recency_score, 1) as integer)   as recency_score,
        cast(coalesce(s.frequency_score, 1) as integer) as frequency_score,
        cast(coalesce(s.monetary_score, 1) as integer)  as monetary_score,
        s.contact_id is not null                        as scored_in_window
    from measures m
    left join scored s using (contact_id)
)

select
    *,
    concat(recency_score, frequency_score, monetary_score) as rfm_cell
from final;
