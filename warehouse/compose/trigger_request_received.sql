-- grain: one row per inbound request awaiting an answer in the trigger's look-back window
select i.contact_id, 'request.received' as audience_segment, i.interaction_id as trigger_ref,
       i.occurred_at as trigger_at
from interactions i, compose_params p
where i.contact_id is not null and i.direction = 'inbound' and i.awaits_answer
  and i.occurred_at >= p.lookback_starts_at and i.occurred_at < p.as_of_ends_at
