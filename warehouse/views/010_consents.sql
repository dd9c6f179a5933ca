-- grain: one row per (contact, channel, address): the latest explicit choice per address wins
-- Status 'pending' is a double opt-in awaiting its confirmation click: no marketing until then. Signing up
-- again never downgrades: a pending event after an opt-in (confirmed or not) is no change.
CREATE OR REPLACE VIEW consents AS
with previous as (
    select
        e.*,
        last_value(case when e.status <> 'pending' then e.status end ignore nulls) over (
            partition by e.channel, e.address order by e.recorded_at, e.event_id
            rows between unbounded preceding and 1 preceding
        ) as status_before
    from consent_events e
),

effective as (
    select * exclude (status_before)
    from previous
    where not (status = 'pending' and coalesce(status_before, '') = 'opted_in')
),

ranked as (
    select
        e.*,
        row_number() over (
            partition by e.channel, e.address
            order by e.recorded_at desc,
                     -- at the same instant an opt-out beats an opt-in: never contact by accident
                     case e.status when 'opted_out' then 0 when 'opted_in' then 1 else 2 end,
                     e.event_id
        ) as rn
    from effective e
),

final as (
    select
        i.contact_id,
        r.channel,
        r.address,
        r.status,
        r.recorded_at,
        r.source
    from ranked r
    left join contact_identities i
        on i.identity_value = r.address
       and i.identity_type = case r.channel when 'email' then 'email' else 'phone' end
    where r.rn = 1
)

select * from final;
