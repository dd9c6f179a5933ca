-- grain: quarantine stays one row per rejected record; a row cut short (a file caught mid-write) that a later,
-- complete export loads is marked resolved rather than deleted, so the history of what arrived stays.
ALTER TABLE quarantine ADD COLUMN resolved_at TIMESTAMPTZ;   -- NULL: still an open problem
ALTER TABLE quarantine ADD COLUMN resolved_by VARCHAR;       -- the file and line that loaded the record
