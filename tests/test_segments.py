"""Segments, donor measures, RFM, retention and membership history on hand-built data (answers by hand)."""
from __future__ import annotations

import calendar
import shutil
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from legatura.flows.config import Settings
from legatura.flows.segment import SegmentError, compute_segments, segment_warehouse
from legatura.transforms.segments import segment_name_problem, segment_parameters
from legatura.warehouse import db

DATA = Path(__file__).parent / "data" / "segments"
AS_OF = date(2026, 3, 15)

# as of 2026-03-15; the reason for each member is beside its row in tests/data/segments/people.sql
EXPECTED = {
    "donor_active": {2, 3, 4, 6, 7, 8, 9},
    "donor_first_time": {4, 6},
    "donor_recurring": {8},
    "donor_major": {7},
    "donor_lybunt": {1, 2, 4},
    "donor_sybunt": {10, 11},
    "donor_lapsed": {1, 10},
    "volunteer_new": {13},
    "volunteer_active": {12, 13},
    "volunteer_lapsed": {14},
    "partner_prospect": {23, 27},
    "partner_active": {20, 21, 24, 25, 26},
    "partner_renewal_due": {20, 25},   # Zeta's agreement ends today: due even with its renewal signed
    "partner_past": {22},
    "partner_sponsor": {20, 26},
    "partner_media": {21},
    "partner_endorser": {22},
    "partner_coalition": {23},
    "partner_licensee": {25},
    "partner_ngo": {24},
    # everyone but Radu, whose inbound SMS on 2025-03-16 local is inside (as-of - 12 months, as-of];
    # Ursula's on 2025-03-15 is not
    "unresponsive": {*range(1, 16), *range(20, 28), 30, 32, 33, 35},
}


@pytest.fixture
def people(warehouse):
    """The warehouse fixture holding tests/data/segments/people.sql."""
    warehouse.execute((DATA / "people.sql").read_text(encoding="utf-8"))
    return warehouse


def members(con) -> dict[str, set[int]]:
    rows = con.execute("SELECT segment, contact_id FROM segment_membership").fetchall()
    out: dict[str, set[int]] = {}
    for segment, contact_id in rows:
        out.setdefault(segment, set()).add(contact_id)
    return out


def stays(con, contact_id: int) -> set[tuple]:
    """A contact's stays in the donor, volunteer and partner segments (`unresponsive` has its own test)."""
    return set(con.execute(
        "SELECT segment, entered_at, exited_at FROM segment_history WHERE contact_id = ? "
        "AND segment <> 'unresponsive'", [contact_id]
    ).fetchall())


def table_rows(con, name: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()


# -- every segment, by hand ---------------------------------------------------------------------

def test_segments_match_hand_computed_answers(people, settings):
    summary = compute_segments(people, settings, AS_OF)

    assert summary.ok, summary.failures
    assert {name: ids for name, ids in members(people).items()} == EXPECTED
    assert {c.segment: c.members for c in summary.counts} == {k: len(v) for k, v in EXPECTED.items()}
    assert set(people.execute("SELECT DISTINCT since FROM segment_membership").fetchall()) == {(AS_OF,)}


def test_segments_every_designed_segment_has_a_file():
    packaged = {p.stem for p in (db.SQL_ROOT / "segments").glob("*.sql")}
    assert packaged == set(EXPECTED)


def test_segments_leave_no_temporary_tables_behind(people, settings):
    compute_segments(people, settings, AS_OF)

    assert people.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()[0] == 0
    assert people.execute("SELECT count(*) FROM duckdb_views() WHERE temporary AND NOT internal").fetchone()[0] == 0


def test_donor_measures_use_net_amounts_in_base_currency(people, settings):
    compute_segments(people, settings, AS_OF)
    rows = {r[0]: r[1:] for r in people.execute("""
        SELECT contact_id, first_gift_on, last_gift_on, gift_count, total_given_base, largest_gift_base,
               given_this_year_base, given_last_year_base, given_last_12_months_base
        FROM donor_measures""").fetchall()}

    # 1000 EUR at 4.97 + 30 RON
    assert rows[7] == (date(2025, 6, 1), date(2026, 2, 1), 2, 5000, 4970, 30, 4970, 5000)
    # 6000 less 1500 refunded
    assert rows[6][3:5] == (4500, 4500)
    # 2026-01-01 00:15 local is 2025-12-31 in UTC: this year's gift all the same
    assert rows[3] == (date(2024, 6, 1), date(2026, 1, 1), 2, 100, 50, 50, 0, 50)
    # fully refunded: no donor; a gift after the as-of date: not yet
    assert 5 not in rows and 13 not in rows


def test_donor_measures_agree_with_local_dates_of_donor_gifts(warehouse, settings):
    # gifts at pseudo-random instants over four years, many near local midnight and across DST changes
    warehouse.execute("""
        INSERT INTO contacts (contact_id, kind) SELECT i, 'person' FROM range(1, 51) t(i);
        INSERT INTO donations (donation_id, contact_id, amount, amount_refunded, currency, amount_base,
                               net_amount_base, donated_at, source)
        SELECT 'g:' || i, 1 + i % 50, 10 + i % 7, CASE WHEN i % 11 = 0 THEN 10 + i % 7 ELSE 0 END, 'RON',
               10 + i % 7, CASE WHEN i % 11 = 0 THEN 0 ELSE 10 + i % 7 END,
               TIMESTAMPTZ '2022-03-14 21:30:00+00' + to_days(cast(hash(i) % 1462 AS INTEGER))
                   + to_minutes(cast(hash(i * 3) % 180 AS BIGINT)),
               'test'
        FROM range(3000) t(i)""")
    compute_segments(warehouse, settings, AS_OF)

    by_local_dates = warehouse.execute("""
        SELECT g.contact_id, min(gift_on), max(gift_on), count(*), sum(net_amount_base),
               sum(CASE WHEN fiscal_year = 2026 THEN net_amount_base ELSE 0 END),
               sum(CASE WHEN fiscal_year = 2025 THEN net_amount_base ELSE 0 END),
               sum(CASE WHEN gift_on > DATE '2025-03-15' THEN net_amount_base ELSE 0 END),
               count(DISTINCT CASE WHEN gift_on > DATE '2025-09-15' THEN date_trunc('month', gift_on) END),
               count(CASE WHEN gift_on > DATE '2023-03-15' THEN 1 END)
        FROM donor_gifts g GROUP BY g.contact_id ORDER BY 1""").fetchall()
    measures = warehouse.execute("""
        SELECT contact_id, first_gift_on, last_gift_on, gift_count, total_given_base, given_this_year_base,
               given_last_year_base, given_last_12_months_base, months_given_last_6_months, gifts_last_36_months
        FROM donor_measures ORDER BY 1""").fetchall()
    assert measures == by_local_dates


def test_fiscal_year_start_moves_year_boundaries(people):
    settings = Settings(segments={"fiscal_year_start_month": 7})
    compute_segments(people, settings, AS_OF)

    # fiscal 2025 runs 2025-07-01 .. 2026-06-30; last year is 2024-07-01 .. 2025-06-30
    assert people.execute(
        "SELECT this_year, this_year_starts_on, last_year_starts_on FROM segment_parameters"
    ).fetchone() == (2025, date(2025, 7, 1), date(2024, 7, 1))
    assert members(people)["donor_lybunt"] == {1, 2}
    assert members(people)["donor_sybunt"] == {10, 11}


# -- membership history ---------------------------------------------------------------------------

def test_segments_history_records_entries_and_exits(people, settings):
    compute_segments(people, settings, AS_OF)
    people.execute("""INSERT INTO donations (donation_id, contact_id, amount, currency, amount_base, net_amount_base,
                                             donated_at, source)
                      VALUES ('t:1b', 1, 25, 'RON', 25, 25, '2026-03-20 10:00:00+02', 'test')""")
    later = date(2026, 4, 1)
    summary = compute_segments(people, settings, later)

    assert summary.ok
    # Ana gave again: from lapsed and lybunt to active
    assert stays(people, 1) == {("donor_lapsed", AS_OF, later), ("donor_lybunt", AS_OF, later),
                                ("donor_active", later, None)}
    # Bogdan's gift of 2025-03-16 is now more than 12 months old
    assert stays(people, 2) == {("donor_active", AS_OF, later), ("donor_lybunt", AS_OF, None),
                                ("donor_lapsed", later, None)}
    # Dan's first gift is no longer within 90 days; Delta's agreement has started
    assert ("donor_first_time", AS_OF, later) in stays(people, 4)
    assert stays(people, 23) == {("partner_prospect", AS_OF, later), ("partner_coalition", AS_OF, None),
                                 ("partner_active", later, None)}
    # Beta's agreement now ends within 60 days
    assert ("partner_renewal_due", later, None) in stays(people, 21)
    # "who moved from lapsed to active this month" is one query
    moved = people.execute("""
        SELECT a.contact_id FROM segment_history a
        JOIN segment_history l ON l.contact_id = a.contact_id AND l.segment = 'donor_lapsed'
        WHERE a.segment = 'donor_active' AND a.entered_at = l.exited_at
          AND a.entered_at >= DATE '2026-04-01'""").fetchall()
    assert moved == [(1,)]
    assert people.execute(
        "SELECT since FROM segment_membership WHERE contact_id = 2 AND segment = 'donor_lybunt'"
    ).fetchone() == (AS_OF,)
    by_segment = {c.segment: c for c in summary.counts}
    assert (by_segment["donor_lapsed"].entered, by_segment["donor_lapsed"].exited) == (1, 1)


def test_segments_rerun_of_the_same_as_of_changes_nothing(people, settings):
    compute_segments(people, settings, AS_OF)
    before = [table_rows(people, t) for t in ("segment_membership", "segment_history")]

    again = compute_segments(people, settings, AS_OF)

    assert (again.entered, again.exited) == (0, 0)
    assert [table_rows(people, t) for t in ("segment_membership", "segment_history")] == before


def test_segments_rerun_of_a_date_corrects_that_date(people, settings):
    compute_segments(people, settings, AS_OF)
    later = date(2026, 4, 1)
    compute_segments(people, settings, later)
    assert ("donor_first_time", AS_OF, later) in stays(people, 4)

    # Bogdan's 2025 gift turns out refunded and a new gift arrives: re-running the same date fixes its answer
    people.execute("UPDATE donations SET amount_refunded = amount, net_amount_base = 0 WHERE contact_id = 2")
    people.execute("""INSERT INTO donations (donation_id, contact_id, amount, currency, amount_base, net_amount_base,
                                             donated_at, source)
                      VALUES ('t:2b', 2, 10, 'RON', 10, 10, '2026-04-01 09:00:00+03', 'test')""")
    compute_segments(people, settings, later)

    # his lapsed stay that began on 2026-04-01 vanishes; his active stay reopens as if never closed
    assert stays(people, 2) == {("donor_active", AS_OF, None), ("donor_lybunt", AS_OF, later),
                                ("donor_first_time", later, None)}
    assert people.execute(
        "SELECT since FROM segment_membership WHERE contact_id = 2 AND segment = 'donor_active'"
    ).fetchone() == (AS_OF,)


def test_segments_as_of_before_the_last_run_rewinds_history(people, settings):
    first = compute_segments(people, settings, AS_OF)
    memberships = people.execute("SELECT * FROM segment_membership ORDER BY ALL").fetchall()
    history = people.execute("SELECT * FROM segment_history ORDER BY ALL").fetchall()
    compute_segments(people, settings, date(2027, 6, 1))
    assert people.execute("SELECT * FROM segment_history ORDER BY ALL").fetchall() != history

    # back to the first date: the same membership and history as if the later run never happened
    again = compute_segments(people, settings, AS_OF)
    assert people.execute("SELECT * FROM segment_membership ORDER BY ALL").fetchall() == memberships
    assert people.execute("SELECT * FROM segment_history ORDER BY ALL").fetchall() == history
    assert {c.segment: c.members for c in again.counts} == {c.segment: c.members for c in first.counts}


# -- analysts' own segment files ------------------------------------------------------------------

def test_custom_segment_file_is_a_segment(people, settings):
    summary = compute_segments(people, settings, AS_OF, segments_dir=DATA / "custom")

    assert summary.ok
    assert [c.segment for c in summary.counts] == ["donor_euro"]
    assert members(people) == {"donor_euro": {7}}


def test_segment_whose_file_is_removed_is_retired(people, settings, tmp_path):
    folder = tmp_path / "segments"
    shutil.copytree(db.SQL_ROOT / "segments", folder)
    compute_segments(people, settings, AS_OF, segments_dir=folder)
    (folder / "donor_major.sql").unlink()

    summary = compute_segments(people, settings, date(2026, 3, 16), segments_dir=folder)

    assert summary.retired == ["donor_major"]
    assert "donor_major" not in members(people)
    assert stays(people, 7) >= {("donor_major", AS_OF, date(2026, 3, 16))}


def test_broken_segment_files_fail_alone_with_their_names(people, settings):
    summary = compute_segments(people, settings, AS_OF, segments_dir=DATA / "broken")

    assert not summary.ok
    assert [c.segment for c in summary.counts] == ["all_donors"]
    assert members(people) == {"all_donors": {1, 2, 3, 4, 6, 7, 8, 9, 10, 11}}
    failed = summary.failed
    assert sorted(failed) == ["Bad-Name.sql", "missing_table.sql", "no_contact_id.sql",
                              "syntax_error.sql", "two_statements.sql"]
    assert failed["syntax_error.sql"].startswith("Parser Error: syntax error at or near \"selec\"")
    assert "donors_that_do_not_exist" in failed["missing_table.sql"]
    assert failed["missing_table.sql"].startswith("Catalog Error")
    assert "contact_id" in failed["no_contact_id.sql"] and "Binder Error" in failed["no_contact_id.sql"]
    assert failed["two_statements.sql"] == ("a segment file holds one SELECT returning contact_id "
                                            "(found 2 statement(s))")
    assert "not a segment name" in failed["Bad-Name.sql"]
    assert str(summary.failures[0]).startswith("Bad-Name.sql: ")
    logged = people.execute(
        "SELECT segment, status FROM segment_runs WHERE as_of = ? ORDER BY segment", [AS_OF]).fetchall()
    assert ("syntax_error", "failed") in logged and ("all_donors", "ok") in logged


def test_broken_segment_file_keeps_its_members(people, settings, tmp_path):
    folder = tmp_path / "segments"
    folder.mkdir()
    shutil.copy(DATA / "custom" / "donor_euro.sql", folder)
    compute_segments(people, settings, AS_OF, segments_dir=folder)
    (folder / "donor_euro.sql").write_text("select contact_id from donor_gifts where currency = 'EUR\n")

    summary = compute_segments(people, settings, date(2026, 3, 16), segments_dir=folder)

    assert list(summary.failed) == ["donor_euro.sql"]
    assert members(people) == {"donor_euro": {7}}
    assert stays(people, 7) == {("donor_euro", AS_OF, None)}


def test_empty_segment_folder_is_an_error(people, settings, tmp_path):
    with pytest.raises(SegmentError, match="no segment files"):
        compute_segments(people, settings, AS_OF, segments_dir=tmp_path)


# -- RFM and retention ----------------------------------------------------------------------------

def test_donor_rfm_quintiles_share_scores_on_ties(warehouse, settings):
    # (contact, last gift, number of weekly gifts of 100 RON ending on it)
    warehouse.execute("""
        INSERT INTO contacts (contact_id, kind)
        SELECT unnest([101, 102, 103, 104, 105, 106, 107]), 'person';
        INSERT INTO donations (donation_id, contact_id, amount, currency, amount_base, net_amount_base,
                               donated_at, source)
        SELECT 'r:' || c || ':' || i, c, 100, 'RON', 100, 100,
               timezone('Europe/Bucharest', cast(last_gift - cast(7 * i AS INTEGER) AS TIMESTAMP) + INTERVAL 12 HOUR), 'test'
        FROM (SELECT *, unnest(range(n)) AS i
              FROM (VALUES (101, DATE '2026-03-01', 5), (102, DATE '2026-02-01', 4),
                           (103, DATE '2026-01-01', 3), (104, DATE '2025-06-01', 2),
                           (106, DATE '2025-06-01', 2), (105, DATE '2024-01-01', 1),
                           (107, DATE '2022-01-01', 1)) v(c, last_gift, n))""")
    compute_segments(warehouse, settings, AS_OF)

    scores = dict(warehouse.execute(
        "SELECT contact_id, [recency_score, frequency_score, monetary_score] FROM donor_rfm").fetchall())
    # six donors in the 36-month window: percent ranks 0, .2, .2, .6, .8, 1 -> 1, 2, 2, 4, 5, 5
    assert scores == {105: [1, 1, 1], 104: [2, 2, 2], 106: [2, 2, 2], 103: [4, 4, 4],
                      102: [5, 5, 5], 101: [5, 5, 5], 107: [1, 1, 1]}
    assert warehouse.execute(
        "SELECT scored_in_window, rfm_cell FROM donor_rfm WHERE contact_id = 107").fetchone() == (False, "111")


def test_donor_retention_and_recapture_by_year(warehouse, settings):
    # A: 2024, 2025   B: 2024   C: 2025, 2026   D: 2024, 2026   E: 2026
    warehouse.execute("""
        INSERT INTO contacts (contact_id, kind) SELECT unnest([1, 2, 3, 4, 5]), 'person';
        INSERT INTO donations (donation_id, contact_id, amount, currency, amount_base, net_amount_base,
                               donated_at, source)
        SELECT 'y:' || c || ':' || y, c, 10, 'RON', 10, 10, make_timestamptz(y, 2, 1, 12, 0, 0), 'test'
        FROM (VALUES (1, 2024), (1, 2025), (2, 2024), (3, 2025), (3, 2026), (4, 2024), (4, 2026), (5, 2026)) v(c, y);
        -- refunded: no gift, so B is not retained in 2025
        INSERT INTO donations (donation_id, contact_id, amount, amount_refunded, currency, amount_base,
                               net_amount_base, donated_at, source)
        VALUES ('y:2:refunded', 2, 10, 10, 'RON', 10, 0, '2025-05-01 12:00:00+03', 'test')""")
    compute_segments(warehouse, settings, AS_OF)

    rows = warehouse.execute("""
        SELECT fiscal_year, is_complete, donors, new_donors, donors_last_year, retained_donors,
               retention_rate, lapsed_donors, recaptured_donors, recapture_rate
        FROM donor_retention""").fetchall()
    assert rows == [
        (2024, True, 3, 3, 0, 0, None, 0, 0, None),
        (2025, True, 2, 1, 3, 1, pytest.approx(0.3333), 0, 0, None),
        (2026, False, 3, 1, 2, 1, 0.5, 2, 1, 0.5),
    ]
    assert warehouse.execute(
        "SELECT fiscal_year, lapsed_donors, recaptured_donors, recapture_rate FROM donor_recapture "
        "WHERE fiscal_year = 2026").fetchone() == (2026, 2, 1, 0.5)


# -- the warehouse analysts live in ---------------------------------------------------------------

def test_reader_holding_the_snapshot_does_not_fail_a_segment_run(settings):
    with db.open_for_write(settings.warehouse.path, "test setup", snapshot_path=settings.warehouse.snapshot) as con:
        con.execute((DATA / "people.sql").read_text(encoding="utf-8"))
    reader = duckdb.connect(str(settings.warehouse.snapshot), read_only=True)
    try:
        summary = segment_warehouse(settings, AS_OF)

        assert summary.ok
        # the reader keeps the snapshot it opened
        assert reader.execute("SELECT count(*) FROM segment_membership").fetchone() == (0,)
    finally:
        reader.close()
    with duckdb.connect(str(settings.warehouse.snapshot), read_only=True) as fresh:
        assert fresh.execute("SELECT count(*) FROM segment_membership").fetchone()[0] == sum(
            len(v) for v in EXPECTED.values())


def test_second_writer_waits_for_the_lock_with_a_message(settings):
    db.connect(settings.warehouse.path).close()
    held = threading.Event()

    def hold_lock():
        with db.write_lock(settings.warehouse.path, "legatura ingest"):
            held.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    held.wait()
    told: list[str] = []
    summary = segment_warehouse(settings, AS_OF, notify=told.append)
    holder.join()

    assert summary.ok
    assert len(told) == 1 and "waiting for the warehouse write lock" in told[0] and "legatura ingest" in told[0]


def test_every_table_and_view_has_a_comment(warehouse):
    uncommented = warehouse.execute("""
        SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND comment IS NULL
        UNION ALL
        SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary AND comment IS NULL""").fetchall()
    core_and_segments = set((db.SQL_ROOT / "migrations" / "001_core.sql").read_text().split()) | {
        "segment_runs", "segment_parameters", "donor_gifts", "donor_measures", "volunteer_measures",
        "donor_rfm", "donor_retention", "donor_recapture", "consents", "possible_duplicates",
        "response_times", "inbound_response_times", "schema_migrations"}
    assert [name for (name,) in uncommented if name in core_and_segments] == []


def test_warehouse_readme_queries_run(people, settings):
    import re

    compute_segments(people, settings, AS_OF)
    readme = (Path(__file__).parents[1] / "warehouse" / "README.md").read_text(encoding="utf-8")
    queries = re.findall(r"```sql\n(.*?)```", readme, flags=re.S)

    assert len(queries) >= 8
    results = [people.execute(q).fetchall() for q in queries]
    lybunt = next(r for q, r in zip(queries, results) if "'donor_lybunt'" in q)
    assert [(row[0], row[3]) for row in lybunt] == [
        ("Ana Exact-Doisprezece", date(2025, 3, 15)), ("Bogdan Miezul-Noptii", date(2025, 3, 16)),
        ("Dan Revelion", date(2025, 12, 31))]
    renewals = next(r for q, r in zip(queries, results) if "'partner_renewal_due'" in q)
    assert [(row[0], row[3]) for row in renewals] == [("Zeta Licente", 0), ("Alfa SRL", 60)]


# -- an oracle in Python for the calendar arithmetic the SQL does ------------------------------------

def fiscal_year(day: date, start_month: int) -> int:
    """The fiscal year `day` falls in, named by the calendar year in which that fiscal year starts."""
    return day.year if day.month >= start_month else day.year - 1


def fiscal_year_starts_on(day: date, start_month: int) -> date:
    """The first day of the fiscal year `day` falls in."""
    return date(fiscal_year(day, start_month), start_month, 1)


def months_before(day: date, months: int) -> date:
    """`day` minus whole months, clamped to the month's end (2026-03-31 minus 1 month = 2026-02-28), as DuckDB does."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- pure helpers ---------------------------------------------------------------------------------

def test_fiscal_year_arithmetic():
    assert fiscal_year(date(2026, 1, 1), 1) == 2026
    assert fiscal_year(date(2026, 6, 30), 7) == 2025
    assert fiscal_year(date(2026, 7, 1), 7) == 2026
    assert fiscal_year_starts_on(date(2026, 3, 15), 7) == date(2025, 7, 1)
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2024, 2, 29), 12) == date(2023, 2, 28)
    assert months_before(date(2026, 3, 15), 36) == date(2023, 3, 15)


def test_fiscal_year_helpers_agree_with_the_sql(warehouse):
    for month in (1, 4, 7, 12):
        settings = Settings(segments={"fiscal_year_start_month": month})
        warehouse.execute("DELETE FROM settings WHERE key LIKE 'segments.%'")
        warehouse.executemany("INSERT INTO settings VALUES (?, ?)",
                              list(segment_parameters(settings, AS_OF).items()))
        assert warehouse.execute("SELECT this_year, this_year_starts_on FROM segment_parameters").fetchone() == (
            fiscal_year(AS_OF, month), fiscal_year_starts_on(AS_OF, month))


def test_segment_parameters_from_settings():
    settings = Settings(segments={"major_donor_threshold": 2500}, money={"base_currency": "eur"})
    assert segment_parameters(settings, AS_OF) == {
        "segments.as_of": "2026-03-15",
        "segments.timezone": "Europe/Bucharest",
        "segments.fiscal_year_start_month": "1",
        "segments.major_donor_threshold": "2500.0",
        "segments.base_currency": "EUR",
    }


def test_segment_name_rules():
    assert segment_name_problem("donor_bucharest_2026") is None
    assert "not a segment name" in segment_name_problem("Donori București")


# -- the real flow --------------------------------------------------------------------------------

@pytest.mark.prefect
def test_segment_flow_runs_under_prefect(prefect_api, settings, config):
    from legatura.flows.segment import segment_flow

    with db.open_for_write(settings.warehouse.path, "test setup") as con:
        con.execute((DATA / "people.sql").read_text(encoding="utf-8"))

    summary = segment_flow(config, AS_OF)

    assert summary.ok and len(summary.counts) == len(EXPECTED)
    with duckdb.connect(str(settings.warehouse.snapshot), read_only=True) as snapshot:
        assert snapshot.execute(
            "SELECT list(contact_id ORDER BY contact_id) FROM segment_membership WHERE segment = 'donor_major'"
        ).fetchone() == ([7],)
