"""The tracking watermark: what changed since tracking last ran, recomputed for those contacts alone, equal to
a full recompute; a crash between the load and tracking mends itself on the next command."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from legatura.flows.config import Settings
from legatura.flows.ingest import ingest_paths
from legatura.flows.track import bring_tracking_up_to_date, compute_response_times, update_response_times
from legatura.warehouse import db

RESULTS = ("message_responses", "request_answers", "request_deadlines")
START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
OWN = "asociatia-exemplu.ro"


def results(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in RESULTS}


class Traffic:
    """Random-ish but reproducible warehouse traffic: every kind of row matching reads, and in-place changes."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seed: int, contacts: int = 16) -> None:
        self.con, self.rng, self.contacts = con, random.Random(seed), list(range(1, contacts + 1))
        self.n = 0
        self.messages: list[tuple[str, int, str, str | None]] = []   # id, contact, channel, smtp id
        self.inbound: list[tuple[str, int, str]] = []                # id, contact, external id
        self.gifts: list[str] = []
        con.executemany("INSERT INTO contacts (contact_id, full_name) VALUES (?, ?)",
                        [(c, f"Persoana {c}") for c in self.contacts])

    def _at(self) -> datetime:
        return START + timedelta(minutes=self.rng.randrange(0, 6 * 24 * 60))   # dense: many matches

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def batch(self, size: int = 60) -> None:
        """One load's worth of new rows, plus the in-place changes other commands make."""
        rng, con = self.rng, self.con
        con.execute("BEGIN TRANSACTION")
        for _ in range(size // 4):
            message_id, channel = self._id("m"), rng.choice(["email", "email", "sms"])
            smtp = f"{message_id}@{OWN}" if channel == "email" else None
            sent = self._at() if rng.random() < 0.8 else None
            contact = rng.choice(self.contacts)
            con.execute(
                "INSERT INTO messages (message_id, contact_id, campaign, channel, status, is_marketing, sent_at, "
                "smtp_message_id) VALUES (?, ?, 'c', ?, ?, ?, ?, ?)",
                [message_id, contact, channel, "sent" if sent else "queued", rng.random() < 0.6, sent, smtp])
            self.messages.append((message_id, contact, channel, smtp))
        for _ in range(size):
            self._interaction()
        for _ in range(size // 10):
            gift = self._id("stripe:ch_")
            amount = rng.choice([50, 100, 250])
            con.execute("INSERT INTO donations (donation_id, contact_id, amount, amount_refunded, currency, "
                        "donated_at, source) VALUES (?, ?, ?, ?, 'RON', ?, 'stripe')",
                        [gift, rng.choice(self.contacts), amount, amount if rng.random() < 0.1 else 0, self._at()])
            self.gifts.append(gift)
        con.execute("COMMIT")
        self._changes_in_place()

    def _interaction(self) -> None:
        rng = self.rng
        kind = rng.choice(["reply", "reply", "sms", "request", "request", "answer", "answer", "delivery",
                           "sent_copy", "auto_reply", "bounce", "form", "no_contact", "threaded_answer"])
        interaction_id, at = self._id("i:"), self._at()
        row = {"interaction_id": interaction_id, "contact_id": rng.choice(self.contacts), "channel": "email",
               "direction": "inbound", "kind": "message", "occurred_at": at, "external_id": f"{interaction_id}@x.org",
               "in_reply_to": None, "references": None, "is_auto_reply": False, "awaits_answer": False,
               "message_id": None}
        message = rng.choice(self.messages) if self.messages else None
        if kind in ("reply", "auto_reply", "bounce") and message and message[2] == "email":
            row.update(contact_id=message[1], in_reply_to=message[3], awaits_answer=kind == "reply",
                       is_auto_reply=kind == "auto_reply", kind="bounce" if kind == "bounce" else "message",
                       references=["root@x.org", message[3]] if rng.random() < 0.5 else None)
        elif kind == "sms":
            row.update(channel="sms", awaits_answer=True, external_id=f"SM{interaction_id}")
        elif kind in ("request", "form"):
            row.update(channel="form" if kind == "form" else "email", awaits_answer=True,
                       kind="form_request" if kind == "form" else "message")
        elif kind == "answer":
            row.update(direction="outbound", channel=rng.choice(["email", "sms"]), external_id=f"{interaction_id}@{OWN}")
        elif kind == "threaded_answer" and self.inbound:
            asked = rng.choice(self.inbound)
            row.update(direction="outbound", contact_id=asked[1], in_reply_to=asked[2],
                       occurred_at=at - timedelta(minutes=rng.randrange(0, 90)), external_id=f"{interaction_id}@{OWN}")
        elif kind == "delivery" and message:
            # a delivery record, sometimes filed under nobody or someone else
            contact = message[1] if rng.random() < 0.4 else rng.choice([None, *self.contacts])
            row.update(direction="outbound", channel=message[2], contact_id=contact, message_id=message[0],
                       external_id=None)
        elif kind == "sent_copy" and message and message[2] == "email":
            row.update(direction="outbound", contact_id=message[1], external_id=message[3])
        elif kind == "no_contact":
            row.update(contact_id=None, awaits_answer=True)
        else:
            row.update(awaits_answer=True)
        if row["direction"] == "inbound" and row["channel"] == "email":
            self.inbound.append((interaction_id, row["contact_id"], row["external_id"]))
        columns = list(row)
        self.con.execute(
            f"INSERT INTO interactions ({', '.join(chr(34) + c + chr(34) for c in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})", list(row.values()))

    def _changes_in_place(self) -> None:
        """What send, refunds, merges and erasure of a message do to rows tracking already covered."""
        rng, con = self.rng, self.con
        con.execute("UPDATE messages SET status = 'sent', sent_at = TIMESTAMPTZ '2026-03-10 12:00:00+00' "
                    "WHERE message_id IN (SELECT message_id FROM messages WHERE sent_at IS NULL "
                    "ORDER BY message_id LIMIT 2)")
        if self.gifts:
            con.execute("UPDATE donations SET amount_refunded = amount WHERE donation_id = ?", [rng.choice(self.gifts)])
        if len(self.contacts) > 8:
            kept, merged = rng.sample(self.contacts, 2)
            con.execute("BEGIN TRANSACTION")
            for table in ("interactions", "donations", "messages"):
                con.execute(f"UPDATE {table} SET contact_id = ? WHERE contact_id = ?", [kept, merged])
            con.execute("INSERT INTO contact_merges (kept_contact_id, merged_contact_id, shared_identity) "
                        "VALUES (?, ?, 'email:x')", [kept, merged])
            con.execute("COMMIT")
            self.contacts.remove(merged)
            self.messages = [(m, kept if c == merged else c, ch, s) for m, c, ch, s in self.messages]
            self.inbound = [(i, kept if c == merged else c, e) for i, c, e in self.inbound]
        if self.messages and rng.random() < 0.5:
            gone = self.messages.pop(rng.randrange(len(self.messages)))
            con.execute("DELETE FROM messages WHERE message_id = ?", [gone[0]])


@pytest.mark.parametrize("business_hours", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_after_several_batches_equals_full_recompute(tmp_path: Path, seed: int, business_hours: bool):
    settings = Settings(tracking={"business_hours": business_hours, "sla_hours": 8})
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    traffic = Traffic(con, seed)
    traffic.batch()
    assert compute_response_times(con, settings).mode == "full"
    for _ in range(4):
        traffic.batch()
        summary = bring_tracking_up_to_date(con, settings)
        assert summary is not None and summary.mode == "incremental", summary
        assert 0 < summary.contacts_recomputed < len(traffic.contacts) + 2
        incremental = results(con)
        # the full recompute finds nothing to change
        assert compute_response_times(con, settings).rows_changed == 0
        assert results(con) == incremental
    assert sum(len(rows) for rows in incremental.values()) > 50
    assert bool(incremental["request_deadlines"]) is business_hours
    con.close()


def test_incremental_equals_full_from_a_fresh_warehouse(tmp_path: Path):
    """The same traffic into two warehouses: one tracked after every batch, the other once at the end."""
    settings = Settings()
    cons = []
    for name in ("a", "b"):
        con = db.connect(tmp_path / f"{name}.duckdb")
        db.migrate(con)
        cons.append((con, Traffic(con, seed=7)))
    for _ in range(5):
        for con, traffic in cons:
            traffic.batch()
        bring_tracking_up_to_date(cons[0][0], settings)
    compute_response_times(cons[1][0], settings)
    assert results(cons[0][0]) == results(cons[1][0])
    for con, _ in cons:
        con.close()


def test_bring_tracking_up_to_date_is_none_when_nothing_changed(tmp_path: Path):
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    Traffic(con, seed=3).batch()
    settings = Settings()
    assert bring_tracking_up_to_date(con, settings).mode == "full"   # never tracked yet
    assert bring_tracking_up_to_date(con, settings) is None
    assert update_response_times(con, settings).mode == "current"
    # other settings: every result may move
    again = bring_tracking_up_to_date(con, Settings(tracking={"attribution_days": 3}))
    assert (again.mode, again.full_reason) == ("full", "the tracking settings or the matching SQL changed")
    con.close()


def test_removed_interactions_force_a_full_recompute(tmp_path: Path):
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    traffic = Traffic(con, seed=4)
    traffic.batch()
    settings = Settings()
    compute_response_times(con, settings)
    # an erasure removes a contact's interactions; a new batch arrives in the same run
    con.execute("DELETE FROM interactions WHERE contact_id = (SELECT min(contact_id) FROM interactions)")
    traffic.batch()
    summary = bring_tracking_up_to_date(con, settings)
    assert (summary.mode, summary.full_reason) == ("full", "interactions tracking covered were removed or re-dated")
    assert compute_response_times(con, settings).rows_changed == 0
    con.close()


def test_incremental_touches_only_the_contacts_that_changed(tmp_path: Path):
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    traffic = Traffic(con, seed=5, contacts=200)
    for _ in range(3):
        traffic.batch(120)
    settings = Settings()
    compute_response_times(con, settings)
    con.execute("INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, "
                "awaits_answer) VALUES ('email:late', 17, 'email', 'inbound', 'message', now(), true)")
    summary = bring_tracking_up_to_date(con, settings)
    assert (summary.mode, summary.contacts_recomputed) == ("incremental", 1)
    assert con.execute("SELECT answered_at FROM inbound_response_times WHERE interaction_id = 'email:late'"
                       ).fetchall() == [(None,)]
    con.close()


def test_a_merge_alone_moves_answers_to_the_kept_contact(tmp_path: Path):
    """Our answer was filed under a second contact for the same person; merging them answers the request."""
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    con.execute("INSERT INTO contacts (contact_id, full_name) VALUES (1, 'Ana'), (2, 'Ana (telefon)')")
    con.execute("""
        INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, awaits_answer)
        VALUES ('email:q', 1, 'email', 'inbound', 'message', '2026-03-02 09:00:00+00', true),
               ('sms:a', 2, 'sms', 'outbound', 'message', '2026-03-02 10:00:00+00', false)""")
    settings = Settings()
    assert compute_response_times(con, settings).open_requests == 1
    con.execute("UPDATE interactions SET contact_id = 1 WHERE contact_id = 2")
    con.execute("INSERT INTO contact_merges (kept_contact_id, merged_contact_id, shared_identity) "
                "VALUES (1, 2, 'phone:+40722000001')")
    summary = bring_tracking_up_to_date(con, settings)
    assert (summary.mode, summary.contacts_recomputed, summary.rows_changed) == ("incremental", 1, 1)
    assert con.execute("SELECT answer_interaction_id FROM request_answers").fetchall() == [("sms:a",)]
    con.close()


def test_a_delivery_record_filed_under_nobody_makes_the_message_no_answer_of_its_own(tmp_path: Path):
    """A sent message answers a request until an outbound interaction (of anyone) records it."""
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    con.execute("INSERT INTO contacts (contact_id, full_name) VALUES (1, 'Ana')")
    con.execute("INSERT INTO messages (message_id, contact_id, channel, status, is_marketing, sent_at) "
                "VALUES ('m1', 1, 'sms', 'sent', false, '2026-03-02 10:00:00+00')")
    con.execute("INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, "
                "awaits_answer) VALUES ('sms:q', 1, 'sms', 'inbound', 'message', '2026-03-02 09:00:00+00', true)")
    settings = Settings()
    compute_response_times(con, settings)
    assert con.execute("SELECT answer_source FROM request_answers").fetchall() == [("message",)]
    # the gateway's delivery log comes in later, its row filed under no contact
    con.execute("INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, "
                "message_id) VALUES ('sms:log-m1', NULL, 'sms', 'outbound', 'delivery', "
                "'2026-03-02 10:00:05+00', 'm1')")
    assert bring_tracking_up_to_date(con, settings).mode == "incremental"
    assert con.execute("SELECT count(*) FROM request_answers").fetchall() == [(0,)]
    assert compute_response_times(con, settings).rows_changed == 0
    con.close()


def test_a_message_removed_or_moved_is_no_answer_for_its_former_contact(tmp_path: Path):
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    con.execute("INSERT INTO contacts (contact_id, full_name) VALUES (1, 'Ana'), (2, 'Bogdan')")
    con.execute("INSERT INTO messages (message_id, contact_id, channel, status, is_marketing, sent_at) VALUES "
                "('m1', 1, 'sms', 'sent', false, '2026-03-02 10:00:00+00'), "
                "('m2', 2, 'sms', 'sent', false, '2026-03-02 10:00:00+00')")
    con.execute("INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, "
                "awaits_answer) VALUES ('sms:q1', 1, 'sms', 'inbound', 'message', '2026-03-02 09:00:00+00', true), "
                "('sms:q2', 2, 'sms', 'inbound', 'message', '2026-03-02 09:00:00+00', true)")
    settings = Settings()
    compute_response_times(con, settings)
    assert con.execute("SELECT count(*) FROM request_answers").fetchall() == [(2,)]
    con.execute("DELETE FROM messages WHERE message_id = 'm1'")               # erased
    con.execute("UPDATE messages SET contact_id = 1 WHERE message_id = 'm2'")  # filed under the wrong person
    summary = bring_tracking_up_to_date(con, settings)
    assert (summary.mode, summary.contacts_recomputed) == ("incremental", 2)
    assert con.execute("SELECT interaction_id, answer_interaction_id FROM request_answers").fetchall() == [
        ("sms:q1", "m2")]
    assert compute_response_times(con, settings).rows_changed == 0
    con.close()


# finding 5: a crash after the load commits but before tracking

CRASH_AFTER_LOAD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from legatura.flows.config import Settings
    from legatura.flows.ingest import ingest_paths
    from legatura.warehouse.db import open_for_write

    settings = Settings(warehouse={"path": sys.argv[1], "snapshot": sys.argv[2]})
    with open_for_write(settings.warehouse.path, "crash test") as con:
        ingest_paths(con, [Path(sys.argv[3])], settings)   # each batch commits as it goes
        os.kill(os.getpid(), signal.SIGKILL)               # ... and the process dies before tracking
""")


@pytest.mark.subprocess
def test_crash_between_load_and_tracking_mends_on_the_next_ingest(tmp_path: Path, formats: Path):
    settings = Settings(warehouse={"path": tmp_path / "legatura.duckdb", "snapshot": tmp_path / "analytics.duckdb"})
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_LOAD, str(settings.warehouse.path), str(settings.warehouse.snapshot),
         str(formats)], capture_output=True, text=True, timeout=300, env={**os.environ})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    with db.open_for_write(settings.warehouse.path, "test") as con:
        loaded = con.execute("SELECT count(*) FROM interactions").fetchall()[0][0]
        stale = con.execute("SELECT open_requests FROM response_headline").fetchall()[0][0]
    assert loaded > 0 and stale == 23          # loaded, never tracked: every request looks open
    # the same files again: nothing new to load, yet tracking is behind the warehouse
    with db.open_for_write(settings.warehouse.path, "test") as con:
        again = ingest_paths(con, [formats], settings)
        assert sum(s.rows_ingested for s in again) == 0
        summary = bring_tracking_up_to_date(con, settings)
        assert summary is not None and summary.mode == "full"
        assert con.execute("SELECT open_requests FROM response_headline").fetchall() == [(13,)]
        assert bring_tracking_up_to_date(con, settings) is None


@pytest.mark.parametrize("filed_under", [2, None])
@pytest.mark.parametrize("names_the_message", [False, True])
def test_a_copy_of_our_mail_filed_under_someone_else_still_records_it(tmp_path: Path, filed_under: int | None,
                                                                        names_the_message: bool):
    """A Sent-folder copy of our message (its Message-ID; the message_id too, or not) filed under another
    contact or none, tracked before: when the message's contact is recomputed, the copy still records it."""
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    con.execute("INSERT INTO contacts (contact_id, full_name) VALUES (1, 'Ana'), (2, 'Ion')")
    con.execute("INSERT INTO messages (message_id, contact_id, channel, status, is_marketing, sent_at, smtp_message_id) "
                f"VALUES ('m1', 1, 'email', 'sent', false, '2026-03-02 10:00:00+00', 'm1@{OWN}')")
    con.execute("INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, "
                "awaits_answer, external_id, message_id) VALUES "
                "('email:q1', 1, 'email', 'inbound', 'message', '2026-03-02 09:00:00+00', true, 'q1@x.org', NULL), "
                f"('email:copy', ?, 'email', 'outbound', 'message', '2026-03-02 10:00:01+00', false, 'm1@{OWN}', ?)",
                [filed_under, "m1" if names_the_message else None])
    settings = Settings()
    compute_response_times(con, settings)
    assert results(con)["request_answers"] == []      # m1 is recorded: no answer of its own
    con.execute("INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, "
                "awaits_answer) VALUES ('email:q2', 1, 'email', 'inbound', 'message', '2026-03-02 11:00:00+00', true)")
    summary = bring_tracking_up_to_date(con, settings)
    assert (summary.mode, summary.contacts_recomputed, summary.rows_changed) == ("incremental", 1, 0)
    incremental = results(con)
    assert compute_response_times(con, settings).rows_changed == 0
    assert results(con) == incremental and incremental["request_answers"] == []
    con.close()
