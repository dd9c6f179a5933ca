-- grain: one row: the digest of the view files (views, macros, comments) this warehouse last applied,
-- so `migrate` re-creates them only when the files changed, a migration ran, or one of them is missing
CREATE TABLE IF NOT EXISTS view_definitions (
    digest VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
