-- Response-time tracking: the working calendar for business-hours SLAs, where each answer
-- came from, and the tracking settings the views read (overwritten by `legatura track`).

-- grain: one row per working day; empty unless tracking.business_hours is on
CREATE TABLE working_days (
    day                   DATE PRIMARY KEY,       -- local calendar date
    starts_at             TIMESTAMPTZ NOT NULL,   -- local start of working hours, as an instant
    ends_at               TIMESTAMPTZ NOT NULL,
    worked_before_seconds BIGINT NOT NULL         -- working seconds of all earlier rows
);

-- an answer is an outbound interaction, or a sent message no interaction records
ALTER TABLE request_answers ADD COLUMN answer_channel VARCHAR;
ALTER TABLE request_answers ADD COLUMN answer_source VARCHAR;   -- 'interaction' | 'message'

INSERT OR IGNORE INTO settings VALUES
    ('attribution_days', '7'),
    ('business_hours', 'false'),
    ('timezone', 'Europe/Bucharest'),
    ('reply_clock_skew_seconds', '86400');
