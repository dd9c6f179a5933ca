-- grain: one row per gift received in the trigger's look-back window (a thank-you per gift)
select d.contact_id, 'donation.received' as audience_segment, d.donation_id as trigger_ref,
       d.donated_at as trigger_at
from donations d, compose_params p
where d.contact_id is not null
  and d.amount > d.amount_refunded                      -- a fully refunded gift gets no thank-you
  and d.donated_at >= p.lookback_starts_at and d.donated_at < p.as_of_ends_at
