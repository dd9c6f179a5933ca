"""The mailchimp preset: audience snapshots, tags, email consent history, cleaned addresses."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from legatura.transforms.channels import mailchimp

from tests.conftest import assert_accounted

DATA = Path(__file__).parent / "data" / "mailchimp"


def _by_name(summaries) -> dict[str, tuple[int, int, int, int]]:
    return {Path(s.path).name.split("_members")[0]: (s.rows_read, s.rows_ingested, s.rows_duplicate,
                                                     s.rows_quarantined) for s in summaries}


def _consents(warehouse) -> dict[str, tuple]:
    rows = warehouse.execute("SELECT address, status, recorded_at, source, contact_id FROM consents "
                             "WHERE channel = 'email'").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_mailchimp_detect_by_header_and_name(formats):
    folder = formats / "mailchimp" / "audience_export_2026-11-10"
    for path in folder.iterdir():
        assert mailchimp.detect(path.name, path.read_bytes())
    assert mailchimp.detect("cleaned_members_export_x.csv", b'"Email Address","First Name"\n')
    assert not mailchimp.detect("members.csv", b'"Email Address","First Name"\n')
    assert mailchimp.member_status(["Email Address"], "x/unsubscribed_members_export_1.csv") == "unsubscribed"


def test_mailchimp_parse_tags():
    frame = pl.DataFrame({"t": ['"Donator","Newsletter"', '"Donator lunar"', "", None, "Presă, Gala 2025"]})
    assert frame.select(mailchimp.parse_tags(pl.col("t"))).to_series().to_list() == [
        ["Donator", "Newsletter"], ["Donator lunar"], [], [], ["Presă", "Gala 2025"]]


def test_mailchimp_sample_export_gives_contacts_tags_consents_and_suppression(ingest, warehouse, formats):
    summaries = ingest(formats / "mailchimp")
    assert_accounted(summaries)
    assert {s.channel for s in summaries} == {"mailchimp"}
    assert _by_name(summaries) == {"cleaned": (1, 1, 0, 0), "subscribed": (6, 6, 0, 0),
                                   "unsubscribed": (2, 2, 0, 0)}
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 9
    ana = warehouse.execute("SELECT full_name, phone, tags FROM contacts WHERE email = 'ana.marginean@gmail.com'"
                            ).fetchone()
    assert ana == ("Ana Mărginean", "+40722123456", ["Donator", "Newsletter"])
    consents = _consents(warehouse)
    assert {a: c[0] for a, c in consents.items()} == {
        "ana.marginean@gmail.com": "opted_in", "ioana.turcanu@outlook.com": "opted_in",
        "stefan.radulescu@yahoo.com": "opted_in", "radu.georgescu@gmx.net": "opted_in",
        "maria.ene+voluntariat@gmail.com": "opted_in", "gabriel.dobre@icloud.com": "opted_in",
        "cristina.balan@gmail.com": "opted_out", "florin.neagu@yahoo.ro": "opted_out"}
    # CONFIRM_TIME (double opt-in) when there is one; a member imported without OPTIN_TIME still has it
    assert consents["ana.marginean@gmail.com"][1] == datetime(2024, 3, 15, 10, 25, 2, tzinfo=timezone.utc)
    assert consents["stefan.radulescu@yahoo.com"][1] == datetime(2021, 5, 10, 12, 0, tzinfo=timezone.utc)
    assert consents["cristina.balan@gmail.com"][1:3] == (datetime(2026, 10, 15, 20, 31, 9, tzinfo=timezone.utc),
                                                         "mailchimp")
    assert all(c[3] is not None for c in consents.values())
    # the history keeps the opt-in before the opt-out
    assert warehouse.execute("SELECT count(*) FROM consent_events").fetchone()[0] == 10
    assert warehouse.execute("SELECT channel, address, reason, recorded_at FROM suppressions").fetchall() == [
        ("email", "vechi.adresa@yahoo.com", "cleaned", datetime(2025, 3, 5, 11, 11, 11, tzinfo=timezone.utc))]


def test_mailchimp_later_snapshot_repeats_are_duplicates_and_unsubscribe_wins(ingest, warehouse, formats):
    ingest(formats / "mailchimp")
    summaries = ingest(DATA / "audience_export_2026-12-01")
    assert_accounted(summaries)
    # five members repeated unchanged, one new; Ana unsubscribed (her opt-in repeats, her opt-out is new)
    assert _by_name(summaries) == {"cleaned": (1, 0, 1, 0), "subscribed": (6, 1, 5, 0),
                                   "unsubscribed": (3, 1, 2, 0)}
    consents = _consents(warehouse)
    assert consents["ana.marginean@gmail.com"][:2] == (
        "opted_out", datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc))
    assert consents["nou.membru@gmail.com"][0] == "opted_in"
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 10
    assert warehouse.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 1


def test_mailchimp_excel_resave_bom_multiline_notes_and_broken_emails(ingest, warehouse):
    [summary] = ingest(DATA / "nasty" / "subscribed_members_export_0badc0ffee.csv")
    assert_accounted([summary])
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (4, 2, 2)
    contacts = {r[0]: r[1:] for r in warehouse.execute("SELECT email, full_name, phone, tags FROM contacts").fetchall()}
    assert contacts == {"mixed.case@gmail.com": ("Irina Șerban", "+40744555666", ["Donator", "Voluntar"]),
                        "doar.nume@gmail.com": ("Doar", None, ["Presă"])}
    # no OPTIN_TIME / CONFIRM_TIME: LAST_CHANGED dates the opt-in
    assert _consents(warehouse)["mixed.case@gmail.com"][1] == datetime(2025, 5, 5, 5, 5, 5, tzinfo=timezone.utc)
    # the multi-line record starts on line 2, so the broken ones are on lines 4 and 5
    assert warehouse.execute("SELECT line_or_key, reason FROM quarantine ORDER BY 1").fetchall() == [
        ("4", "no Email Address"), ("5", "Email Address 'cineva@' is not a valid address")]


def test_mailchimp_cp1250_semicolon_unsubscribe(ingest, warehouse, formats):
    ingest(formats / "mailchimp" / "audience_export_2026-11-10" / "subscribed_members_export_c41e08b6f2.csv")
    [summary] = ingest(DATA / "nasty" / "unsubscribed_members_export_excel.csv", channel="mailchimp")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (1, 1, 0)
    assert _consents(warehouse)["stefan.radulescu@yahoo.com"][0] == "opted_out"
    assert warehouse.execute("SELECT full_name FROM contacts WHERE email = 'stefan.radulescu@yahoo.com'"
                             ).fetchone()[0] == "Ștefan Rădulescu"


def test_mailchimp_row_with_extra_fields_is_quarantined(ingest, warehouse, tmp_path):
    export = tmp_path / "subscribed_members_export_abc.csv"
    export.write_text('"Email Address","First Name","Last Name",CONFIRM_TIME,TAGS\n'
                      'a@example.org,A,B,"2026-01-01 10:00:00",\n'
                      'c@example.org,C,D,"2026-01-01 10:00:00",,"""Donator"""\n')
    [summary] = ingest(export, channel="mailchimp")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (2, 1, 1)
    assert warehouse.execute("SELECT reason FROM quarantine").fetchone()[0] == \
        "the row has 6 fields where the header has 5"
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1
