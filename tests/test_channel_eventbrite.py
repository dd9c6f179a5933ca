"""The eventbrite preset: attendee reports as registrations, check-ins and cancellations."""
from __future__ import annotations

from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels import eventbrite

DATA = Path(__file__).parent / "data" / "eventbrite"
SAMPLE = "eventbrite/gala-2025_attendees_2025-12-06_after-event.csv"
BEFORE = DATA / "gala-2025_attendees_2025-11-05_before-event.csv"


def test_eventbrite_parse_sample_rows_per_ticket(formats):
    result = eventbrite.parse((formats / SAMPLE).read_bytes(), SAMPLE, Settings())
    rows = result.frames["interactions"]
    assert (result.records_read, result.rows_quarantined) == (7, 0)
    counts = dict(rows.group_by("kind").len().iter_rows())
    assert counts == {"event_registration": 7, "event_checkin": 4, "event_cancelled": 1}
    first = rows.row(0, named=True)
    assert first["interaction_id"] == "eventbrite:1295365727751:registration"
    assert (first["channel"], first["direction"], first["awaits_answer"]) == ("event", "inbound", False)
    assert first["subject"] == first["campaign"] == "Gala Prietenii Asociației 2025"
    assert (first["email"], first["phone"], first["full_name"]) == (
        "ana.marginean@gmail.com", "+40722123456", "Ana Mărginean")
    assert str(first["occurred_at"]) == "2025-10-02 15:45:12+00:00"
    # a check-in has no time in the export: the event's latest order date stands in
    checkins = rows.filter(rows["kind"] == "event_checkin")
    assert {str(t) for t in checkins["occurred_at"]} == {"2025-11-14 06:30:44+00:00"}
    assert rows.filter(rows["kind"] == "event_cancelled")["email"].to_list() == ["cristina.balan@gmail.com"]


def test_eventbrite_sample_loads_contacts_once(ingest, warehouse, formats):
    [summary] = ingest(formats / SAMPLE)
    assert summary.channel == "eventbrite"
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (
        7, 7, 0, 0)
    assert warehouse.execute("SELECT count(*) FROM interactions").fetchone()[0] == 12
    # the buyer-only order repeats Radu on two tickets: one contact
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 6


def test_eventbrite_later_download_adds_only_checkins(ingest, warehouse, formats):
    [before] = ingest(BEFORE, channel="eventbrite")
    assert (before.rows_read, before.rows_ingested) == (5, 5)
    assert warehouse.execute("SELECT count(*) FROM interactions WHERE kind = 'event_checkin'").fetchone()[0] == 0
    [after] = ingest(formats / SAMPLE, channel="eventbrite")
    # 4 tickets gained a check-in, the 2nd of Radu's tickets is new, 2 repeat unchanged
    assert (after.rows_read, after.rows_ingested, after.rows_duplicate, after.rows_quarantined) == (7, 5, 2, 0)
    assert warehouse.execute("SELECT count(*) FROM interactions WHERE source_file = ?",
                             [str(formats / SAMPLE)]).fetchone()[0] == 6
    kinds = dict(warehouse.execute("SELECT kind, count(*) FROM interactions GROUP BY kind").fetchall())
    assert kinds == {"event_registration": 7, "event_checkin": 4, "event_cancelled": 1}
    [again] = ingest(formats / SAMPLE, channel="eventbrite")
    assert again.status == "unchanged"


def test_eventbrite_broken_rows_are_quarantined_with_reasons(ingest, warehouse):
    [summary] = ingest(DATA / "attendees_with_broken_rows.csv", channel="eventbrite")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (4, 1, 3)
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons == {
        "2": "Email 'ion.popescu@gmial' is not a valid address",
        "3": "Order Date '2025-11-31 10:00:00+02:00' is not YYYY-MM-DD HH:MM:SS+HH:MM",
        "4": "empty Attendee #",
    }
    # Attendee Status 'Checked In' counts as a check-in; a quoted comma in a name is kept
    rows = warehouse.execute("SELECT kind FROM interactions ORDER BY kind").fetchall()
    assert rows == [("event_checkin",), ("event_registration",)]
    assert warehouse.execute("SELECT full_name, phone FROM contacts").fetchall() == [("Maria, Ioana Pop", "+40722000111")]
