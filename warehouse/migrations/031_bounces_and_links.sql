-- Bounces that arrive later (delivery status notifications on ingest) and the links people click
-- (unsubscribe, confirm a sign-up): each kept as a fact, applied to messages, consents and suppressions.

-- grain: one row per bounce report (an inbound email interaction of kind bounce / soft_bounce)
CREATE TABLE bounce_events (
    interaction_id  VARCHAR PRIMARY KEY,   -- the bounce report in interactions
    message_id      VARCHAR,               -- the message it bounced (NULL: no sent message matched)
    address         VARCHAR,               -- the recipient that failed
    severity        VARCHAR NOT NULL,      -- 'hard' | 'soft'
    matched_by      VARCHAR,               -- 'message_id' | 'recipient' | NULL
    occurred_at     TIMESTAMPTZ NOT NULL,
    applied_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- the message whose signed link recorded a consent change (unsubscribe, confirmation)
ALTER TABLE consent_events ADD COLUMN message_id VARCHAR;
