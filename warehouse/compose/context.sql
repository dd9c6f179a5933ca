-- grain: one row per message to render (compose_decisions, status 'queued'): every variable its templates use
with todo as (
    select * from compose_decisions where status = 'queued'
),

ids as (
    select distinct contact_id from todo
),

gifts as (
    select d.contact_id, d.donation_id, d.donated_at, d.currency, d.net_amount_base, d.campaign,
           cast(timezone(p.timezone, d.donated_at) as date) as gift_date,
           d.amount - d.amount_refunded as amount
    from donations d, compose_params p
    where d.contact_id in (select contact_id from ids)
      and d.net_amount_base > 0 and d.donated_at < p.as_of_ends_at
),

giving as (
    select g.contact_id,
           arg_max(struct_pack(amount := g.amount, currency := g.currency, date := g.gift_date,
                               campaign := g.campaign), g.donated_at) as last_gift,
           count(*) as gift_count,
           min(g.gift_date) as first_gift_date,
           coalesce(sum(g.net_amount_base) filter (where g.donated_at >= p.this_year_starts_at), 0) as total_this_year,
           sum(g.net_amount_base) as total_all_time
    from gifts g, compose_params p
    group by g.contact_id
),

-- last year's gifts one by one, for an annual statement (only when the campaign asks)
statements as (
    select g.contact_id,
           struct_pack(year := year(min(g.gift_date)),
                       gifts := list(struct_pack(amount := g.amount, currency := g.currency, date := g.gift_date,
                                                 campaign := g.campaign) order by g.donated_at, g.donation_id),
                       total := sum(g.net_amount_base), currency := any_value(p.base_currency)) as statement
    from gifts g, compose_params p
    where p.statement and g.donated_at >= p.last_year_starts_at and g.donated_at < p.this_year_starts_at
    group by g.contact_id
),

shifts as (
    select s.contact_id, s.shift_id, s.started_at, s.hours, s.activity,
           cast(timezone(p.timezone, s.started_at) as date) as shift_date
    from volunteer_shifts s, compose_params p
    where s.contact_id in (select contact_id from ids) and s.started_at < p.as_of_ends_at
),

volunteering as (
    select s.contact_id,
           coalesce(sum(s.hours) filter (where s.started_at >= p.this_year_starts_at), 0) as hours_this_year,
           count(*) as shift_count,
           arg_max(struct_pack(date := s.shift_date, activity := s.activity, hours := s.hours), s.started_at)
               as last_shift,
           mode(s.activity) as main_activity
    from shifts s, compose_params p
    group by s.contact_id
),

-- the organisation's agreement (or the liaison's): the one covering the as-of date first, else the latest
partner_rows as (
    select pa.contact_id as who, pa.* from partners pa where pa.contact_id in (select contact_id from ids)
    union all
    select pa.liaison_contact_id as who, pa.* from partners pa
    where pa.liaison_contact_id in (select contact_id from ids)
),

partner as (
    select r.who as contact_id,
           struct_pack(id := r.partner_id, name := r.partner_name, type := r.partner_type, stage := r.stage,
                       objectives := r.objectives, contributions := r.contributions,
                       responsibilities := r.responsibilities, starts_on := r.starts_on, ends_on := r.ends_on,
                       liaison := r.liaison, cooperation_mechanism := r.cooperation_mechanism,
                       benefit_sharing := r.benefit_sharing) as partner
    from partner_rows r, compose_params p
    qualify row_number() over (
        partition by r.who
        order by (coalesce(r.starts_on, p.as_of) <= p.as_of and coalesce(r.ends_on, p.as_of) >= p.as_of) desc,
                 r.starts_on desc nulls last, r.partner_id) = 1
),

memberships as (
    select contact_id, list(segment order by segment) as segments
    from segment_membership
    where contact_id in (select contact_id from ids)
    group by contact_id
),

final as (
    select
        t.decision_no, t.contact_id, t.trigger_ref, t.channel, t.language, t.address,
        c.full_name, c.kind, p.base_currency,
        g.last_gift, g.gift_count, g.first_gift_date, g.total_this_year, g.total_all_time,
        v.hours_this_year, v.shift_count, v.last_shift, v.main_activity,
        pr.partner, m.segments, st.statement,
        case when d.donation_id is not null then struct_pack(
            amount := d.amount - d.amount_refunded, currency := d.currency,
            date := cast(timezone(p.timezone, d.donated_at) as date), campaign := d.campaign) end as trigger_gift,
        case when sh.shift_id is not null then struct_pack(
            date := cast(timezone(p.timezone, sh.started_at) as date), activity := sh.activity,
            hours := sh.hours) end as trigger_shift,
        case when t.channel = 'letter' then t.address end as postal_address
    from todo t
    cross join compose_params p
    join contacts c using (contact_id)
    left join giving g using (contact_id)
    left join volunteering v using (contact_id)
    left join partner pr using (contact_id)
    left join memberships m using (contact_id)
    left join statements st using (contact_id)
    left join donations d on t.audience_segment = 'donation.received' and d.donation_id = t.trigger_ref
    left join volunteer_shifts sh on t.audience_segment = 'volunteer.first_shift' and sh.shift_id = t.trigger_ref
)

select * from final order by decision_no
