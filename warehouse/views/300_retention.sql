-- Donor retention and recapture by fiscal year, the Fundraising Effectiveness Project's definitions,
-- counting gifts on or before the as-of date of the last segment run (segment_parameters).

-- grain: one row per fiscal year from the first gift's year to the as-of date's year
CREATE OR REPLACE VIEW donor_retention AS
with params as (
    select as_of, fiscal_year_start_month, this_year from segment_parameters
),

donor_years as (
    select distinct contact_id, fiscal_year from donor_gifts
),

-- each donor's years with the previous year they gave in
donor_history as (
    select
        contact_id,
        fiscal_year,
        lag(fiscal_year) over (partition by contact_id order by fiscal_year) as previous_gift_year
    from donor_years
),

years as (
    select unnest(generate_series(min(d.fiscal_year), any_value(p.this_year))) as fiscal_year
    from donor_years d
    cross join params p
),

yearly as (
    select
        y.fiscal_year,
        count(h.contact_id)                                                          as donors,
        count(h.contact_id) filter (where h.previous_gift_year is null)              as new_donors,
        count(h.contact_id) filter (where h.previous_gift_year = y.fiscal_year - 1)  as retained_donors,
        count(h.contact_id) filter (where h.previous_gift_year < y.fiscal_year - 1)  as recaptured_donors
    from years y
    left join donor_history h using (fiscal_year)
    group by y.fiscal_year
),

with_previous as (
    select
        *,
        coalesce(lag(donors) over by_year, 0)                                 as donors_last_year,
        -- donors of some year before last who did not give last year
        coalesce(sum(new_donors) over (by_year rows between unbounded preceding and 2 preceding), 0)
            - coalesce(lag(donors - new_donors) over by_year, 0)              as lapsed_donors
    from yearly
    window by_year as (order by fiscal_year)
),

final as (
    select
        w.fiscal_year,
        make_date(w.fiscal_year, p.fiscal_year_start_month, 1)                       as starts_on,
        cast(make_date(w.fiscal_year + 1, p.fiscal_year_start_month, 1) - 1 as date) as ends_on,
        -- the as-of year is counted to the as-of date only
        cast(make_date(w.fiscal_year + 1, p.fiscal_year_start_month, 1) - 1 as date) <= p.as_of
                                                                                     as is_complete,
        w.donors,
        w.new_donors,
        w.donors_last_year,
        w.retained_donors,
        round(w.retained_donors / nullif(w.donors_last_year, 0), 4)                  as retention_rate,
        w.lapsed_donors,
        w.recaptured_donors,
        round(w.recaptured_donors / nullif(w.lapsed_donors, 0), 4)                   as recapture_rate
    from with_previous w
    cross join params p
)

select * from final
order by fiscal_year;


-- grain: one row per fiscal year: lapsed donors (gave before last year, not last year) who gave again
CREATE OR REPLACE VIEW donor_recapture AS
select
    fiscal_year,
    starts_on,
    ends_on,
    is_complete,
    lapsed_donors,
    recaptured_donors,
    recapture_rate
from donor_retention;
