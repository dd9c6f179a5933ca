"""The paypal preset: PayPal's own download and its Excel round trips, refunds, overlaps, broken rows."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from legatura.transforms.channels import paypal

from tests.conftest import assert_accounted

DATA = Path(__file__).parent / "data" / "paypal"


def _gifts(warehouse) -> dict[str, tuple]:
    rows = warehouse.execute(
        "SELECT donation_id, amount, amount_refunded, currency, net_amount_base, recurring, donated_at, "
        "(SELECT email FROM contacts c WHERE c.contact_id = d.contact_id) FROM donations d").fetchall()
    return {r[0]: (float(r[1]), float(r[2]), r[3], float(r[4]), r[5], r[6], r[7]) for r in rows}


def test_paypal_detect_knows_both_sample_layouts(formats):
    for path in (formats / "paypal").iterdir():
        assert paypal.detect(path.name, path.read_bytes()[:65536]), path.name
    stripe = formats / "stripe" / "unified_payments_2026-11-12.csv"
    assert not paypal.detect(stripe.name, stripe.read_bytes())


def test_paypal_original_download_loads_gifts_and_refund(ingest, warehouse, formats):
    summaries = ingest(formats / "paypal" / "Download.CSV")
    assert_accounted(summaries)
    [summary] = summaries
    assert summary.channel == "paypal"
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (8, 8, 0)
    gifts = _gifts(warehouse)
    assert len(gifts) == 6
    # EEST is UTC+3; the thousands comma is read as such
    assert gifts["paypal:5TY81927MN3360214"][5] == datetime(2026, 10, 2, 6, 14, 27, tzinfo=timezone.utc)
    assert gifts["paypal:3RU04561AB2274408"][:2] == (2500.0, 0.0)
    # the double payment's refund row names it by Reference Txn ID
    assert gifts["paypal:6WP35729CD1190347"][:4] == (2500.0, 2500.0, "RON", 0.0)
    assert gifts["paypal:0JH22384VW906752C"][2:4] == ("EUR", round(25 * 4.97, 2))
    assert gifts["paypal:8KD77512PL4430951"][4] is True
    assert gifts["paypal:2LQ66310JK8845093"][6] == "ana.marginean@gmail.com"
    assert warehouse.execute("SELECT count(*) FROM donation_refunds").fetchone()[0] == 1
    # the withdrawal is nobody; the NGO's own address is never a contact
    emails = {r[0] for r in warehouse.execute("SELECT email FROM contacts").fetchall()}
    assert emails == {"stefan.radulescu@yahoo.com", "mihai.dragan@web.de", "ioana.turcanu@outlook.com",
                      "elena.constantinescu@gmail.com", "ana.marginean@gmail.com"}
    assert warehouse.execute("SELECT phone FROM contacts WHERE email = 'mihai.dragan@web.de'").fetchone()[0] \
        == "+4915123456789"


def test_paypal_excel_round_trip_quarantines_two_broken_rows(ingest, warehouse, formats):
    [summary] = ingest(formats / "paypal" / "Download_2025-11 (salvat din Excel).csv", channel="paypal")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (6, 4, 2)
    gifts = _gifts(warehouse)
    assert sorted(gifts) == ["paypal:4CD33871ZZ0091245", "paypal:7AB12093XY5567001", "paypal:9EF77120QR3381906"]
    assert gifts["paypal:7AB12093XY5567001"][0] == 1234.50            # `1.234,50`
    assert gifts["paypal:7AB12093XY5567001"][5] == datetime(2025, 11, 14, 9, 20, tzinfo=timezone.utc)  # EET
    names = {r[0] for r in warehouse.execute("SELECT full_name FROM contacts").fetchall()}
    assert "Ștefan Rădulescu" in names                                # cedilla Ş folded to comma-below Ș
    quarantined = warehouse.execute("SELECT line_or_key, reason FROM quarantine ORDER BY line_or_key").fetchall()
    assert quarantined == [("6", "empty Transaction ID"),
                           ("7", "date '31/02/2025 09:00:00 EET' is not a real DD/MM/YYYY HH:MM:SS time")]
    # a quarantined record creates no contact
    assert warehouse.execute("SELECT count(*) FROM contacts WHERE email LIKE 'cristina%'").fetchone()[0] == 0


def test_paypal_both_samples_give_nine_gifts_and_the_expected_totals(ingest, warehouse, formats):
    summaries = ingest(formats / "paypal")
    assert_accounted(summaries)
    assert sorted(s.rows_quarantined for s in summaries) == [0, 2]
    totals = dict(warehouse.execute(
        "SELECT currency, sum(amount - amount_refunded) FROM donations GROUP BY currency").fetchall())
    assert len(_gifts(warehouse)) == 9
    assert {k: float(v) for k, v in totals.items()} == {"RON": 3964.50, "EUR": 75.00}
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5
    # both again: nothing twice
    again = ingest(formats / "paypal")
    assert all(s.status == "unchanged" for s in again)
    assert len(_gifts(warehouse)) == 9


def test_paypal_overlapping_download_adds_no_gift_twice(ingest, warehouse, formats):
    ingest(formats / "paypal" / "Download.CSV")
    [summary] = ingest(DATA / "Download_2026-10-13_to_2026-11-05.CSV")
    assert_accounted([summary])
    # the refund, Ana's gift and the withdrawal were all seen before; one new gift
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate) == (4, 1, 3)
    assert warehouse.execute("SELECT reason FROM ignored_records").fetchall() == [("General Withdrawal: not a gift",)]
    gifts = _gifts(warehouse)
    assert len(gifts) == 7
    assert gifts["paypal:6WP35729CD1190347"][1] == 2500.0             # the refund counted once
    assert warehouse.execute("SELECT count(*) FROM donation_refunds").fetchone()[0] == 1


def test_paypal_refund_in_an_earlier_file_than_its_gift(ingest, warehouse):
    [refund] = ingest(DATA / "Download_2026-09-25_refund.CSV")
    assert (refund.rows_read, refund.rows_ingested) == (1, 1)
    assert warehouse.execute("SELECT count(*) FROM donations").fetchone()[0] == 0
    [gifts_file] = ingest(DATA / "Download_2026-09_gifts.CSV")
    assert_accounted([refund, gifts_file])
    assert (gifts_file.rows_read, gifts_file.rows_quarantined) == (6, 1)
    gifts = _gifts(warehouse)
    assert gifts["paypal:7QW12345AB0000001"][:2] == (100.0, 40.0)
    assert gifts["paypal:7QW12345AB0000001"][3] == 60.0
    assert gifts["paypal:7QW12345AB0000002"][:4] == (1250.0, 0.0, "EUR", round(1250 * 4.97, 2))
    # a pending payment is no gift, but its payer is a contact; the refund's donor is its To address
    assert sorted(gifts) == ["paypal:7QW12345AB0000001", "paypal:7QW12345AB0000002", "paypal:7QW12345AB0000003"]
    contacts = dict(warehouse.execute("SELECT email, phone FROM contacts").fetchall())
    assert set(contacts) == {"dan.vasile@yahoo.com", "greta.wolf@web.de", "pavel.lungu@gmail.com", "rita.pop@gmail.com"}
    assert contacts["dan.vasile@yahoo.com"] == "+40721000111"
    assert gifts["paypal:7QW12345AB0000001"][6] == "dan.vasile@yahoo.com"
    [reason] = warehouse.execute("SELECT reason FROM quarantine").fetchone()
    assert reason == "Payment Refund without a Reference Txn ID: cannot tell which gift it returns"


def test_paypal_excel_utf8_bom_semicolons_and_unknown_zone(ingest, warehouse):
    [summary] = ingest(DATA / "Download_excel_utf8_bom.csv", channel="paypal")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (3, 2, 1)
    gifts = _gifts(warehouse)
    # MSK is no abbreviation legatura knows: the organisation's timezone (EET in December) applies
    assert gifts["paypal:8UT00000000000001"][0] == 1234.50
    assert gifts["paypal:8UT00000000000001"][5] == datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    assert gifts["paypal:8UT00000000000002"][5] == datetime(2026, 7, 2, 8, 0, tzinfo=timezone.utc)  # CEST
    assert warehouse.execute("SELECT reason FROM quarantine").fetchone()[0] == "Gross '#VALUE!' is not a number"


def test_paypal_cp1250_cedillas_quoted_semicolon_and_ragged_row(ingest, warehouse):
    [summary] = ingest(DATA / "Download_cp1250_cedilla.csv", channel="paypal")
    assert_accounted([summary])
    assert (summary.rows_read, summary.rows_quarantined) == (4, 2)
    rows = warehouse.execute(
        "SELECT d.donation_id, d.amount, d.campaign, d.recurring, c.full_name FROM donations d "
        "JOIN contacts c USING (contact_id) ORDER BY 1").fetchall()
    assert [(r[0], float(r[1]), r[2], r[3], r[4]) for r in rows] == [
        ("paypal:9CP00000000000001", 2500.0, "Donație Școala de vară", False, "Țurcanu Șerban"),
        ("paypal:9CP00000000000002", 50.0, None, True, "Țurcanu Șerban"),
    ]
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons == {"4": "the row has 20 fields where the header has 41 (cut short)",
                       "5": "donor email 'ion badea@gmail' is not a valid address"}


@pytest.mark.parametrize("zone, expected_hour", [("EET", 8), ("EEST", 7), ("UTC", 10), ("", 8)])
def test_paypal_time_zone_abbreviations(zone, expected_hour):
    import polars as pl

    frame = pl.DataFrame({"d": ["15/01/2026"], "t": ["10:00:00"], "z": [zone]})
    value = frame.select(paypal.paypal_time(pl.col("d"), pl.col("t"), pl.col("z"), "Europe/Bucharest")).item()
    assert value.hour == expected_hour


def test_paypal_and_stripe_samples_give_the_readme_gift_totals(ingest, warehouse, formats):
    summaries = ingest(formats / "stripe", formats / "paypal")
    assert_accounted(summaries)
    assert sum(s.rows_quarantined for s in summaries) == 3 + 2
    count, ron, eur = warehouse.execute(
        "SELECT count(*), sum(amount - amount_refunded) FILTER (WHERE currency = 'RON'),"
        " sum(amount - amount_refunded) FILTER (WHERE currency = 'EUR') FROM donations").fetchone()
    assert (count, float(ron), float(eur)) == (17, 4464.50, 95.00)


def test_paypal_row_with_extra_fields_is_quarantined(ingest, warehouse, tmp_path):
    lines = (DATA / "Download_2026-09_gifts.CSV").read_bytes().split(b"\r\n")
    lines[1] = lines[1] + b',"spilled"'
    path = tmp_path / "Download.CSV"
    path.write_bytes(b"\r\n".join(lines))
    [summary] = ingest(path, channel="paypal")
    assert_accounted([summary])
    assert summary.rows_quarantined == 2
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons["2"] == "the row has 42 fields where the header has 41"
    assert "paypal:7QW12345AB0000001" not in _gifts(warehouse)
