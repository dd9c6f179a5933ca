"""The volunteers preset: English and Romanian Excel hour sheets into shifts and interactions."""
from __future__ import annotations

from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels import volunteers

DATA = Path(__file__).parent / "data" / "volunteers"
ENGLISH = "volunteers/volunteer_hours_2026.csv"
RO_UTF8 = "volunteers/pontaj_voluntari_2024 (Excel, UTF-8).csv"
RO_1250 = "volunteers/pontaj_voluntari_2024 (Excel, Windows-1250).csv"
MINE_1250 = DATA / "pontaj_ianuarie_2025 (Excel, Windows-1250).csv"
MINE_UTF8 = DATA / "pontaj_ianuarie_2025 (Excel, UTF-8).csv"


def test_volunteers_detect_both_header_sets(formats):
    for name in (ENGLISH, RO_UTF8, RO_1250):
        assert volunteers.detect(name, (formats / name).read_bytes()[:4096]), name
    assert not volunteers.detect("x.csv", b"Timestamp,Nume \xc8\x99i prenume,Telefon\n")


def test_volunteers_parse_english_sheet(formats):
    result = volunteers.parse((formats / ENGLISH).read_bytes(), ENGLISH, Settings())
    shifts = result.frames["shifts"]
    assert (result.records_read, shifts.height, result.rows_quarantined) == (7, 5, 2)
    assert shifts["hours"].to_list() == [4.0, 2.5, 3.0, 2.0, 4.5]
    # the date at local midnight (EEST), as an instant
    assert str(shifts["started_at"][0]) == "2026-10-02 21:00:00+00:00"
    assert shifts["email"][3] == "maria.ene+voluntariat@gmail.com"
    assert result.quarantine.select("line_or_key", "reason").rows() == [
        ("7", "no email or phone: cannot tell who volunteered"), ("8", "hours 'trei' is not a number")]
    interactions = result.frames["interactions"]
    assert interactions["interaction_id"].to_list() == shifts["shift_id"].to_list()
    assert set(interactions["kind"]) == {"volunteer_shift"} and not interactions["awaits_answer"].any()


def test_volunteers_romanian_encodings_give_the_same_shifts(formats):
    utf8 = volunteers.parse((formats / RO_UTF8).read_bytes(), RO_UTF8, Settings())
    cp1250 = volunteers.parse((formats / RO_1250).read_bytes(), RO_1250, Settings())
    assert utf8.frames["shifts"].drop("source_line").equals(cp1250.frames["shifts"].drop("source_line"))
    assert utf8.frames["shifts"]["hours"].to_list() == [2.5, 3.0, 4.0, 1.5]
    assert utf8.frames["shifts"]["activity"][2] == "Tabără copii; logistică"
    assert utf8.quarantine["reason"].to_list() == [
        "date '30.02.2024' is not a valid date (YYYY-MM-DD or DD.MM.YYYY)"]


def test_volunteers_samples_load_and_second_encoding_is_duplicate(ingest, warehouse, formats):
    summaries = ingest(formats / ENGLISH, formats / RO_UTF8, formats / RO_1250)
    counts = [(s.rows_read, s.rows_ingested, s.rows_duplicate, s.rows_quarantined) for s in summaries]
    assert counts == [(7, 5, 0, 2), (5, 4, 0, 1), (5, 0, 4, 1)]
    assert warehouse.execute("SELECT count(*), sum(hours) FROM volunteer_shifts").fetchone() == (9, 27.0)
    assert warehouse.execute("SELECT count(*) FROM interactions WHERE channel = 'volunteer'").fetchone()[0] == 9
    # Ștefan (email + phone), Gheorghe (phone), Andrei (andreipopescu@), Maria Ene, Ioana Țurcanu
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5
    # Sânziana's row is broken: she is no contact
    assert warehouse.execute("SELECT count(*) FROM contacts WHERE full_name LIKE 'S%nziana%'").fetchone()[0] == 0
    assert warehouse.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 4


def test_volunteers_windows_1250_sheet_with_broken_rows(ingest, warehouse):
    [summary] = ingest(MINE_1250, channel="volunteers")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (
        8, 2, 1, 5)
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons == {
        "5": "email 'ștefan@' is not a valid address",
        "6": "date '30.02.2025' is not a valid date (YYYY-MM-DD or DD.MM.YYYY)",
        "7": "hours 'trei' is not a number",
        "8": "hours '25' must be more than 0 and at most 24",
        "9": "no email or phone: cannot tell who volunteered",
    }
    rows = warehouse.execute(
        "SELECT c.email, c.phone, c.full_name, s.hours, s.activity, s.started_at FROM volunteer_shifts s "
        "JOIN contacts c USING (contact_id) ORDER BY s.hours").fetchall()
    assert [(r[0], r[1], r[2], float(r[3]), r[4]) for r in rows] == [
        (None, "+40722123456", "Ana Mărginean", 0.75, "Distribuție; logistică"),
        ("ioana.turcanu@outlook.com", None, "Ioana Țurcanu", 2.5, "Strângere de fonduri")]
    assert str(rows[0][5]) == "2025-01-04 22:00:00+00:00"
    # the same sheet saved as UTF-8 adds nothing
    [again] = ingest(MINE_UTF8, channel="volunteers")
    assert (again.status, again.rows_ingested, again.rows_duplicate, again.rows_quarantined) == ("loaded", 0, 3, 5)
    assert warehouse.execute("SELECT count(*) FROM volunteer_shifts").fetchone()[0] == 2
