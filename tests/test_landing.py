"""The landing folder as an attacker and a slow copier would fill it: links out, cut rows, odd names, signals."""
from __future__ import annotations

import csv
import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_accounted, copy_sample
from legatura.flows.discover import OUTSIDE, discover
from legatura.flows.ingest import ingest_paths
from legatura.flows.load import FileSummary, sha256_of
from legatura.flows.watch import LandingWatcher
from legatura.transforms.text import completed_records, read_export, shown_name
from legatura.warehouse import db

from tests.waiting import eventually

STRIPE = "stripe/unified_payments_2026-11-12.csv"
SECRET = b"SECRET-7f3a: the payroll of the association, not an export\n" * 200


def every_text_in(con) -> str:
    """Every value of every table, as text: what an analyst could read."""
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()]
    return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)


# --- symbolic links -------------------------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the landing folder holding a secret and an export-looking file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(SECRET)
    (folder / "exports").mkdir()
    (folder / "exports" / "payments.csv").write_bytes(SECRET)
    return folder


def test_links_out_of_the_landing_folder_are_quarantined_without_a_byte_read(ingest, warehouse, settings, formats,
                                                                             outside):
    inbox = settings.landing.path / "stripe"
    copy_sample(formats / STRIPE, inbox, "real.csv")
    (inbox / "x.csv").symlink_to(outside / "secret.txt")               # a file link out
    (inbox / "more").symlink_to(outside / "exports")                   # a folder link out
    (inbox / "relative.csv").symlink_to(Path("../../outside/secret.txt"))
    summaries = {Path(s.path).name: s for s in ingest(settings.landing.path)}
    assert_accounted(summaries.values())
    assert summaries["real.csv"].status == "loaded"
    for name in ("x.csv", "more", "relative.csv"):
        assert summaries[name].status == "failed" and summaries[name].error.endswith(OUTSIDE), summaries[name]
    ledger = warehouse.execute("SELECT path, status, size_bytes, sha256, rows_quarantined FROM ingested_files "
                               "WHERE status = 'failed' ORDER BY path").fetchall()
    assert [(Path(p).name, s, size, q) for p, s, size, _, q in ledger] == [
        ("more", "failed", 0, 1), ("relative.csv", "failed", 0, 1), ("x.csv", "failed", 0, 1)]
    assert {sha for *_, sha, _ in ledger} == {sha256_of(b"")}     # not even the target's hash
    rows = warehouse.execute("SELECT line_or_key, reason, raw FROM quarantine WHERE reason = ?", [OUTSIDE]).fetchall()
    assert rows == [("file", OUTSIDE, None)] * 3
    assert "SECRET-7f3a" not in every_text_in(warehouse)


def test_a_link_named_directly_as_watch_does_is_refused_too(ingest, warehouse, settings, outside):
    link = settings.landing.path / "stripe" / "x.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside / "secret.txt")
    [summary] = ingest(link)
    assert summary.status == "failed" and summary.rows_quarantined == 1
    assert warehouse.execute("SELECT reason, raw FROM quarantine").fetchall() == [(OUTSIDE, None)]
    assert "SECRET-7f3a" not in every_text_in(warehouse)


def test_a_file_named_outside_landing_may_not_link_out_of_its_folder(ingest, warehouse, tmp_path, outside):
    exports = tmp_path / "downloads"
    exports.mkdir()
    (exports / "payments.csv").symlink_to(outside / "exports" / "payments.csv")
    [summary] = ingest(exports / "payments.csv", channel="stripe")
    assert summary.status == "failed" and summary.error.endswith(OUTSIDE)
    assert "SECRET-7f3a" not in every_text_in(warehouse)


def test_links_inside_are_followed_once_and_loops_end(ingest, warehouse, settings, formats):
    inbox = settings.landing.path / "stripe"
    copy_sample(formats / STRIPE, inbox / "2026", "november.csv")
    (inbox / "latest.csv").symlink_to(inbox / "2026" / "november.csv")    # a file link that stays inside
    (inbox / "2026" / "again").symlink_to(inbox)                         # a loop back up
    (inbox / "copy-of-2026").symlink_to(inbox / "2026")                  # the same folder twice
    summaries = ingest(settings.landing.path)
    assert_accounted(summaries)
    by_status = sorted((Path(s.path).relative_to(settings.landing.path).as_posix(), s.status) for s in summaries)
    assert by_status == [("stripe/2026/november.csv", "loaded"), ("stripe/latest.csv", "already_ingested")]
    assert warehouse.execute("SELECT count(*) FROM donations").fetchone()[0] == 8


def test_a_fifo_in_the_landing_folder_is_quarantined_not_opened(ingest, warehouse, settings):
    inbox = settings.landing.path / "stripe"
    inbox.mkdir(parents=True)
    os.mkfifo(inbox / "pipe.csv")          # reading it would block the run forever
    [summary] = ingest(settings.landing.path)
    assert summary.status == "failed" and "not a regular file" in summary.error


def test_a_whole_file_quarantined_keeps_its_first_bytes_and_logs_the_traceback(ingest, warehouse, settings, caplog):
    notes = settings.landing.path / "stripe" / "notes.csv"
    notes.parent.mkdir(parents=True)
    notes.write_bytes(b"name,remark\n" + b"Ana,suna-o luni\n" * 1000)       # not a Stripe export
    with caplog.at_level(logging.ERROR, logger="legatura.ingest"):
        [summary] = ingest(notes)
    assert summary.status == "failed"
    [(reason, raw)] = warehouse.execute("SELECT reason, raw FROM quarantine").fetchall()
    assert "not a Stripe payments export" in reason
    assert raw == notes.read_bytes()[:2000].decode() and "Traceback" not in raw
    assert any("Traceback" in r.getMessage() and "notes.csv" in r.getMessage() for r in caplog.records)


# --- rows cut short --------------------------------------------------------------------------------------

CSV_PRESETS = {
    "stripe": "formats/" + STRIPE,
    "paypal": "formats/paypal/Download.CSV",
    "mailchimp": "formats/mailchimp/audience_export_2026-11-10/subscribed_members_export_c41e08b6f2.csv",
    "forms": "formats/forms/Formular contact (Răspunsuri) - Răspunsuri formular 1.csv",
    "eventbrite": "formats/eventbrite/gala-2025_attendees_2025-12-06_after-event.csv",
    "volunteers": "formats/volunteers/volunteer_hours_2026.csv",
    "partners": "partners/acorduri.csv",
}


def cut_row(text: str, record: int, fields: int) -> tuple[str, str]:
    """The export with record `record` (1 = first after the header) cut after `fields` fields, and that row."""
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows[:record])
    cut = io.StringIO()
    csv.writer(cut, lineterminator="").writerow(rows[record][:fields])
    out.write(cut.getvalue() + "\n")
    writer.writerows(rows[record + 1:])
    return out.getvalue(), cut.getvalue()


@pytest.mark.parametrize("channel", sorted(CSV_PRESETS))
def test_every_csv_preset_quarantines_a_row_with_fewer_fields(channel, tmp_path, settings):
    """The companion of test_resaved's long rows: a row cut short is quarantined, never padded and loaded."""
    sample = Path(__file__).parent / "data" / CSV_PRESETS[channel]
    text = sample.read_bytes().decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)))
    fields = max(2, len(header) // 2)
    cut_text, row = cut_row(text, 1, fields)
    results = []
    for name, data in (("original", text), ("cut", cut_text)):
        path = tmp_path / name / sample.name
        path.parent.mkdir()
        path.write_text(data, encoding="utf-8")
        con = db.connect(tmp_path / name / "w.duckdb")
        db.migrate(con)
        [summary] = ingest_paths(con, [path], settings, channel=channel)
        quarantine = con.execute("SELECT reason, raw FROM quarantine WHERE line_or_key = '2'").fetchall()
        results.append((summary.rows_read, summary.rows_quarantined, quarantine))
        con.close()
    (read, quarantined, _), (read_after, quarantined_after, quarantine) = results
    assert (read_after, quarantined_after) == (read, quarantined + 1)
    assert (f"the row has {fields} fields where the header has {len(header)} (cut short)", row) in quarantine


def test_trailing_empty_fields_are_complete_fewer_delimiters_are_cut():
    frame, columns, _ = read_export(b"a,b,c\n1,,\n2,\"\",\"\"\n3,x\n4,y,z", "t.csv")
    assert frame.get_column("ragged").to_list() == [
        None, None, "the row has 2 fields where the header has 3 (cut short)", None]
    assert frame.get_column("record_text").to_list() == [None, None, "3,x", None]
    # a header with unnamed trailing cells (Excel's stray column): rows may leave those out
    frame, _, _ = read_export(b"a,b,,\n1,2\n3,4,,\n", "t.csv")
    assert frame.get_column("ragged").to_list() == [None, None]


def test_only_a_cut_last_row_is_found_without_rereading_the_file():
    body = b"id,amount,campaign\n" + b"".join(b"ch_%d,10.00,\n" % i for i in range(1000)) + b"ch_1000,10"
    frame, _, _ = read_export(body, "s.csv")
    assert frame.height == 1001
    assert frame.get_column("ragged").drop_nulls().to_list() == [
        "the row has 2 fields where the header has 3 (cut short)"]
    assert frame.get_column("record_text").drop_nulls().to_list() == ["ch_1000,10"]


def test_completed_records_match_one_longer_line_only():
    text = "h\nch_1,10.00,Ana\nch_12,5.00,Dan\nch_12,5.00,Dan\n"
    assert completed_records(["ch_1,10.0", "ch_12,5.0", "ch_1,10.00,Ana", "ch_"], text) == {0: 2}


def stripe_exports(formats: Path) -> tuple[bytes, bytes, str]:
    """A Stripe export whose last row is Ana's gift to the Christmas campaign, and the same cut at 18 of 31."""
    lines = (formats / STRIPE).read_text(encoding="utf-8").splitlines(keepends=True)
    header, ana, rest = lines[0], lines[1], lines[2:]
    complete = header + "".join(rest) + ana
    fields = next(csv.reader([ana]))
    assert len(fields) == 31 and fields[0] == "ch_3QKd81Lkd8Xq0Tz51mZp0aRt"
    cut = ana[: [i for i, ch in enumerate(ana) if ch == ","][17]]        # 18 fields, no newline: caught mid-write
    return complete.encode(), (header + "".join(rest) + cut).encode(), cut


def test_a_cut_stripe_row_is_quarantined_then_resolved_by_the_complete_export(ingest, warehouse, settings, formats):
    complete, cut, cut_text = stripe_exports(formats)
    landed = settings.landing.path / "stripe" / "unified_payments.csv"
    landed.parent.mkdir(parents=True)
    landed.write_bytes(cut)
    [first] = ingest(landed)
    assert_accounted([first])
    gift = "SELECT d.amount, d.campaign, c.email FROM donations d LEFT JOIN contacts c USING (contact_id) " \
           "WHERE donation_id = 'stripe:ch_3QKd81Lkd8Xq0Tz51mZp0aRt'"
    assert warehouse.execute(gift).fetchall() == []          # not loaded as a gift without contact or campaign
    [(line, reason, raw, resolved)] = warehouse.execute(
        "SELECT line_or_key, reason, raw, resolved_at FROM quarantine WHERE reason LIKE '%cut short%'").fetchall()
    assert (line, reason, raw, resolved) == (
        "13", "the row has 18 fields where the header has 31 (cut short)", cut_text, None)
    assert warehouse.execute("SELECT count(*) FROM open_quarantine WHERE line_or_key = '13'").fetchone()[0] == 1

    landed.write_bytes(complete)                                 # the rest of the export arrives
    [second] = ingest(landed)
    assert_accounted([second])
    assert (second.rows_ingested, second.rows_duplicate) == (1, first.rows_ingested)
    [(amount, campaign, email)] = warehouse.execute(gift).fetchall()
    assert (str(amount), campaign, email) == ("150.00", "Campania de Crăciun 2026", "ana.marginean@gmail.com")
    [(resolved_at, resolved_by)] = warehouse.execute(
        "SELECT resolved_at, resolved_by FROM quarantine WHERE reason LIKE '%cut short%'").fetchall()
    assert resolved_at is not None and resolved_by == f"{landed} line 13"
    assert warehouse.execute("SELECT count(*) FROM open_quarantine WHERE reason LIKE '%cut short%'").fetchone() == (0,)
    # the sample's real problems (no charge id, '########', '#VALUE!') stay open, once per version of the file
    assert warehouse.execute("SELECT count(*) FROM open_quarantine").fetchone() == (6,)
    assert db.check_invariants(warehouse) == {}


def test_a_cut_row_is_resolved_by_a_complete_export_in_the_same_run(ingest, warehouse, settings, formats):
    complete, cut, _ = stripe_exports(formats)
    inbox = settings.landing.path / "stripe"
    inbox.mkdir(parents=True)
    (inbox / "a_cut.csv").write_bytes(cut)
    (inbox / "b_complete.csv").write_bytes(complete)
    assert_accounted(ingest(settings.landing.path))
    assert warehouse.execute("SELECT source_file, resolved_by FROM quarantine WHERE reason LIKE '%cut short%'"
                             ).fetchall() == [(str(inbox / "a_cut.csv"), f"{inbox / 'b_complete.csv'} line 13")]


# --- watch waits for the last newline ---------------------------------------------------------------------

def test_watcher_waits_for_the_final_newline_up_to_complete_wait(settings, formats):
    settings.landing.complete_wait_seconds = 1.2
    said = []
    watcher = LandingWatcher(settings, said.append, max_wait_seconds=None, on_batch=None)
    _, cut, _ = stripe_exports(formats)
    landed = settings.landing.path / "stripe" / "unified_payments.csv"
    landed.parent.mkdir(parents=True)
    landed.write_bytes(cut)
    start = time.monotonic()
    watcher.observe([landed], start)
    assert watcher.due(start + settings.landing.stable_seconds + 0.1) == []      # stable, but cut mid-row
    assert watcher.due(start + 1.0) == []
    assert sum("does not end with a newline yet" in m for m in said) == 1        # said once, not every tick
    assert watcher.due(start + 1.3) == [landed]                                  # waited long enough: take it
    assert "still ends mid-line after 1.2 s" in said[-1]
    complete = settings.landing.path / "stripe" / "complete.csv"
    complete.write_bytes(cut + b"\n")
    watcher.observe([complete], start)
    assert watcher.due(start + settings.landing.stable_seconds + 0.1) == [complete]


@pytest.mark.prefect
def test_watch_takes_a_cut_export_after_the_wait_and_the_rest_resolves_it(configure, config, formats, prefect_api):
    """Finding 3 end to end: a copy pauses mid-row for longer than stable_seconds, then resumes."""
    from test_watch import watch_in_thread

    settings = configure(landing={"complete_wait_seconds": 1.5})
    complete, cut, _ = stripe_exports(formats)
    landed = settings.landing.path / "stripe" / "unified_payments.csv"
    landed.parent.mkdir(parents=True)
    landed.write_bytes(cut)
    written = time.monotonic()
    batches, stop, thread = watch_in_thread(settings, prefect_api, config)
    try:
        assert eventually(lambda: len(batches) >= 1)
        assert time.monotonic() - written >= 1.5                 # not taken before complete_wait_seconds
        [first] = batches[0].result.files
        assert (first.rows_read, first.rows_ingested, first.rows_quarantined) == (12, 8, 4)
        with landed.open("ab") as handle:                         # the writer resumes
            handle.write(complete[len(cut):])
        assert eventually(lambda: len(batches) >= 2)
    finally:
        stop.set()
        thread.join(30)
    [second] = batches[1].result.files
    assert (second.rows_ingested, second.rows_duplicate, second.rows_quarantined) == (1, 8, 3)
    con = db.connect(settings.warehouse.path, read_only=True)
    try:
        assert con.execute("SELECT campaign FROM donations WHERE external_id = 'ch_3QKd81Lkd8Xq0Tz51mZp0aRt'"
                           ).fetchall() == [("Campania de Crăciun 2026",)]
        assert con.execute("SELECT resolved_by FROM quarantine WHERE reason LIKE '%cut short%'").fetchall() == [
            (f"{landed} line 13",)]
    finally:
        con.close()


# --- names with control characters --------------------------------------------------------------------------

def test_names_with_newline_and_escape_cannot_split_or_colour_a_line(ingest, settings, formats):
    inbox = settings.landing.path / "stripe"
    odd = copy_sample(formats / STRIPE, inbox, "plăți\nERROR fake line \x1b[2J.csv")
    broken = inbox / "rău\r\x1b]0;title\x07.csv"
    broken.write_bytes(b"not,an,export\n1,2,3\n")
    summaries = {s.path: s for s in ingest(settings.landing.path)}
    assert set(summaries) == {str(odd), str(broken)}
    lines = [s.line() for s in summaries.values()] + [summaries[str(broken)].error]
    for line in lines:
        assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in line), repr(line)
    assert "plăți\\nERROR fake line \\x1b[2J.csv [stripe]: read 12" in summaries[str(odd)].line()
    assert "rău\\r\\x1b]0;title\\x07.csv: FAILED" in summaries[str(broken)].line()
    assert shown_name("a\u202egpj.exe") == "a\\u202egpj.exe" and shown_name(os.fsdecode(b"x\xff")) == "x\\xff"


def test_watcher_messages_escape_names(settings):
    said = []
    watcher = LandingWatcher(settings, said.append, max_wait_seconds=None, on_batch=None)
    odd = settings.landing.path / "no\nsuch\x1b" / "x.csv"
    odd.parent.mkdir(parents=True)
    odd.write_text("x\n")
    watcher.sweep(0.0)
    assert len(said) == 1 and "no\\nsuch\\x1b/ names no preset" in said[0] and "\n" not in said[0]
    assert FileSummary(path="a\nb", channel="stripe").line().startswith("a\\nb [stripe]")


def test_discover_lists_odd_names_as_they_are(settings, formats):
    """Escaping is for showing: the ledger keeps the real name."""
    odd = copy_sample(formats / STRIPE, settings.landing.path / "stripe", "a\nb.csv")
    [source] = discover([settings.landing.path], settings)
    assert source.path == odd and source.channel == "stripe"


# --- the watcher stops on SIGINT and SIGTERM ----------------------------------------------------------------

EXE = Path(sys.executable).with_name("legatura")


def start_watch(tmp_path: Path, api_url: str) -> subprocess.Popen:
    (tmp_path / "legatura.toml").write_text("[landing]\nstable_seconds = 0.3\ncomplete_wait_seconds = 1\n")
    env = {**os.environ, "PREFECT_API_URL": api_url, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([str(EXE), "watch"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def ledger(tmp_path: Path) -> list[tuple]:
    con = db.connect(tmp_path / "warehouse" / "legatura.duckdb", read_only=True)
    try:
        return con.execute("SELECT path, status, rows_read, rows_ingested FROM ingested_files ORDER BY path").fetchall()
    finally:
        con.close()


@pytest.mark.subprocess
@pytest.mark.prefect
@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_watch_stops_cleanly_on_a_signal(sig, status, tmp_path, formats, prefect_api):
    inbox = tmp_path / "landing" / "stripe"
    copy_sample(formats / STRIPE, inbox, "first.csv")
    watcher = start_watch(tmp_path, prefect_api)
    try:
        assert eventually(lambda: (tmp_path / "warehouse" / "analytics.duckdb").exists())
        assert eventually(lambda: len(ledger(tmp_path)) == 1)
        # a second export lands; the signal comes while it may be in flight: committed or absent, never half
        copy_sample(formats / STRIPE, inbox, "second.csv")
        time.sleep(0.5)
        watcher.send_signal(sig)
        out, err = watcher.communicate(timeout=120)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == status, err
    assert "Traceback" not in err
    stops = [line for line in err.splitlines() if line.startswith("watch stopped")]
    assert stops == [stops[0]] and stops[0].startswith(f"watch stopped by {sig.name}: ")
    rows = ledger(tmp_path)
    assert rows[0][1:] == ("loaded", 12, 9)
    assert [r[1:] for r in rows[1:]] in ([], [("already_ingested", 12, 0)])
