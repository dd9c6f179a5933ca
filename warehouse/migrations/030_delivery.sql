-- Delivery (legatura send): every attempt to hand a message to the SMTP server or the SMS gateway,
-- what came of it, and the ids the gateway gave. The send journal (a file beside the warehouse) is
-- the durable record between two batched writes of this table and of messages.status.

-- grain: one row per attempt to deliver one message (attempt numbers from 1, as messages.attempts)
CREATE TABLE delivery_attempts (
    message_id   VARCHAR NOT NULL,
    attempt      INTEGER NOT NULL,
    channel      VARCHAR NOT NULL,      -- email | sms | letter
    outcome      VARCHAR NOT NULL,      -- sent | retry | failed | bounced | unknown | requeued
    reply_code   INTEGER,               -- the SMTP reply code or the gateway's HTTP status
    reply_text   VARCHAR,               -- the server's answer, cut to 500 characters
    finished_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, attempt)
);

ALTER TABLE messages ADD COLUMN gateway_sid VARCHAR;      -- SMS: the gateway's message id (MessageSid)
ALTER TABLE messages ADD COLUMN sms_price VARCHAR;        -- SMS: the price the gateway reported, as text
