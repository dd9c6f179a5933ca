-- Response-time tracking: result tables `legatura track` can rewrite cheaply, the working
-- calendar for business-hours SLAs, and the tracking settings the views read.

-- message_responses and request_answers lose their PRIMARY KEY: only `legatura track` writes
-- them, recomputing every row from the matches views (one row per key by construction), and
-- DuckDB's key index makes replacing many rows very slow (1.5M rows: ~30 s CPU to delete).

-- grain: one row per outbound message that got a response (filled by `legatura track`)
ALTER TABLE message_responses RENAME TO message_responses_001;
CREATE TABLE message_responses (
    message_id              VARCHAR NOT NULL,
    response_interaction_id VARCHAR NOT NULL,   -- donations.donation_id when response_kind = 'gift'
    responded_at            TIMESTAMPTZ NOT NULL,
    response_kind           VARCHAR             -- 'reply' | 'same_channel' | 'gift'
);
INSERT INTO message_responses SELECT * FROM message_responses_001;
DROP TABLE message_responses_001;

-- grain: one row per inbound interaction that got an answer (filled by `legatura track`)
ALTER TABLE request_answers RENAME TO request_answers_001;
CREATE TABLE request_answers (
    interaction_id        VARCHAR NOT NULL,
    answer_interaction_id VARCHAR NOT NULL,   -- messages.message_id when answer_source = 'message'
    answered_at           TIMESTAMPTZ NOT NULL,
    answer_channel        VARCHAR,
    answer_source         VARCHAR             -- 'interaction' | 'message' (a sent message no interaction records)
);
INSERT INTO request_answers (interaction_id, answer_interaction_id, answered_at)
SELECT interaction_id, answer_interaction_id, answered_at FROM request_answers_001;
DROP TABLE request_answers_001;

-- grain: one row per request awaiting an answer, with its business-hours SLA deadline;
-- empty unless tracking.business_hours is on (then the SLA is plain hours after receipt)
CREATE TABLE request_deadlines (
    interaction_id VARCHAR NOT NULL,
    due_at         TIMESTAMPTZ NOT NULL
);

-- grain: one row per working day; empty unless tracking.business_hours is on
CREATE TABLE working_days (
    day                   DATE PRIMARY KEY,       -- local calendar date
    starts_at             TIMESTAMPTZ NOT NULL,   -- local start of working hours, as an instant
    ends_at               TIMESTAMPTZ NOT NULL,
    worked_before_seconds BIGINT NOT NULL         -- working seconds of all earlier rows
);

INSERT OR IGNORE INTO settings VALUES
    ('attribution_days', '7'),
    ('business_hours', 'false'),
    ('timezone', 'Europe/Bucharest'),
    ('reply_clock_skew_seconds', '86400');
