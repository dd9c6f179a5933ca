-- Brings every warehouse to one schema. 001_core.sql and 005_tracking.sql were edited after they had
-- landed (commits 007b00e and 64d6958), so a warehouse created before those edits kept what the files
-- first said: PRIMARY KEY indexes on the big fact tables and on the two tracking result tables (which
-- make bulk loads and `legatura track` several times slower), and no request_deadlines table.
-- DuckDB cannot drop a key, so each of those tables is rebuilt in today's shape, its rows copied by
-- column name; on a warehouse already in today's shape the rebuild changes nothing but the file's layout.
-- Table and column comments come back from views/900_comments.sql, which every migrate re-applies.
-- Since 008, schema_migrations keeps each file's sha256 and a landed migration is never edited again.

-- grain: one row per event on any channel, both directions
CREATE TABLE interactions_008 (
    interaction_id VARCHAR NOT NULL,   -- '<channel>:<source key>'
    contact_id     BIGINT,
    channel        VARCHAR NOT NULL,      -- email | sms | social | form | event | volunteer | payment | ...
    direction      VARCHAR NOT NULL,      -- 'inbound' | 'outbound'
    kind           VARCHAR NOT NULL,      -- message | form_request | event_registration | ...
    occurred_at    TIMESTAMPTZ NOT NULL,
    subject        VARCHAR,
    body           VARCHAR,
    external_id    VARCHAR,               -- Message-ID, MessageSid, ...
    thread_ref     VARCHAR,
    in_reply_to    VARCHAR,
    "references"   VARCHAR[],
    is_auto_reply  BOOLEAN NOT NULL DEFAULT false,
    awaits_answer  BOOLEAN NOT NULL DEFAULT false,
    campaign       VARCHAR,
    message_id     VARCHAR,               -- for outbound interactions we sent: messages.message_id
    address        VARCHAR,               -- the counterpart's email / phone as seen
    source_file    VARCHAR,
    source_line    VARCHAR,
    ingested_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO interactions_008 BY NAME SELECT * FROM interactions;
DROP TABLE interactions;
ALTER TABLE interactions_008 RENAME TO interactions;

-- grain: one row per gift; refunds reduce it (amount_refunded), never a row of their own
CREATE TABLE donations_008 (
    donation_id      VARCHAR NOT NULL,   -- 'stripe:ch_…', 'paypal:<txn>'
    contact_id       BIGINT,
    amount           DECIMAL(18,2) NOT NULL,
    amount_refunded  DECIMAL(18,2) NOT NULL DEFAULT 0,
    currency         VARCHAR NOT NULL,      -- ISO 4217, upper-case
    amount_base      DECIMAL(18,2),         -- amount in base currency
    net_amount_base  DECIMAL(18,2),         -- (amount − amount_refunded) in base currency
    donated_at       TIMESTAMPTZ NOT NULL,
    method           VARCHAR,               -- card | paypal | ...
    recurring        BOOLEAN NOT NULL DEFAULT false,
    campaign         VARCHAR,
    source           VARCHAR NOT NULL,      -- stripe | paypal | <mapping name>
    external_id      VARCHAR,
    source_file      VARCHAR,
    source_line      VARCHAR,
    ingested_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO donations_008 BY NAME SELECT * FROM donations;
DROP TABLE donations;
ALTER TABLE donations_008 RENAME TO donations;

-- grain: one row per refund seen; folded into donations.amount_refunded
CREATE TABLE donation_refunds_008 (
    refund_id     VARCHAR NOT NULL,
    donation_id   VARCHAR NOT NULL,
    amount        DECIMAL(18,2) NOT NULL,   -- positive
    currency      VARCHAR,
    refunded_at   TIMESTAMPTZ,
    cumulative    BOOLEAN NOT NULL DEFAULT false,  -- true: amount is the running total (Stripe's Amount Refunded)
    source_file   VARCHAR,
    ingested_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO donation_refunds_008 BY NAME SELECT * FROM donation_refunds;
DROP TABLE donation_refunds;
ALTER TABLE donation_refunds_008 RENAME TO donation_refunds;

-- grain: one row per volunteer shift
CREATE TABLE volunteer_shifts_008 (
    shift_id     VARCHAR NOT NULL,
    contact_id   BIGINT,
    started_at   TIMESTAMPTZ NOT NULL,
    hours        DECIMAL(8,2) NOT NULL,
    activity     VARCHAR,
    source_file  VARCHAR,
    source_line  VARCHAR,
    ingested_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO volunteer_shifts_008 BY NAME SELECT * FROM volunteer_shifts;
DROP TABLE volunteer_shifts;
ALTER TABLE volunteer_shifts_008 RENAME TO volunteer_shifts;

-- grain: one row per consent change seen (history); `consents` shows the current state
CREATE TABLE consent_events_008 (
    event_id     VARCHAR NOT NULL,
    channel      VARCHAR NOT NULL,      -- 'email' | 'sms' | ...
    address      VARCHAR NOT NULL,      -- normalised email or E.164 phone
    status       VARCHAR NOT NULL,      -- 'opted_in' | 'opted_out' | 'unknown'
    recorded_at  TIMESTAMPTZ NOT NULL,
    source       VARCHAR NOT NULL,      -- e.g. 'mailchimp', 'forms', 'twilio:STOP', 'unsubscribe'
    source_file  VARCHAR,
    ingested_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO consent_events_008 BY NAME SELECT * FROM consent_events;
DROP TABLE consent_events;
ALTER TABLE consent_events_008 RENAME TO consent_events;

-- grain: one row per outbound message that got a response (filled by `legatura track`)
CREATE TABLE message_responses_008 (
    message_id              VARCHAR NOT NULL,
    response_interaction_id VARCHAR NOT NULL,   -- donations.donation_id when response_kind = 'gift'
    responded_at            TIMESTAMPTZ NOT NULL,
    response_kind           VARCHAR             -- 'reply' | 'same_channel' | 'gift'
);
INSERT INTO message_responses_008 BY NAME SELECT * FROM message_responses;
DROP TABLE message_responses;
ALTER TABLE message_responses_008 RENAME TO message_responses;

-- grain: one row per inbound interaction that got an answer (filled by `legatura track`)
CREATE TABLE request_answers_008 (
    interaction_id        VARCHAR NOT NULL,
    answer_interaction_id VARCHAR NOT NULL,   -- messages.message_id when answer_source = 'message'
    answered_at           TIMESTAMPTZ NOT NULL,
    answer_channel        VARCHAR,
    answer_source         VARCHAR             -- 'interaction' | 'message' (a sent message no interaction records)
);
INSERT INTO request_answers_008 BY NAME SELECT * FROM request_answers;
DROP TABLE request_answers;
ALTER TABLE request_answers_008 RENAME TO request_answers;

-- grain: one row per request awaiting an answer, with its business-hours SLA deadline (005 added it
-- only from 007b00e on)
CREATE TABLE IF NOT EXISTS request_deadlines (
    interaction_id VARCHAR NOT NULL,
    due_at         TIMESTAMPTZ NOT NULL
);
