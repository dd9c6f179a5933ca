"""The forms preset: Google-Forms-style response sheets in Romanian and English, consent boxes, re-saves."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from legatura.transforms.channels import forms

from tests.conftest import assert_accounted, copy_sample

DATA = Path(__file__).parent / "data" / "forms"
SAMPLE = "Formular contact (Răspunsuri) - Răspunsuri formular 1.csv"


def _requests(warehouse) -> dict[str, tuple]:
    rows = warehouse.execute(
        "SELECT c.email, c.phone, c.full_name, i.occurred_at, i.subject, i.body, i.channel, i.direction, i.kind,"
        " i.awaits_answer, i.interaction_id FROM interactions i LEFT JOIN contacts c USING (contact_id)").fetchall()
    return {r[0] or r[1]: r[2:] for r in rows}


def _consents(warehouse) -> set[tuple]:
    return set(warehouse.execute("SELECT channel, address, status, source FROM consents").fetchall())


def test_forms_recognises_romanian_english_and_cedilla_headers():
    assert forms.recognise_headers(
        ["Timestamp", "Nume şi prenume", "ADRESA DE EMAIL", "Telefon", "Cum vă putem ajuta?",
         "Mesajul dumneavoastra", "Sunt de acord să primesc informări (GDPR)"]) == {
        "timestamp": "Timestamp", "full_name": "Nume şi prenume", "email": "ADRESA DE EMAIL", "phone": "Telefon",
        "subject": "Cum vă putem ajuta?", "body": "Mesajul dumneavoastra",
        "consent": "Sunt de acord să primesc informări (GDPR)"}
    assert forms.recognise_headers(["Timestamp", "First name", "Last name", "Email", "Phone *", "I consent"]) == {
        "timestamp": "Timestamp", "first_name": "First name", "last_name": "Last name", "email": "Email",
        "phone": "Phone *", "consent": "I consent"}
    assert forms.recognise_headers(["Prenume", "Nume"]) == {"first_name": "Prenume", "last_name": "Nume"}


def test_forms_detect_only_response_sheets(formats):
    assert forms.detect(SAMPLE, (formats / "forms" / SAMPLE).read_bytes())
    assert forms.detect("x.csv", (DATA / "Formular contact (Excel, Windows-1250).csv").read_bytes())
    assert forms.detect("x.csv", (DATA / "english_google_forms.csv").read_bytes())
    volunteers = formats / "volunteers" / "volunteer_hours_2026.csv"
    assert not forms.detect(volunteers.name, volunteers.read_bytes())
    assert not forms.detect("a.csv", (formats / "stripe" / "unified_payments_2026-11-12.csv").read_bytes())


@pytest.mark.parametrize("values, expected", [
    (["03/10/2026 09:12:44", "31/13/2026 25:61:00"], "%d/%m/%Y %H:%M:%S"),
    (["1/5/2027 9:05:07", "1/13/2027 17:45:00"], "%m/%d/%Y %H:%M:%S"),
    (["12/01/2027 09:05:07"], "%d/%m/%Y %H:%M:%S"),
    (["03.10.2026 09:12"], "%d.%m.%Y %H:%M"),
    (["2026-10-03T09:12:44+03:00"], None),
])
def test_forms_guess_time_format(values, expected):
    assert forms.guess_time_format(pl.Series(values)) == expected


def test_forms_sample_gives_requests_consents_and_two_quarantined(ingest, warehouse, formats):
    summaries = ingest(formats / "forms" / SAMPLE)
    assert_accounted(summaries)
    [summary] = summaries
    assert summary.channel == "forms"
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (8, 6, 2)
    requests = _requests(warehouse)
    assert len(requests) == 6
    assert {r[4:8] for r in requests.values()} == {("form", "inbound", "form_request", True)}
    ana = requests["ana.marginean@gmail.com"]
    assert ana[:3] == ("Ana Mărginean", datetime(2026, 10, 3, 6, 12, 44, tzinfo=timezone.utc),
                       "Am o întrebare despre o donație")
    assert requests["stefan.radulescu@yahoo.com"][3] == (
        "Salut!\nPot ajuta sâmbăta, la distribuția de alimente.\nAm și mașină.")
    assert '""' not in requests["maria.ene+voluntariat@gmail.com"][3]
    assert '"orice ajută"' in requests["maria.ene+voluntariat@gmail.com"][3]
    assert all(r[8].startswith("forms:") for r in requests.values())
    # Gheorghe wrote with a phone only and did not tick the box: a request, no consent
    assert requests["+40766555111"][0] == "Gheorghe Nistor"
    assert _consents(warehouse) == {
        ("email", a, "opted_in", "forms") for a in (
            "ana.marginean@gmail.com", "maria.ene+voluntariat@gmail.com", "radu.georgescu@gmx.net",
            "andreea.voicu@outlook.com")}
    assert warehouse.execute("SELECT phone FROM contacts WHERE email = 'radu.georgescu@gmx.net'").fetchone()[0] \
        == "+491601234567"
    quarantined = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert quarantined == {
        "9": "email 'ion.popescu@gmial' is not a valid address and there is no phone to know who wrote",
        "10": "Timestamp '31/13/2026 25:61:00' is not a real date and time (expected DD/MM/YYYY HH:MM:SS)"}
    # quarantined rows make no contact
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 6


def test_forms_download_again_and_excel_cp1250_resave_repeat_nothing(ingest, warehouse, formats, tmp_path):
    ingest(formats / "forms" / SAMPLE)
    # the sheet downloaded again with one more response
    sample = (formats / "forms" / SAMPLE).read_bytes()
    later = tmp_path / "later.csv"
    later.write_bytes(sample + "13/11/2026 08:00:00,Nou Venit,nou.venit@gmail.com,,Altceva,Salut,\r\n".encode())
    [again] = ingest(later, channel="forms")
    assert (again.rows_read, again.rows_ingested, again.rows_duplicate, again.rows_quarantined) == (9, 1, 6, 2)
    # Excel on a Romanian Windows: cp1250, `;`, cedilla letters in header and answers, DD.MM.YYYY times
    [resaved] = ingest(DATA / "Formular contact (Excel, Windows-1250).csv")
    assert_accounted([again, resaved])
    assert resaved.channel == "forms"
    assert (resaved.rows_read, resaved.rows_ingested, resaved.rows_duplicate, resaved.rows_quarantined) == (8, 0, 6, 2)
    assert warehouse.execute("SELECT count(*) FROM interactions").fetchone()[0] == 7
    assert warehouse.execute("SELECT count(*) FROM consent_events").fetchone()[0] == 4


def test_forms_cp1250_resave_alone_reads_cedillas_right(ingest, warehouse):
    [summary] = ingest(DATA / "Formular contact (Excel, Windows-1250).csv", channel="forms")
    assert (summary.rows_read, summary.rows_quarantined) == (8, 2)
    body = warehouse.execute("SELECT body FROM interactions i JOIN contacts c USING (contact_id) "
                             "WHERE c.email = 'stefan.radulescu@yahoo.com'").fetchone()[0]
    assert body == "Salut!\nPot ajuta sâmbăta, la distribuția de alimente.\nAm și mașină."
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons["10"] == "Timestamp '31.13.2026 25:61:00' is not a real date and time (expected DD.MM.YYYY HH:MM:SS)"


def test_forms_english_google_forms_sheet(ingest, warehouse):
    [summary] = ingest(DATA / "english_google_forms.csv")
    assert_accounted([summary])
    assert summary.channel == "forms"
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (6, 4, 2)
    requests = _requests(warehouse)
    jane = requests["jane.doe@example.org"]
    # M/D/YYYY, local time (EET in January); the extra question stays with the body
    assert jane[:2] == ("Jane Doe", datetime(2027, 1, 5, 7, 5, 7, tzinfo=timezone.utc))
    assert jane[3] == 'Hello,\nI can help on "weekends", mostly.\nThanks!\nWhich city do you live in?: Cluj'
    assert requests["+40733111222"][1] == datetime(2027, 1, 13, 15, 45, tzinfo=timezone.utc)
    # an invalid email beside a valid phone: the phone identifies; the short row keeps what it has
    assert requests["+40744999888"][0] == "Typo Mail"
    assert "short.row@example.org" not in requests   # 3 of 8 fields: cut, quarantined
    assert _consents(warehouse) == {
        ("email", "jane.doe@example.org", "opted_in", "forms"),
        ("sms", "+40733111222", "opted_in", "forms"),
        ("sms", "+40744999888", "opted_in", "forms")}
    assert warehouse.execute("SELECT line_or_key, reason, raw FROM quarantine ORDER BY 1").fetchall() == [
        ("7", "no email or phone to know who wrote", "2/2/2027 8:00:00,Nobody,,,Other,Anonymous note,,"),
        ("9", "the row has 3 fields where the header has 8 (cut short)",
         "2/4/2027 10:30:00,Short Row,short.row@example.org")]   # Jane's answer spans lines 2-4


def test_forms_iso_timestamps_with_and_without_offset(ingest, warehouse):
    [summary] = ingest(DATA / "iso_timestamps.csv", channel="forms")
    assert (summary.rows_read, summary.rows_ingested) == (3, 3)
    times = {r[0] for r in warehouse.execute("SELECT occurred_at FROM interactions").fetchall()}
    # all three are the same instant: +03:00, naive Bucharest summer time, and Z
    assert times == {datetime(2026, 10, 3, 6, 12, 44, tzinfo=timezone.utc)}


def test_forms_without_identity_columns_says_to_add_a_mapping():
    with pytest.raises(forms.NotAFormsExport, match=r"\[mappings.<name>\]"):
        forms.parse(b"Timestamp,Question\n03/10/2026 09:12:44,x\n", "q.csv", None)


def test_forms_copy_of_sample_is_already_ingested(ingest, formats, tmp_path):
    ingest(formats / "forms" / SAMPLE)
    copy = copy_sample(formats / "forms" / SAMPLE, tmp_path / "dl", "Formular (1).csv")
    [summary] = ingest(copy, channel="forms")
    assert summary.status == "already_ingested" and summary.rows_duplicate == 8


def test_forms_row_with_more_fields_than_the_header_is_quarantined(ingest, warehouse, tmp_path):
    sheet = tmp_path / "raspunsuri.csv"
    sheet.write_bytes(
        "Timestamp,Nume și prenume,Adresa de email,Mesajul dumneavoastră\r\n"
        "03/10/2026 09:12:44,Ana Mărginean,ana.marginean@gmail.com,Bună ziua\r\n"
        "03/10/2026 10:00:00,Dan Pop,dan.pop@gmail.com,Salut, am o întrebare\r\n".encode())
    [summary] = ingest(sheet, channel="forms")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (2, 1, 1)
    assert warehouse.execute("SELECT line_or_key, reason, raw FROM quarantine").fetchall() == [
        ("3", "the row has 5 fields where the header has 4",
         "03/10/2026 10:00:00,Dan Pop,dan.pop@gmail.com,Salut, am o întrebare")]   # the row as written
