-- The messaging contract (compose, deliver): what allowed a message, when it may go, what triggered
-- it, and what the sender needs to resume safely. Columns only; compose and send fill them.

-- grain of messages stays one row per message; a campaign run gives each audience member one row
ALTER TABLE messages ADD COLUMN send_after TIMESTAMPTZ;           -- not before this instant
ALTER TABLE messages ADD COLUMN consent_address VARCHAR;          -- the address whose consent allowed it
ALTER TABLE messages ADD COLUMN consent_source VARCHAR;           -- that consent's source
ALTER TABLE messages ADD COLUMN consent_recorded_at TIMESTAMPTZ;  -- that consent's time
ALTER TABLE messages ADD COLUMN trigger_ref VARCHAR;              -- the record that triggered a journey
ALTER TABLE messages ADD COLUMN batch VARCHAR;                    -- letters: the printable batch file
ALTER TABLE messages ADD COLUMN campaign_run VARCHAR;             -- '<campaign>@<as-of>' or '<campaign>#<trigger_ref>'
ALTER TABLE messages ADD COLUMN audience_segment VARCHAR;         -- the segment that put the contact in the audience
ALTER TABLE messages ADD COLUMN channel_reason VARCHAR;           -- why this channel: preferred | last_used | first_allowed
ALTER TABLE messages ADD COLUMN next_attempt_at TIMESTAMPTZ;      -- retry backoff after a 4xx / connection failure
ALTER TABLE messages ADD COLUMN sms_segments INTEGER;             -- SMS: billed segments
