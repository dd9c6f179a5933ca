"""The same export re-saved by Excel on a Romanian Windows (cp1250, `;`, decimal comma, CRLF, BOM) loads the same."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

CEDILLA = str.maketrans({"ș": "ş", "ț": "ţ", "Ș": "Ş", "Ț": "Ţ"})
DECIMAL = re.compile(r"^-?\d+\.\d+$")

SAMPLES = {
    "stripe": "stripe/unified_payments_2026-11-12.csv",
    "mailchimp": "mailchimp/audience_export_2026-11-10/subscribed_members_export_c41e08b6f2.csv",
    "forms": "forms/Formular contact (Răspunsuri) - Răspunsuri formular 1.csv",
    "eventbrite": "eventbrite/gala-2025_attendees_2025-12-06_after-event.csv",
    "volunteers": "volunteers/volunteer_hours_2026.csv",
}


def resave(raw: bytes, how: str) -> bytes:
    """What Excel (or a colleague) does to a CSV: the content kept, the bytes changed."""
    text = raw.decode("utf-8-sig")
    if how == "bom-crlf":
        return "\ufeff".encode() + text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in rows:
        writer.writerow([v.replace(".", ",") if DECIMAL.match(v) else v for v in row])
    return out.getvalue().translate(CEDILLA).encode("cp1250", errors="replace")


def facts(warehouse) -> dict:
    q = lambda sql: warehouse.execute(sql).fetchall()  # noqa: E731
    return {
        "contacts": q("SELECT count(*), count(email), count(phone) FROM contacts"),
        "donations": q("SELECT count(*), sum(amount), sum(amount_refunded) FROM donations"),
        "interactions": q("SELECT channel, kind, count(*) FROM interactions GROUP BY ALL ORDER BY ALL"),
        "shifts": q("SELECT count(*), sum(hours) FROM volunteer_shifts"),
        "consents": q("SELECT channel, status, count(*) FROM consents GROUP BY ALL ORDER BY ALL"),
        "quarantine": q("SELECT count(*) FROM quarantine"),
    }


@pytest.mark.parametrize("how", ["bom-crlf", "excel-ro"])
@pytest.mark.parametrize("channel", sorted(SAMPLES))
def test_resaved_export_gives_the_same_rows(channel, how, formats, tmp_path, settings):
    from legatura.flows.ingest import ingest_paths
    from legatura.warehouse import db

    original = (formats / SAMPLES[channel]).read_bytes()
    results = []
    for name, data in (("original", original), (how, resave(original, how))):
        path = tmp_path / name / Path(SAMPLES[channel]).name
        path.parent.mkdir()
        path.write_bytes(data)
        con = db.connect(tmp_path / name / "w.duckdb")
        db.migrate(con)
        [summary] = ingest_paths(con, [path], settings)   # the layout is recognised, not named
        assert summary.channel == channel and summary.status == "loaded", summary
        results.append(((summary.rows_read, summary.rows_ingested, summary.rows_quarantined), facts(con)))
        con.close()
    assert results[1] == results[0]


def test_utf16_tab_separated_excel_unicode_text_loads_like_the_original(formats, tmp_path, settings):
    """Excel's "Unicode text" save: UTF-16 with a BOM, tab-separated."""
    from legatura.flows.ingest import ingest_paths
    from legatura.warehouse import db

    original = (formats / SAMPLES["stripe"]).read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(original)))
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\r\n").writerows(rows)
    path = tmp_path / "unified_payments.txt"
    path.write_bytes(out.getvalue().encode("utf-16"))
    con = db.connect(tmp_path / "w.duckdb")
    db.migrate(con)
    [summary] = ingest_paths(con, [path], settings)   # recognised as Stripe despite the encoding
    assert (summary.channel, summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (
        "stripe", 12, 9, 3)
    assert con.execute("SELECT count(*) FROM donations").fetchone()[0] == 8


@pytest.mark.parametrize("channel", sorted([*SAMPLES, "paypal"]))
def test_a_row_with_extra_fields_is_quarantined_not_truncated(channel, formats, tmp_path, settings):
    """Whatever the preset, a record with more (non-empty) fields than the header loses nothing silently."""
    from legatura.flows.ingest import ingest_paths
    from legatura.warehouse import db

    sample = SAMPLES.get(channel, "paypal/Download.CSV")
    text = (formats / sample).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    rows[1] = [*rows[1], "a stray cell"]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    results = []
    for name, data in (("original", text), ("ragged", out.getvalue())):
        path = tmp_path / name / Path(sample).name
        path.parent.mkdir()
        path.write_text(data, encoding="utf-8")
        con = db.connect(tmp_path / name / "w.duckdb")
        db.migrate(con)
        [summary] = ingest_paths(con, [path], settings, channel=channel)
        reasons = [r[0] for r in con.execute("SELECT reason FROM quarantine WHERE line_or_key = '2'").fetchall()]
        results.append((summary.rows_read, summary.rows_quarantined, reasons))
        con.close()
    (read, quarantined, _), (read_after, quarantined_after, reasons) = results
    assert (read_after, quarantined_after) == (read, quarantined + 1)
    assert any(f"{len(rows[0]) + 1} fields where the header has {len(rows[0])}" in r for r in reasons), reasons
