"""The twilio preset: inbound SMS webhook JSON Lines, STOP / START keywords as SMS consent."""
from __future__ import annotations

from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels import twilio

from tests.conftest import copy_sample

DATA = Path(__file__).parent / "data" / "twilio"
SAMPLE = "twilio/inbound_sms_2026.jsonl"


def test_twilio_detect_knows_webhook_lines(formats):
    assert twilio.detect("inbound_sms_2026.jsonl", (formats / SAMPLE).read_bytes()[:4096])
    assert not twilio.detect("x.csv", b"id,Created date (UTC),Amount\n")


def test_twilio_parse_sample_keys_by_message_sid(formats):
    result = twilio.parse((formats / SAMPLE).read_bytes(), SAMPLE, Settings())
    messages = result.frames["interactions"]
    assert (result.records_read, messages.height, result.rows_quarantined) == (10, 9, 1)
    first = messages.row(0, named=True)
    assert first["interaction_id"] == "twilio:SM0a9f4c2e7d1b43f09e6a5c8b2d7e1f30"
    assert (first["channel"], first["direction"], first["kind"], first["phone"]) == (
        "sms", "inbound", "message", "+40722123456")
    assert first["awaits_answer"] is True
    assert str(first["occurred_at"]) == "2026-03-02 08:15:22+00:00"
    keywords = messages.filter(messages["kind"] != "message")
    assert keywords["kind"].to_list() == ["opt_out", "opt_out", "opt_in", "opt_out"]
    assert not keywords["awaits_answer"].any()
    [truncated] = result.quarantine.to_dicts()
    assert truncated["line_or_key"] == "10" and truncated["reason"].startswith("not a complete JSON object")
    assert truncated["raw"].startswith('{"ToCountry": "RO", "SmsMessageSid": "SM9d0c5f8b4e2a4c9f1b7d3e5a8c0f4d')


def test_twilio_sample_opts_out_two_numbers(ingest, warehouse, formats):
    [summary] = ingest(formats / SAMPLE)
    assert summary.channel == "twilio"
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (
        10, 9, 0, 1)
    opted_out = warehouse.execute(
        "SELECT address, source FROM consents WHERE channel = 'sms' AND status = 'opted_out' ORDER BY address"
    ).fetchall()
    assert opted_out == [("+40722123456", "twilio:STOP"), ("+40766555111", "twilio:STOP")]
    # STOP, START, then Stop: the history keeps all three
    assert warehouse.execute(
        "SELECT list(status ORDER BY recorded_at) FROM consent_events WHERE address = '+40766555111'"
    ).fetchone()[0] == ["opted_out", "opted_in", "opted_out"]
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5


def test_twilio_keywords_duplicates_and_broken_lines(ingest, warehouse):
    [summary] = ingest(DATA / "keywords_and_broken_lines.jsonl", channel="twilio")
    # 12 records (the blank line is none): 7 loaded, the repeated delivery a duplicate, 5 quarantined
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (
        12, 6, 1, 5)
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons["9"] == "no MessageSid"
    assert reasons["10"] == "no From number"
    assert reasons["11"] == "received_at 'ieri' is not an ISO 8601 time"
    assert reasons["12"] == "not a JSON object of webhook fields"
    assert reasons["13"].startswith("not a complete JSON object")
    status = dict(warehouse.execute("SELECT address, status FROM consents").fetchall())
    assert status == {"+40700000001": "opted_out", "+40700000002": "opted_out"}
    kinds = dict(warehouse.execute("SELECT body, kind FROM interactions").fetchall())
    assert kinds["Yes"] == "message" and kinds["  UNSUBSCRIBE "] == "opt_out" and kinds[" start "] == "opt_in"
    own = warehouse.execute(
        "SELECT i.direction, i.awaits_answer, c.phone FROM interactions i JOIN contacts c USING (contact_id) "
        "WHERE i.body = 'Vă mulțumim!'").fetchone()
    assert own == ("outbound", False, "+40700000002")
    # the NGO's own number is never a contact
    assert warehouse.execute(
        "SELECT count(*) FROM contact_identities WHERE identity_value = '+40316301234'").fetchone()[0] == 0
    ledger = warehouse.execute(
        "SELECT rows_read, rows_ingested + rows_duplicate + rows_quarantined FROM ingested_files").fetchone()
    assert ledger[0] == ledger[1]


def test_twilio_overlapping_file_adds_nothing_twice(ingest, warehouse, formats, tmp_path):
    ingest(formats / SAMPLE)
    lines = (formats / SAMPLE).read_bytes().split(b"\n")
    overlap = tmp_path / "later" / "inbound_sms_2026-b.jsonl"
    overlap.parent.mkdir()
    overlap.write_bytes(b"\n".join(lines[:9]) + b"\n")
    before = warehouse.execute("SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM consent_events)"
                               ).fetchone()
    [again] = ingest(overlap, channel="twilio")
    assert (again.rows_read, again.rows_ingested, again.rows_duplicate) == (9, 0, 9)
    assert warehouse.execute("SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM consent_events)"
                             ).fetchone() == before
    [same] = ingest(copy_sample(formats / SAMPLE, tmp_path / "copy"), channel="twilio")
    assert same.status == "already_ingested"
