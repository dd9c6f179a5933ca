-- The outbox's idempotency keys: re-running a campaign for the same date, or a trigger firing again for
-- the same record, can never queue a second message (the insert of a duplicate fails, and compose only
-- inserts contacts with no row yet). NULL trigger_ref (scheduled campaigns) never collide.

-- grain: one message per (campaign run, contact) and one per (campaign, triggering record)
CREATE UNIQUE INDEX messages_run_contact ON messages (campaign_run, contact_id);
CREATE UNIQUE INDEX messages_campaign_trigger ON messages (campaign, trigger_ref);
