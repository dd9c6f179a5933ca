-- Core tables of the warehouse. Facts are append-only and keyed by their source's own id
-- (or a hash of the normalised record) so that re-ingesting adds nothing twice.

-- grain: one row per resolved person or organisation
CREATE TABLE contacts (
    contact_id   BIGINT PRIMARY KEY,
    full_name    VARCHAR,
    email        VARCHAR,               -- primary email, normalised
    phone        VARCHAR,               -- primary phone, E.164
    language     VARCHAR,               -- 'ro', 'en', ... (NULL = organisation default)
    kind         VARCHAR NOT NULL DEFAULT 'person',   -- 'person' | 'organisation'
    preferred_channel VARCHAR,
    organisation_id BIGINT,             -- for a partner's liaison: the organisation they speak for
    tags         VARCHAR[],
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    first_source VARCHAR
);

-- grain: one row per identity value (email / phone / facebook thread / external id)
CREATE TABLE contact_identities (
    identity_type  VARCHAR NOT NULL,    -- 'email' | 'phone' | 'facebook' | 'external'
    identity_value VARCHAR NOT NULL,
    contact_id     BIGINT NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    source_file    VARCHAR,
    PRIMARY KEY (identity_type, identity_value)
);

-- grain: one row per merge of two contacts
CREATE TABLE contact_merges (
    kept_contact_id   BIGINT NOT NULL,
    merged_contact_id BIGINT NOT NULL,
    shared_identity   VARCHAR NOT NULL,   -- e.g. 'phone:+40722123456'
    merged_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    source_file       VARCHAR,
    merged_contact_name VARCHAR
);

-- grain: one row per event on any channel, both directions
CREATE TABLE interactions (
    interaction_id VARCHAR PRIMARY KEY,   -- '<channel>:<source key>'
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

-- grain: one row per gift; refunds reduce it (amount_refunded), never a row of their own
CREATE TABLE donations (
    donation_id      VARCHAR PRIMARY KEY,   -- 'stripe:ch_…', 'paypal:<txn>'
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

-- grain: one row per refund seen; folded into donations.amount_refunded
CREATE TABLE donation_refunds (
    refund_id     VARCHAR PRIMARY KEY,
    donation_id   VARCHAR NOT NULL,
    amount        DECIMAL(18,2) NOT NULL,   -- positive
    currency      VARCHAR,
    refunded_at   TIMESTAMPTZ,
    cumulative    BOOLEAN NOT NULL DEFAULT false,  -- true: amount is the running total (Stripe's Amount Refunded)
    source_file   VARCHAR,
    ingested_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- grain: one row per volunteer shift
CREATE TABLE volunteer_shifts (
    shift_id     VARCHAR PRIMARY KEY,
    contact_id   BIGINT,
    started_at   TIMESTAMPTZ NOT NULL,
    hours        DECIMAL(8,2) NOT NULL,
    activity     VARCHAR,
    source_file  VARCHAR,
    source_line  VARCHAR,
    ingested_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- grain: one row per partner organisation and agreement
CREATE TABLE partners (
    partner_id            VARCHAR PRIMARY KEY,   -- the agreement id
    contact_id            BIGINT,                -- the organisation
    partner_name          VARCHAR,
    partner_type          VARCHAR,               -- sponsor | media | endorser | coalition | licensee | ngo
    stage                 VARCHAR,
    objectives            VARCHAR,
    responsibilities      VARCHAR,               -- JSON {"ngo": …, "partner": …}
    contributions         VARCHAR,               -- JSON {"ngo": …, "partner": …}
    starts_on             DATE,
    ends_on               DATE,
    cooperation_mechanism VARCHAR,
    benefit_sharing       VARCHAR,
    liaison               VARCHAR,
    liaison_contact_id    BIGINT,
    notes                 VARCHAR,
    source_file           VARCHAR,
    ingested_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- grain: one row per consent change seen (history); `consents` shows the current state
CREATE TABLE consent_events (
    event_id     VARCHAR PRIMARY KEY,
    channel      VARCHAR NOT NULL,      -- 'email' | 'sms' | ...
    address      VARCHAR NOT NULL,      -- normalised email or E.164 phone
    status       VARCHAR NOT NULL,      -- 'opted_in' | 'opted_out' | 'unknown'
    recorded_at  TIMESTAMPTZ NOT NULL,
    source       VARCHAR NOT NULL,      -- e.g. 'mailchimp', 'forms', 'twilio:STOP', 'unsubscribe'
    source_file  VARCHAR,
    ingested_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- grain: one row per address that must not be contacted (hard bounce, erasure, cleaned)
CREATE TABLE suppressions (
    channel      VARCHAR NOT NULL,
    address      VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,      -- 'hard_bounce' | 'cleaned' | 'erased' | ...
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    source       VARCHAR,
    PRIMARY KEY (channel, address)
);

-- grain: one row per contact and segment, current membership
CREATE TABLE segment_membership (
    contact_id BIGINT NOT NULL,
    segment    VARCHAR NOT NULL,
    since      DATE NOT NULL,
    PRIMARY KEY (contact_id, segment)
);

-- grain: one row per stay of a contact in a segment (entry, and exit once it happened)
CREATE TABLE segment_history (
    contact_id BIGINT NOT NULL,
    segment    VARCHAR NOT NULL,
    entered_at DATE NOT NULL,
    exited_at  DATE
);

-- grain: one row per message in the outbox and its history
CREATE TABLE messages (
    message_id      VARCHAR PRIMARY KEY,
    contact_id      BIGINT,
    campaign        VARCHAR,
    channel         VARCHAR NOT NULL,   -- 'email' | 'sms'
    language        VARCHAR,
    address         VARCHAR,            -- the email address or phone it goes to
    subject         VARCHAR,
    body_text       VARCHAR,
    body_html       VARCHAR,
    is_marketing    BOOLEAN NOT NULL DEFAULT true,
    status          VARCHAR NOT NULL,   -- queued | sending | sent | failed | bounced | suppressed
    queued_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ,
    smtp_message_id VARCHAR,
    attempts        INTEGER NOT NULL DEFAULT 0,
    error           VARCHAR,
    suppression_reason VARCHAR
);

-- grain: one row per file seen by ingest
CREATE TABLE ingested_files (
    path              VARCHAR NOT NULL,
    sha256            VARCHAR NOT NULL,
    channel           VARCHAR NOT NULL,
    rows_read         BIGINT NOT NULL DEFAULT 0,
    rows_ingested     BIGINT NOT NULL DEFAULT 0,
    rows_duplicate    BIGINT NOT NULL DEFAULT 0,
    rows_quarantined  BIGINT NOT NULL DEFAULT 0,
    ingested_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    size_bytes        BIGINT,
    status            VARCHAR NOT NULL DEFAULT 'loaded'   -- loaded | already_ingested | failed
);

-- grain: one row per rejected record
CREATE TABLE quarantine (
    source_file   VARCHAR NOT NULL,
    line_or_key   VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    raw           VARCHAR,
    channel       VARCHAR,
    quarantined_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- grain: one row per outbound message that got a response (filled by `legatura track`)
CREATE TABLE message_responses (
    message_id              VARCHAR PRIMARY KEY,
    response_interaction_id VARCHAR NOT NULL,
    responded_at            TIMESTAMPTZ NOT NULL,
    response_kind           VARCHAR            -- 'reply' | 'same_channel' | 'gift'
);

-- grain: one row per inbound interaction that got an answer (filled by `legatura track`)
CREATE TABLE request_answers (
    interaction_id        VARCHAR PRIMARY KEY,
    answer_interaction_id VARCHAR NOT NULL,
    answered_at           TIMESTAMPTZ NOT NULL
);

-- settings the views read (sla_hours, as_of, ...); written by the flows from configuration
CREATE TABLE settings (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR
);
INSERT INTO settings VALUES ('sla_hours', '24');
