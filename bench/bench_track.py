"""Bench `legatura track`: 5,000,000 interactions and 1,000,000 messages, target under 10 s.

Usage: python bench/bench_track.py [--interactions N] [--messages N] [--business-hours] [--keep DIR]
Builds the data with generate_series straight in a DuckDB file, then times compute_response_times
twice: the first run fills the empty result tables, the re-run finds nothing changed. The data is
random (answers fall anywhere in two years), so the printed headline figures mean nothing.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.track import compute_response_times
from legatura.warehouse import db

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
    FROM generate_series(0, ? - 1) s(i)
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


def build(path: Path, interactions: int, messages: int, donations: int) -> None:
    con = db.connect(path)
    db.migrate(con)
    con.execute(MESSAGES_SQL, [messages])
    con.execute(INTERACTIONS_SQL, [messages, interactions])
    con.execute(DONATIONS_SQL, [donations])
    con.execute("CHECKPOINT")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--donations", type=int, default=500_000)
    parser.add_argument("--business-hours", action="store_true", help="count the SLA in RO working hours")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the warehouse in this folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-track-") as tmp:
        folder = args.keep or Path(tmp)
        path = folder / "bench.duckdb"
        if not path.exists():
            started = time.perf_counter()
            build(path, args.interactions, args.messages, args.donations)
            print(f"built {args.interactions:,} interactions, {args.messages:,} messages, "
                  f"{args.donations:,} donations in {time.perf_counter() - started:.1f} s")
        settings = Settings(tracking={"business_hours": args.business_hours})
        con = db.connect(path)
        con.execute("SET enable_progress_bar = false")
        # first run fills the empty result tables; the re-run finds nothing changed (the usual case)
        for run in ("first run", "re-run"):
            cpu = _cpu_seconds()
            started = time.perf_counter()
            summary = compute_response_times(con, settings)
            elapsed = time.perf_counter() - started
            print(f"track {run}: compute_response_times over {args.interactions:,} interactions and "
                  f"{args.messages:,} messages: {elapsed:.2f} s (cpu {_cpu_seconds() - cpu:.2f} s; "
                  f"target < 10 s)")
        con.close()
        for line in summary.lines():
            print(f"  {line}")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

if __name__ == "__main__":
    main()
