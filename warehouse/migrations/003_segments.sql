-- Segments: a log of each segment computation. Membership itself lives in segment_membership and
-- segment_history (001_core); the parameters the segment SQL reads are `settings` rows 'segments.*'.

-- grain: one row per as-of date and segment: the latest computation of that segment for that date
CREATE TABLE segment_runs (
    as_of        DATE NOT NULL,
    segment      VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,      -- 'ok' | 'failed' | 'retired' (its file was removed: everyone exited)
    members      BIGINT,                -- after this computation (NULL when it failed)
    entered      BIGINT,
    exited       BIGINT,
    error        VARCHAR,               -- DuckDB's message when it failed
    source_file  VARCHAR,
    computed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (as_of, segment)
);
