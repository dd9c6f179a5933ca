-- The outbox stores its message bodies with zstd: a campaign's bodies are alike (the same layout and inlined
-- CSS in every body_html), zstd packs them about 4x tighter than DuckDB's automatic choice, and the
-- checkpoint after compose no longer analyses every compression method over hundreds of MB of HTML.
-- DuckDB sets a column's compression only when it is created, and an index blocks dropping a column, so
-- the table is rebuilt: the same columns in the same order, types, defaults and keys; every row kept.

-- grain: one row per message in the outbox and its history (as 001_core, 020, 030)
CREATE TABLE messages_032 (
    message_id          VARCHAR PRIMARY KEY,
    contact_id          BIGINT,
    campaign            VARCHAR,
    channel             VARCHAR NOT NULL,
    language            VARCHAR,
    address             VARCHAR,
    subject             VARCHAR,
    body_text           VARCHAR USING COMPRESSION zstd,
    body_html           VARCHAR USING COMPRESSION zstd,
    is_marketing        BOOLEAN NOT NULL DEFAULT true,
    status              VARCHAR NOT NULL,
    queued_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at             TIMESTAMPTZ,
    smtp_message_id     VARCHAR,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error               VARCHAR,
    suppression_reason  VARCHAR,
    send_after          TIMESTAMPTZ,
    consent_address     VARCHAR,
    consent_source      VARCHAR,
    consent_recorded_at TIMESTAMPTZ,
    trigger_ref         VARCHAR,
    batch               VARCHAR,
    campaign_run        VARCHAR,
    audience_segment    VARCHAR,
    channel_reason      VARCHAR,
    next_attempt_at     TIMESTAMPTZ,
    sms_segments        INTEGER,
    gateway_sid         VARCHAR,
    sms_price           VARCHAR
);

INSERT INTO messages_032 SELECT * FROM messages;
DROP INDEX messages_run_contact;
DROP INDEX messages_campaign_trigger;
DROP TABLE messages;
ALTER TABLE messages_032 RENAME TO messages;

-- grain: one message per (campaign run, contact) and one per (campaign, triggering record) (as 023)
CREATE UNIQUE INDEX messages_run_contact ON messages (campaign_run, contact_id);
CREATE UNIQUE INDEX messages_campaign_trigger ON messages (campaign, trigger_ref);
