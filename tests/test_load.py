"""The loader: ledger, idempotency, quarantine accounting, refunds, identity merges across files."""
from __future__ import annotations

from tests.conftest import assert_accounted, copy_sample


def test_stripe_sample_loads_gifts_and_quarantines_broken_rows(ingest, warehouse, formats):
    [summary] = ingest(formats / "stripe" / "unified_payments_2026-11-12.csv", channel="stripe")
    assert (summary.rows_read, summary.rows_quarantined) == (12, 3)
    assert_accounted([summary])
    gifts = warehouse.execute("SELECT count(*), sum(net_amount_base) FROM donations").fetchone()
    # 8 Paid/Refunded rows; the double charge refunded in full and 900 of 1000 returned
    assert gifts[0] == 8
    assert float(gifts[1]) == round(150 + 50 + 20 * 4.97 + 100 + 0 + 50 + 100 + 50, 2)
    reasons = [r[0] for r in warehouse.execute("SELECT reason FROM quarantine ORDER BY line_or_key").fetchall()]
    assert reasons[0] == "empty charge id"


def test_reingest_same_file_adds_nothing(ingest, warehouse, formats, tmp_path):
    sample = formats / "stripe" / "unified_payments_2026-11-12.csv"
    ingest(sample, channel="stripe")
    before = warehouse.execute("SELECT (SELECT count(*) FROM donations), (SELECT count(*) FROM contacts)").fetchone()
    copy = copy_sample(sample, tmp_path / "again", "unified_payments (1).csv")
    [again] = ingest(copy, channel="stripe")
    assert again.status == "already_ingested" and again.rows_duplicate == 12 and again.rows_ingested == 0
    [same] = ingest(sample, channel="stripe")
    assert same.status == "unchanged"
    after = warehouse.execute("SELECT (SELECT count(*) FROM donations), (SELECT count(*) FROM contacts)").fetchone()
    assert before == after
    assert warehouse.execute("SELECT count(*) FROM ingested_files").fetchone()[0] == 2


def test_overlapping_export_counts_duplicates_and_updates_refund(ingest, warehouse, tmp_path):
    header = ("id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email,Refunded date (UTC)\n")
    first = tmp_path / "a.csv"
    first.write_text(header + "ch_1,2026-01-05 10:00:00,100.00,0.00,ron,Paid,a@x.ro,\n"
                              "ch_2,2026-01-06 10:00:00,50.00,0.00,eur,Paid,b@x.ro,\n")
    second = tmp_path / "b.csv"
    second.write_text(header + "ch_1,2026-01-05 10:00:00,100.00,40.00,ron,Paid,a@x.ro,2026-01-09 10:00:00\n"
                               "ch_2,2026-01-06 10:00:00,50.00,0.00,eur,Paid,b@x.ro,\n"
                               "ch_3,2026-01-07 10:00:00,10.00,0.00,ron,Paid,a@x.ro,\n")
    ingest(first, channel="stripe")
    [summary] = ingest(second, channel="stripe")
    assert (summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (2, 1, 0)
    rows = warehouse.execute(
        "SELECT donation_id, amount_refunded, net_amount_base FROM donations ORDER BY donation_id").fetchall()
    assert [(r[0], float(r[1]), float(r[2])) for r in rows] == [
        ("stripe:ch_1", 40.0, 60.0), ("stripe:ch_2", 0.0, 248.5), ("stripe:ch_3", 0.0, 10.0)]
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 2


def test_stripe_row_with_empty_date_is_quarantined_with_reason(ingest, warehouse, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email\n"
                    "ch_1,,100.00,0.00,ron,Paid,a@x.ro\n"
                    "ch_2,2026-01-05 10:00:00,100.00,0.00,ron,Paid,a@x.ro,extra\n"
                    "ch_3,2026-01-05 10:00:00,5.00,0.00,ron,Paid,b@x.ro\n")
    [summary] = ingest(path, channel="stripe")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (3, 1, 2)
    reasons = warehouse.execute("SELECT line_or_key, reason FROM quarantine ORDER BY 1").fetchall()
    assert reasons == [("2", "date '' is not YYYY-MM-DD HH:MM:SS"), ("3", "the row has 8 fields where the header has 7")]


def test_unknown_landing_folder_quarantines_its_files_and_goes_on(ingest, warehouse, settings, formats):
    stray = settings.landing.path / "banca"
    stray.mkdir(parents=True)
    (stray / "extras.csv").write_text("Data,Suma\n01.02.2026,100\n")
    good = settings.landing.path / "stripe"
    good.mkdir()
    copy_sample(formats / "stripe" / "unified_payments_2026-11-12.csv", good)
    summaries = {s.path.rsplit("/", 1)[-1]: s for s in ingest(settings.landing.path)}
    assert summaries["extras.csv"].status == "failed"
    assert "landing/banca/ names no channel" in summaries["extras.csv"].error
    assert summaries["unified_payments_2026-11-12.csv"].rows_ingested == 9
    assert warehouse.execute("SELECT reason FROM quarantine WHERE line_or_key = 'file'").fetchone()[0].startswith(
        str(stray / "extras.csv"))


def test_a_file_the_warehouse_refuses_is_rolled_back_whole_and_quarantined(ingest, warehouse, tmp_path):
    # an amount that fits DECIMAL(18,2) in EUR but not once converted to RON: the warehouse refuses it
    path = tmp_path / "s.csv"
    path.write_text("id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email\n"
                    "ch_1,2026-01-05 10:00:00,5.00,0.00,ron,Paid,a@x.ro\n"
                    "ch_2,2026-01-05 10:00:00,9999999999999999.00,0.00,eur,Paid,b@x.ro\n")
    [summary] = ingest(path, channel="stripe")
    assert summary.status == "failed" and "could not be loaded" in summary.error
    # nothing half-written: not even the good row's contact or gift
    assert warehouse.execute("SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM donations)"
                             ).fetchone() == (0, 0)
    assert warehouse.execute("SELECT status, rows_quarantined FROM ingested_files").fetchall() == [("failed", 1)]


def test_contacts_only_records_are_duplicates_only_when_seen_before(ingest, warehouse, tmp_path):
    header = "id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email\n"
    paid = tmp_path / "paid.csv"
    paid.write_text(header + "ch_1,2026-01-05 10:00:00,5.00,0.00,ron,Paid,a@x.ro\n")
    ingest(paid, channel="stripe")
    failed = tmp_path / "failed.csv"
    failed.write_text(header + "ch_2,2026-01-06 10:00:00,5.00,0.00,ron,Failed,a@x.ro\n"
                               "ch_3,2026-01-06 10:05:00,5.00,0.00,ron,Failed,a@x.ro\n")
    # the person is known already, but these two attempts were never seen: loaded, not duplicates
    [first] = ingest(failed, channel="stripe")
    assert (first.rows_ingested, first.rows_duplicate) == (2, 0)
    overlap = tmp_path / "overlap.csv"
    overlap.write_text(header + "ch_3,2026-01-06 10:05:00,5.00,0.00,ron,Failed,a@x.ro\n"
                                "ch_4,2026-01-07 10:00:00,7.00,0.00,ron,Paid,a@x.ro\n")
    [second] = ingest(overlap, channel="stripe")
    assert (second.rows_ingested, second.rows_duplicate) == (1, 1)
    assert warehouse.execute("SELECT count(DISTINCT contact_id) FROM contact_records").fetchone()[0] == 1


STRIPE_TEST_HEADER = "id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email\n"


def test_a_batch_of_files_is_accounted_file_by_file(ingest, warehouse, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_text(STRIPE_TEST_HEADER + "ch_1,2026-01-05 10:00:00,5.00,0.00,ron,Paid,a@x.ro\n")
    (folder / "a (1).csv").write_bytes((folder / "a.csv").read_bytes())          # the same bytes again
    (folder / "b.csv").write_text(STRIPE_TEST_HEADER + "ch_1,2026-01-05 10:00:00,5.00,0.00,ron,Paid,a@x.ro\n"
                                                        "ch_2,2026-01-06 10:00:00,7.00,0.00,ron,Paid,b@x.ro\n")
    (folder / "c.csv").write_text(STRIPE_TEST_HEADER + "ch_3,2026-01-07 10:00:00,9999999999999999.00,0.00,"
                                                        "eur,Paid,c@x.ro\n")  # too big in RON
    summaries = {s.path.rsplit("/", 1)[-1]: s for s in ingest(folder, channel="stripe")}
    counts = {name: (s.status, s.rows_read, s.rows_ingested, s.rows_duplicate, s.rows_quarantined)
              for name, s in summaries.items()}
    assert counts == {
        "a (1).csv": ("loaded", 1, 1, 0, 0),           # sorts first: the copy is the other one
        "a.csv": ("already_ingested", 1, 0, 1, 0),
        "b.csv": ("loaded", 2, 1, 1, 0),      # ch_1 came with "a (1).csv" in the same batch
        "c.csv": ("failed", 1, 0, 0, 1),      # the warehouse refused it: alone, quarantined whole
    }
    assert warehouse.execute("SELECT donation_id FROM donations ORDER BY 1").fetchall() == [
        ("stripe:ch_1",), ("stripe:ch_2",)]
    assert warehouse.execute("SELECT source_file FROM donations WHERE donation_id = 'stripe:ch_2'"
                             ).fetchone()[0].endswith("/b.csv")
    from legatura.warehouse.db import check_invariants

    assert check_invariants(warehouse) == {}


def test_a_zip_is_read_as_the_exports_inside_it(ingest, warehouse, formats, tmp_path):
    import zipfile

    archive = tmp_path / "audience_export_2026-11-10.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for csv_file in sorted((formats / "mailchimp" / "audience_export_2026-11-10").iterdir()):
            zipped.write(csv_file, csv_file.name)
        zipped.writestr("__MACOSX/._subscribed.csv", b"\x00junk")
        zipped.writestr("notes.pdf", b"%PDF-1.4")
    summaries = {s.path.rsplit("!", 1)[-1]: s for s in ingest(archive)}
    assert summaries["notes.pdf"].status == "skipped"
    assert summaries["__MACOSX/._subscribed.csv"].status == "skipped"
    loaded = [s for s in summaries.values() if s.status == "loaded"]
    assert len(loaded) == 3 and {s.channel for s in loaded} == {"mailchimp"}
    assert all(s.path.startswith(str(archive) + "!") for s in loaded)   # the ledger path keeps its archive
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 9
    # the same zip again: every member unchanged
    assert {s.status for s in ingest(archive) if s.status != "skipped"} == {"unchanged"}


def test_stripe_times_re_saved_by_excel_still_read_as_utc(ingest, warehouse, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id;Created date (UTC);Amount;Amount Refunded;Currency;Status;Customer Email\n"
                    "ch_1;12.11.2026 08:41;150,00;0,00;ron;Paid;a@x.ro\n"
                    "ch_2;2026-11-12 08:41:07;1.234,50;0,00;ron;Paid;b@x.ro\n")
    [summary] = ingest(path, channel="stripe")
    assert (summary.rows_ingested, summary.rows_quarantined) == (2, 0)
    rows = warehouse.execute("SELECT donation_id, amount, strftime(donated_at, '%Y-%m-%d %H:%M') FROM donations "
                             "ORDER BY 1").fetchall()
    assert [(r[0], float(r[1]), r[2]) for r in rows] == [("stripe:ch_1", 150.0, "2026-11-12 08:41"),
                                                        ("stripe:ch_2", 1234.5, "2026-11-12 08:41")]
