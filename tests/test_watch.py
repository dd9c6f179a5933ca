"""The landing watcher: readiness from (size, mtime), partial names ignored, ledger skips, real ingest runs."""
from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path

import pytest
from legatura.flows.watch import (
    LandingWatcher,
    StabilityTracker,
    already_in_ledger,
    landed_channel,
    signature_of,
    watch,
)
from legatura.warehouse import db

from tests.waiting import eventually

DATA = Path(__file__).parent / "data" / "watch"
PAYMENTS = DATA / "stripe_payments_small.csv"


def test_tracker_waits_until_size_and_mtime_stop_changing():
    tracker = StabilityTracker(stable_seconds=1.0)
    path = Path("landing/stripe/payments.csv")
    tracker.observe(path, (100, 1), now=0.0)
    tracker.observe(path, (250, 2), now=0.8)        # still being copied
    assert tracker.ready(1.5) == []
    tracker.observe(path, (250, 2), now=1.7)
    assert tracker.ready(1.7) == []                 # unchanged for 0.9 s only
    assert tracker.next_due(1.7) == pytest.approx(0.1)
    tracker.observe(path, (250, 2), now=1.8)
    assert tracker.ready(1.8) == [path]


def test_tracker_hands_over_once_and_takes_a_new_version():
    tracker = StabilityTracker(stable_seconds=0.5)
    path = Path("landing/twilio/inbound-2026-11-27.jsonl")
    tracker.observe(path, (10, 1), now=0.0)
    tracker.handed_over(tracker.ready(1.0))
    tracker.observe(path, (10, 1), now=5.0)         # a rescan sees the same version: nothing to do
    assert tracker.pending() == [] and tracker.ready(9.0) == []
    tracker.observe(path, (20, 2), now=6.0)         # a line was appended
    assert tracker.ready(6.6) == [path]
    tracker.handed_over([path])
    tracker.retry([path])                           # its ingest failed: the next observation brings it back
    tracker.observe(path, (20, 2), now=7.0)
    assert tracker.ready(7.5) == [path]


def test_tracker_gone_file_is_forgotten():
    tracker = StabilityTracker(stable_seconds=0.5)
    path = Path("landing/stripe/x.csv")
    tracker.observe(path, (10, 1), now=0.0)
    tracker.observe(path, None, now=0.2)
    assert tracker.ready(5.0) == [] and tracker.next_due(5.0) is None


def test_tracker_overdue_only_for_a_file_that_keeps_changing():
    tracker = StabilityTracker(stable_seconds=1.0, max_wait_seconds=30.0)
    busy, quiet = Path("landing/twilio/inbound.jsonl"), Path("landing/stripe/a.csv")
    tracker.observe(quiet, (1, 1), now=0.0)
    for second in range(0, 32):
        tracker.observe(busy, (second, second), now=float(second))
    assert tracker.overdue(31.0) == [busy]
    assert tracker.ready(31.0) == [quiet]


def test_landed_channel_ignores_partial_hidden_and_top_level_names(tmp_path):
    landing = tmp_path / "landing"
    assert landed_channel(landing / "stripe" / "export.csv", landing) == "stripe"
    assert landed_channel(landing / "email" / "donatii" / "cur" / "1792.M1:2,S", landing) == "email"
    for ignored in ("stripe/export.csv.part", "stripe/export.tmp", "stripe/.export.csv", "stripe/x.crdownload",
                    "export.csv", ".hidden/x.csv", "email/donatii/tmp/1794.M2", "stripe/~$export.csv"):
        assert landed_channel(landing / ignored, landing) is None, ignored
    assert landed_channel(tmp_path / "elsewhere" / "x.csv", landing) is None


def _append_in_steps(target: Path, data: bytes, steps: int, pause: float, check) -> None:
    size = len(data) // steps
    for i in range(steps):
        chunk = data[i * size:] if i == steps - 1 else data[i * size:(i + 1) * size]
        with target.open("ab") as handle:
            handle.write(chunk)
        time.sleep(pause)
        check()


def test_watcher_half_written_file_is_not_ingested_until_complete(settings):
    """A file copied in steps (each pause shorter than stable_seconds) is due only once it stops growing."""
    watcher = LandingWatcher(settings, lambda m: None, max_wait_seconds=None, on_batch=None)
    target = settings.landing.path / "stripe" / "payments.csv"
    target.parent.mkdir(parents=True)
    pause = settings.landing.stable_seconds / 3

    def not_due_yet() -> None:
        watcher.observe([target], time.monotonic())
        assert watcher.due(time.monotonic()) == []

    _append_in_steps(target, PAYMENTS.read_bytes(), steps=5, pause=pause, check=not_due_yet)
    time.sleep(settings.landing.stable_seconds + 0.05)
    assert watcher.due(time.monotonic()) == [target]
    assert target.read_bytes() == PAYMENTS.read_bytes()


def test_watcher_growing_jsonl_is_taken_after_max_wait_only_at_a_line_end(settings):
    watcher = LandingWatcher(settings, lambda m: None, max_wait_seconds=0.0, on_batch=None)
    day_file = settings.landing.path / "twilio" / "inbound-2026-11-27.jsonl"
    day_file.parent.mkdir(parents=True)
    day_file.write_bytes(b'{"MessageSid": "SM1"')             # mid-line
    watcher.observe([day_file], time.monotonic())
    assert watcher.due(time.monotonic()) == []
    with day_file.open("ab") as handle:
        handle.write(b"}\n")
    watcher.observe([day_file], time.monotonic())
    assert watcher.due(time.monotonic()) == [day_file]


def test_watcher_names_files_as_landing_path_and_skips_unknown_channels(settings):
    said = []
    watcher = LandingWatcher(settings, said.append, max_wait_seconds=None, on_batch=None)
    for name in ("stripe/a.csv", "stripe/a.csv.part", "nosuchchannel/b.csv", "c.csv"):
        path = settings.landing.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    watcher.sweep(0.0)
    assert watcher.tracker.pending() == [settings.landing.path / "stripe" / "a.csv"]
    assert len(said) == 1 and "nosuchchannel/ names no preset or [mappings.nosuchchannel]" in said[0]
    watcher.observe([str((settings.landing.path / "stripe" / "a.csv").resolve())], 0.0)
    assert watcher.tracker.pending() == [settings.landing.path / "stripe" / "a.csv"]


def test_already_in_ledger_skips_only_the_same_path_and_content(settings, warehouse, ingest):
    landed = settings.landing.path / "stripe" / "payments.csv"
    landed.parent.mkdir(parents=True)
    landed.write_bytes(PAYMENTS.read_bytes())
    ingest(landed)
    warehouse.execute("CHECKPOINT")
    db.publish_snapshot(settings.warehouse.path, settings.warehouse.snapshot)
    copy = landed.with_name("payments-copy.csv")
    copy.write_bytes(PAYMENTS.read_bytes())
    assert already_in_ledger([landed, copy], settings) == {landed}
    with landed.open("ab") as handle:
        handle.write(b"ch_watch_005,2026-11-06 12:00:00,10.00,0.00,ron,Paid,maria.ene@gmail.com,Maria Ene,\n")
    assert already_in_ledger([landed], settings) == set()


def prefect_context(api_url: str) -> contextvars.Context:
    """A context whose Prefect settings point at the session's server, for a thread to run in.

    Prefect reads PREFECT_API_URL once, when it is first imported (here at collection, before the
    prefect_api fixture sets it), and threads do not inherit context variables: so both are set here.
    Logs stay local: shipping them would outlive the session's server and stall the interpreter's exit.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_LOGGING_TO_API_ENABLED: False}):
        return contextvars.copy_context()


def watch_in_thread(settings, api_url: str, config: str, **options):
    """The real watcher in a thread of its own (its ingest flow reads `config`); returns (batches, stop, thread)."""
    batches, stop = [], threading.Event()
    thread = threading.Thread(target=prefect_context(api_url).run, args=(watch, settings, stop), daemon=True,
                              kwargs={"on_batch": batches.append, "rescan_seconds": 1.0, "config": config,
                                      **options})
    thread.start()
    return batches, stop, thread


@pytest.mark.prefect
def test_watch_sweeps_waiting_files_then_ingests_a_file_once_complete(settings, config, prefect_api):
    waiting = settings.landing.path / "stripe" / "waiting.csv"
    waiting.parent.mkdir(parents=True)
    waiting.write_bytes(PAYMENTS.read_bytes())
    batches, stop, thread = watch_in_thread(settings, prefect_api, config)
    try:
        assert eventually(lambda: len(batches) >= 1)
        [first] = batches
        assert first.error is None and first.paths == [waiting]
        assert first.result.files[0].rows_ingested == 4

        # a second export copied in steps: not ingested before its last byte is there
        late = settings.landing.path / "stripe" / "late.csv"
        body = PAYMENTS.read_bytes().replace(b"ch_watch_", b"ch_late_")
        _append_in_steps(late, body, steps=4, pause=settings.landing.stable_seconds / 3,
                         check=lambda: None)
        assert eventually(lambda: len(batches) >= 2)
        assert batches[1].paths == [late] and batches[1].result.files[0].rows_ingested == 4
        assert signature_of(late)[0] == len(body)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert len(batches) == 2  # the rescans saw nothing new
    con = db.connect(settings.warehouse.path, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM donations").fetchone()[0] == 8
        assert con.execute("SELECT count(DISTINCT path) FROM ingested_files").fetchone()[0] == 2
    finally:
        con.close()


@pytest.mark.prefect
def test_watch_survives_a_failing_batch_and_retries_it(configure, config, prefect_api):
    """The warehouse is locked by someone else: the batch fails, the watcher lives and retries later."""
    settings = configure(warehouse={"lock_timeout_seconds": 0.5})
    landed = settings.landing.path / "stripe" / "payments.csv"
    landed.parent.mkdir(parents=True)
    with db.write_lock(settings.warehouse.path, "a test holding the lock"):
        landed.write_bytes(PAYMENTS.read_bytes())
        batches, stop, thread = watch_in_thread(settings, prefect_api, config)
        try:
            assert eventually(lambda: len(batches) >= 1)
        except BaseException:
            stop.set()
            raise
    try:
        assert "WarehouseBusy" in batches[0].error
        assert eventually(lambda: any(b.error is None for b in batches))
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(30)
    done = [b for b in batches if b.error is None]
    assert done[0].result.files[0].rows_ingested == 4
