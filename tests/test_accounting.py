"""Record-level accounting: every record of every file has exactly one outcome, and the ledger counts them."""
from __future__ import annotations

import sys
import types
from decimal import Decimal

import polars as pl
import pytest
from legatura.flows import load
from legatura.transforms import channels
from legatura.transforms.accounting import outcome_counts, record_outcomes
from legatura.transforms.channels import stripe
from legatura.warehouse.db import check_invariants

from tests.conftest import assert_accounted

HEADER = "id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email\n"
ROWS = ["ch_1,2026-01-05 10:00:00,5.00,0.00,ron,Paid,a@x.ro",
        "ch_2,2026-01-05 11:00:00,7.00,0.00,ron,Paid,b@x.ro",
        "ch_3,2026-01-05 12:00:00,9.00,0.00,ron,Paid,c@x.ro",
        "ch_4,,9.00,0.00,ron,Paid,c@x.ro",
        "ch_5,2026-01-05 13:00:00,3.00,0.00,usd,Paid,d@x.ro"]


def _outcomes(con, file_id: int) -> list[tuple[int, str]]:
    return con.execute("SELECT record_no, outcome FROM record_outcomes WHERE file_id = ? ORDER BY record_no",
                       [file_id]).fetchall()


def test_accounting_every_record_has_its_outcome_and_quarantine_rows_their_number(ingest, warehouse, tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(HEADER + ROWS[0] + "\n")
    ingest(first, channel="stripe")
    path = tmp_path / "b.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    [summary] = ingest(path, channel="stripe")
    # record 4 has no date (the preset quarantines it), record 5 a currency without a rate (validation does)
    assert _outcomes(warehouse, summary.file_id) == [
        (1, "duplicate"), (2, "loaded"), (3, "loaded"), (4, "quarantined"), (5, "quarantined")]
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (5, 2, 1, 2)
    assert warehouse.execute("SELECT record_no, line_or_key FROM quarantine WHERE file_id = ? ORDER BY 1",
                             [summary.file_id]).fetchall() == [(4, "5"), (5, "6")]
    assert warehouse.execute("SELECT first_record, last_record, outcome FROM record_outcome_ranges "
                             "WHERE file_id = ? ORDER BY 1", [summary.file_id]).fetchall() == [
        (1, 1, "duplicate"), (2, 3, "loaded"), (4, 5, "quarantined")]
    assert_accounted([summary])
    assert check_invariants(warehouse) == {}


def test_accounting_copies_and_unreadable_files_have_outcomes_too(ingest, warehouse, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "\n".join(ROWS[:3]) + "\n")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    broken = tmp_path / "broken.csv"
    broken.write_text("Data,Suma\n01.02.2026,100\n")
    summaries = ingest(path, copy, channel="stripe") + ingest(broken, channel="stripe")
    assert [s.status for s in summaries] == ["loaded", "already_ingested", "failed"]
    assert _outcomes(warehouse, summaries[1].file_id) == [(1, "duplicate"), (2, "duplicate"), (3, "duplicate")]
    assert _outcomes(warehouse, summaries[2].file_id) == [(1, "quarantined")]
    assert warehouse.execute("SELECT record_no FROM quarantine WHERE file_id = ?",
                             [summaries[2].file_id]).fetchall() == [(1,)]
    assert_accounted(summaries)


def test_accounting_check_finds_a_record_without_outcome_and_counts_not_counted(ingest, warehouse, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    [summary] = ingest(path, channel="stripe")
    assert check_invariants(warehouse) == {}
    # as if a record had been lost on the way: its outcome is gone while the ledger still says 5 read
    warehouse.execute("DELETE FROM record_outcome_ranges WHERE file_id = ? AND outcome = 'loaded'", [summary.file_id])
    warehouse.execute("INSERT INTO record_outcome_ranges VALUES (?, 1, 2, 'loaded')", [summary.file_id])
    problems = [row[2] for row in check_invariants(warehouse)["record_outcomes"]]
    assert problems == ["records 3..3 have no outcome",
                        "the ledger says loaded 3, duplicate 0, quarantined 2; its outcomes count 2, 0, 2"]
    with pytest.raises(AssertionError):
        assert_accounted([summary])


def test_accounting_check_finds_records_with_two_outcomes_and_stray_quarantine_rows(ingest, warehouse, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    [summary] = ingest(path, channel="stripe")
    warehouse.execute("INSERT INTO record_outcome_ranges VALUES (?, 2, 2, 'quarantined')", [summary.file_id])
    warehouse.execute("INSERT INTO quarantine (source_file, line_or_key, reason, file_id, record_no) "
                      "VALUES (?, '9', 'x', ?, 9)", [str(path), summary.file_id])
    problems = {row[2] for row in check_invariants(warehouse)["record_outcomes"]}
    assert "records 2..2 have more than one outcome" in problems
    assert ("3 records quarantined but 3 quarantine rows (0 without a record number, 1 for records not "
            "quarantined, 0 records named twice)") in problems


# --- a preset that loses a record, registered only here -----------------------------------------------------

def _leaky_parse(raw: bytes, source: str, settings):
    """Stripe's reader, but the gift of the file's second record never reaches any frame."""
    parsed = stripe.parse(raw, source, settings)
    parsed.frames = {name: frame.filter(pl.col("record_no") != 1) for name, frame in parsed.frames.items()}
    return parsed


def _doubling_parse(raw: bytes, source: str, settings):
    """Stripe's reader, but the first record is quarantined and loaded as well."""
    parsed = stripe.parse(raw, source, settings)
    extra = pl.DataFrame({"record_no": [0], "line_or_key": ["2"], "reason": ["doubled"], "raw": ["?"]},
                         schema=channels.QUARANTINE_SCHEMA)
    parsed.quarantine = pl.concat([parsed.quarantine, extra])
    return parsed


@pytest.fixture
def broken_presets(monkeypatch):
    """Register the presets `leaky` and `doubling` for this test only."""
    presets = (*channels.PRESETS, "leaky", "doubling")
    monkeypatch.setattr(channels, "PRESETS", presets)
    monkeypatch.setattr(load, "PRESETS", presets)
    for name, parse in (("leaky", _leaky_parse), ("doubling", _doubling_parse)):
        module = types.ModuleType(f"legatura.transforms.channels.{name}")
        module.parse, module.detect = parse, (lambda name, head: False)
        monkeypatch.setitem(sys.modules, module.__name__, module)


def test_accounting_a_preset_that_drops_a_record_is_reported_and_nothing_kept(broken_presets, ingest, warehouse,
                                                                             tmp_path):
    path = tmp_path / "leaky.csv"
    path.write_text(HEADER + "\n".join(ROWS[:3]) + "\n")
    [summary] = ingest(path, channel="leaky")
    assert summary.status == "failed"
    assert "records 2..2 have no outcome" in summary.error and "a bug in the preset" in summary.error
    assert warehouse.execute("SELECT count(*) FROM donations").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone() == (0,)
    assert warehouse.execute("SELECT line_or_key, reason LIKE '%UnaccountedRecords%' FROM quarantine").fetchall() == [
        ("file", True)]
    assert_accounted([summary])   # failed whole: one record, quarantined


def test_accounting_the_check_itself_catches_the_dropping_preset(broken_presets, ingest, warehouse, tmp_path,
                                                                 monkeypatch):
    # without the loader's guard the file commits as if all were well: the warehouse check still finds it
    monkeypatch.setattr(load, "_assert_accounted", lambda con, summaries: None)
    path = tmp_path / "leaky.csv"
    path.write_text(HEADER + "\n".join(ROWS[:3]) + "\n")
    [summary] = ingest(path, channel="leaky")
    assert summary.status == "loaded" and summary.rows_read == 3
    assert summary.rows_ingested + summary.rows_duplicate + summary.rows_quarantined == 2   # counted, not derived
    problems = [row[2] for row in check_invariants(warehouse)["record_outcomes"]]
    assert problems == ["records 2..2 have no outcome"]
    with pytest.raises(AssertionError):
        assert_accounted([summary])


def test_accounting_a_preset_that_doubles_a_record_is_reported(broken_presets, ingest, warehouse, tmp_path):
    path = tmp_path / "doubling.csv"
    path.write_text(HEADER + "\n".join(ROWS[:3]) + "\n")
    [summary] = ingest(path, channel="doubling")
    assert summary.status == "failed" and "records 1..1 have more than one outcome" in summary.error


def test_accounting_a_batch_of_files_with_one_leaky_file_keeps_the_others(broken_presets, ingest, warehouse,
                                                                          tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for name, rows in (("a.csv", ROWS[:1]), ("b.csv", ROWS[1:3]), ("c.csv", ROWS[3:4])):
        (folder / name).write_text(HEADER + "\n".join(rows) + "\n")
    summaries = {s.path.rsplit("/", 1)[-1]: s for s in ingest(folder, channel="leaky")}
    # record 2 of a.csv does not exist; b.csv loses its second record; c.csv's only record is quarantined
    assert {n: s.status for n, s in summaries.items()} == {"a.csv": "loaded", "b.csv": "failed", "c.csv": "loaded"}
    assert_accounted(list(summaries.values()))
    assert warehouse.execute("SELECT donation_id FROM donations").fetchall() == [("stripe:ch_1",)]


# --- the outcome ranges, from literal record numbers -------------------------------------------------------

def test_record_outcomes_runs_break_at_files_outcomes_and_gaps():
    ranges = record_outcomes(quarantined=pl.Series([1, 6]), seen=pl.Series([0, 0, 2, 3, 4, 5, 7]),
                             fresh=pl.Series([0, 2, 7]), bases=[0, 5])
    assert ranges.rows() == [(0, 1, 1, "loaded"), (0, 2, 2, "quarantined"), (0, 3, 3, "loaded"),
                             (0, 4, 5, "duplicate"), (1, 1, 1, "duplicate"), (1, 2, 2, "quarantined"),
                             (1, 3, 3, "loaded")]
    assert outcome_counts(ranges, 3).rows() == [(0, 2, 2, 1), (1, 1, 1, 1), (2, 0, 0, 0)]


def test_record_outcomes_keep_a_gap_and_a_double_outcome_visible():
    ranges = record_outcomes(quarantined=pl.Series([2]), seen=pl.Series([0, 1, 2, 4]), fresh=pl.Series([0, 1, 2, 4]),
                             bases=[0])
    assert ranges.rows() == [(0, 1, 3, "loaded"), (0, 3, 3, "quarantined"), (0, 5, 5, "loaded")]


def test_accounting_a_warehouse_from_before_record_outcomes_migrates_and_checks_clean(tmp_path, settings):
    from legatura.flows.ingest import ingest_paths
    from legatura.warehouse import db

    con = db.connect(tmp_path / "old.duckdb")
    con.execute("CREATE TABLE schema_migrations (version VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
    for path in sorted((db.SQL_ROOT / "migrations").glob("*.sql")):
        if path.stem < "009":
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [path.stem])
    # what the loader wrote then: a ledger row without file_id, a gift without its rate
    con.execute("INSERT INTO ingested_files (path, sha256, channel, rows_read, rows_ingested) "
                "VALUES ('old.csv', 'x', 'stripe', 1, 1)")
    con.execute("INSERT INTO donations (donation_id, amount, currency, amount_base, net_amount_base, donated_at, "
                "source) VALUES ('stripe:ch_1', 10.00, 'EUR', 49.70, 49.70, '2026-01-05 10:00:00+00', 'stripe')")
    db.migrate(con)
    assert con.execute("SELECT fx_rate FROM donations").fetchall() == [(Decimal("4.97"),)]
    assert check_invariants(con) == {}
    # a later export refunds 7.50 of the old gift: the fold converts what is left at the gift's own rate
    later = tmp_path / "later.csv"
    later.write_text(HEADER.replace("Customer Email", "Customer Email,Refunded date (UTC)")
                     + "ch_1,2026-01-05 10:00:00,10.00,7.50,eur,Paid,a@x.ro,2026-01-09 10:00:00\n")
    [summary] = ingest_paths(con, [later], settings, channel="stripe")
    assert (summary.rows_ingested, summary.rows_duplicate) == (1, 0)   # the refund is new
    assert con.execute("SELECT net_amount_base FROM donations").fetchall() == [(Decimal("12.43"),)]
    assert check_invariants(con) == {}
    con.close()
