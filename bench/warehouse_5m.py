"""The benchmark warehouse: 5,000,000 interactions, 1,000,000 messages, 500,000 gifts, 250,000 contacts.

Built set-based with generate_series straight in a DuckDB file, tracked once, and cached under
bench/out/ (rebuilt when BUILD changes); benches work on a copy. Used by bench_track.py and
bench_command.py. The data is random (answers fall anywhere in two years): the headline figures it
gives mean nothing, its shape (ten kinds of row, threads, delivery records, gifts) is what counts.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.track import bring_tracking_up_to_date, compute_response_times
from legatura.warehouse import db

BUILD = 2   # bump when the generator changes
OUT = Path(__file__).resolve().parent / "out"

CONTACTS = 250_000
START = "2024-01-01 00:00:00+00"
SPAN_SECONDS = 2 * 365 * 86400

# one message a minute from START; 70 % email, 30 % SMS; three in four are marketing
MESSAGES_SQL = f"""
INSERT INTO messages (message_id, contact_id, campaign, channel, status, is_marketing, queued_at,
                      sent_at, smtp_message_id)
SELECT 'm' || i, i % {CONTACTS}, 'campaign_' || (i % 25),
       CASE WHEN i % 10 < 7 THEN 'email' ELSE 'sms' END, 'sent', i % 4 <> 0,
       TIMESTAMPTZ '{START}' + to_seconds(i * 60), TIMESTAMPTZ '{START}' + to_seconds(i * 60 + 5),
       CASE WHEN i % 10 < 7 THEN 'm' || i || '@asociatia-exemplu.ro' END
FROM generate_series(0, ? - 1) s(i)
"""

# ten kinds of row, by i % 10: replies to our mail, SMS, email and form requests, staff answers,
# delivery records of our messages, event sign-ups, auto-replies
INTERACTIONS_SQL = f"""
INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, subject,
                          body, external_id, in_reply_to, "references", is_auto_reply, awaits_answer,
                          message_id)
WITH g AS (
    SELECT i, i % 10 AS t,
           (i // 10) * 2 % ? AS j,                                  -- a message this row may refer to
           hash(i) % {CONTACTS} AS random_contact,
           TIMESTAMPTZ '{START}' + to_seconds(hash(i, 'when') % {SPAN_SECONDS}) AS random_at,
           hash(i, 'lag') % (72 * 3600) AS lag
    FROM generate_series(?, ? - 1) s(i)
)
SELECT
    'bench:' || i,
    CASE WHEN t IN (0, 7, 9) THEN j % {CONTACTS}
         WHEN t = 5 THEN hash(i - 2) % {CONTACTS}
         ELSE random_contact END,
    CASE WHEN t IN (1, 2) THEN 'sms' WHEN t = 6 THEN 'form' WHEN t = 8 THEN 'event'
         WHEN t = 7 THEN CASE WHEN j % 10 < 7 THEN 'email' ELSE 'sms' END
         ELSE 'email' END,
    CASE WHEN t IN (5, 7) THEN 'outbound' ELSE 'inbound' END,
    CASE WHEN t = 6 THEN 'form_request' WHEN t = 8 THEN 'event_registration' ELSE 'message' END,
    CASE WHEN t IN (0, 9) THEN TIMESTAMPTZ '{START}' + to_seconds(j * 60 + 5 + lag - CASE WHEN i % 1000 = 0 THEN 600 ELSE 0 END)
         WHEN t = 5 THEN TIMESTAMPTZ '{START}' + to_seconds(hash(i - 2, 'when') % {SPAN_SECONDS} + lag)
         WHEN t = 7 THEN TIMESTAMPTZ '{START}' + to_seconds(j * 60 + 5)
         ELSE random_at END,
    'Subiect ' || i,
    'Bună ziua, mesajul numărul ' || i,
    CASE WHEN t IN (0, 3, 4, 9) THEN 'bench' || i || '@example.org'
         WHEN t = 5 THEN 'staff' || i || '@asociatia-exemplu.ro'
         WHEN t = 7 AND j % 10 < 7 THEN 'm' || j || '@asociatia-exemplu.ro' END,
    CASE WHEN t IN (0, 9) THEN 'm' || j || '@asociatia-exemplu.ro'
         WHEN t = 5 THEN 'bench' || (i - 2) || '@example.org' END,
    CASE WHEN t = 0 THEN ['root' || i || '@example.org', 'm' || j || '@asociatia-exemplu.ro']
         WHEN t = 5 THEN ['bench' || (i - 2) || '@example.org'] END,
    t = 9,
    t IN (1, 3, 4, 6),
    CASE WHEN t = 7 THEN 'm' || j END
FROM g
"""

DONATIONS_SQL = f"""
INSERT INTO donations (donation_id, contact_id, amount, amount_refunded, currency, donated_at, source)
SELECT 'bench:' || i, hash(i, 'donor') % {CONTACTS}, 50 + i % 200,
       CASE WHEN i % 50 = 0 THEN 50 + i % 200 ELSE 0 END, 'RON',
       TIMESTAMPTZ '{START}' + to_seconds(hash(i, 'gift') % {SPAN_SECONDS}), 'bench'
FROM generate_series(0, ? - 1) s(i)
"""


# every contact has an email and a phone, so exports of theirs resolve to them
CONTACTS_SQL = f"""
INSERT INTO contacts (contact_id, full_name, email, phone, kind)
SELECT i, 'Persoana ' || i, 'p' || i || '@example.ro', '+40722' || lpad(i::VARCHAR, 6, '0'), 'person'
FROM range(0, {CONTACTS}) t(i)
"""

IDENTITIES_SQL = """
INSERT INTO contact_identities (identity_type, identity_value, contact_id)
SELECT 'email', email, contact_id FROM contacts
UNION ALL
SELECT 'phone', phone, contact_id FROM contacts
"""


def phone_of(contact: int) -> str:
    """The phone number the base gives a contact (E.164)."""
    return f"+40722{contact:06d}"


def add_interactions(con, first: int, count: int, messages: int) -> None:
    """`count` new interactions of the base's ten kinds, numbered from `first`."""
    con.execute(INTERACTIONS_SQL, [messages, first, first + count])


def build(path: Path, interactions: int, messages: int, donations: int) -> None:
    con = db.connect(path)
    db.migrate(con)
    con.execute(CONTACTS_SQL)
    con.execute(IDENTITIES_SQL)
    con.execute(MESSAGES_SQL, [messages])
    add_interactions(con, 0, interactions, messages)
    con.execute(DONATIONS_SQL, [donations])
    con.execute("CHECKPOINT")
    compute_response_times(con, Settings())
    con.execute("CHECKPOINT")
    con.close()


def base_warehouse(interactions: int = 5_000_000, messages: int = 1_000_000, donations: int = 500_000) -> Path:
    """The cached, tracked base warehouse of this size (built on first use: a minute or two)."""
    path = OUT / f"base-{interactions}-{messages}-{donations}-v{BUILD}.duckdb"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob(f"base-{interactions}-{messages}-{donations}-v*.duckdb"):
            old.unlink()
        started = time.perf_counter()
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        build(tmp, interactions, messages, donations)
        tmp.rename(path)
        print(f"built and tracked the base warehouse ({interactions:,} interactions, {messages:,} messages, "
              f"{donations:,} gifts) in {time.perf_counter() - started:.0f} s; cached as {path}")
    # the matching SQL or the schema may have changed since: keep the cache migrated and tracked
    con = db.connect(path)
    db.migrate(con)
    summary = bring_tracking_up_to_date(con, Settings())
    con.execute("CHECKPOINT")
    con.close()
    if summary is not None:
        print(f"  the cached base was behind: {summary.run_line()}")
    return path


def working_copy(base: Path, target: Path) -> Path:
    """A fresh copy of the base to write into (the cache stays as built)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(base, target)
    return target
