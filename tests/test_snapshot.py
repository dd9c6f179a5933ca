"""The analysts' snapshot: published only when the warehouse changed, atomically, at most once per
warehouse.snapshot_min_seconds when set, and never left pending when the watcher stops."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from legatura.warehouse import db, snapshot

from tests.test_watch import PAYMENTS, watch_in_thread
from tests.waiting import eventually


def snapshot_count(path: Path, table: str = "contacts") -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()


def write(settings, rows: int = 0, min_seconds: float = 0.0) -> None:
    """One writing command: `rows` new contacts (0: it only reads)."""
    with db.open_for_write(settings.warehouse.path, "test", snapshot_path=settings.warehouse.snapshot,
                           snapshot_min_seconds=min_seconds) as con:
        start = con.execute("SELECT coalesce(max(contact_id), 0) FROM contacts").fetchall()[0][0]
        if rows:
            con.execute("INSERT INTO contacts (contact_id, full_name) SELECT i, 'P' || i FROM range(?, ?) t(i)",
                        [start + 1, start + 1 + rows])


def test_snapshot_published_after_a_write_and_not_copied_when_nothing_changed(settings):
    target = settings.warehouse.snapshot
    write(settings, rows=3)
    assert snapshot_count(target) == 3
    copied = target.stat()
    for _ in range(2):
        write(settings)   # a command that changed nothing (it re-creates the views, as every one does)
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (copied.st_ino, copied.st_mtime_ns)
    write(settings, rows=2)
    assert target.stat().st_ino != copied.st_ino and snapshot_count(target) == 5
    state = json.loads(snapshot.SnapshotState.path(target).read_text())
    assert state["pending"] is False and state["method"] in ("reflink", "copy_file_range", "copy")


def test_snapshot_readers_keep_the_old_file_while_a_new_one_is_published(settings):
    write(settings, rows=1)
    reader = duckdb.connect(str(settings.warehouse.snapshot), read_only=True)
    try:
        write(settings, rows=1)   # the analyst's open snapshot neither blocks nor breaks the publish
        assert reader.execute("SELECT count(*) FROM contacts").fetchall() == [(1,)]
    finally:
        reader.close()
    assert snapshot_count(settings.warehouse.snapshot) == 2


def test_snapshot_follows_writes_made_outside_legatura_and_views_of_another_release(settings):
    write(settings, rows=1)
    con = db.connect(settings.warehouse.path)   # an operator's fix, straight into the warehouse
    con.execute("INSERT INTO contacts (contact_id, full_name) VALUES (100, 'Operator')")
    con.close()
    write(settings)
    assert snapshot_count(settings.warehouse.snapshot) == 2
    # a snapshot taken by an older release has other views: a command that changes nothing replaces it
    state_file = snapshot.SnapshotState.path(settings.warehouse.snapshot)
    state_file.write_text(json.dumps({**json.loads(state_file.read_text()), "views": "older"}))
    before = settings.warehouse.snapshot.stat().st_ino
    write(settings)
    assert settings.warehouse.snapshot.stat().st_ino != before


def test_snapshot_min_seconds_defers_and_publish_pending_catches_up(settings):
    target = settings.warehouse.snapshot
    write(settings, rows=1, min_seconds=3600)          # the first copy is due at once
    assert snapshot_count(target) == 1
    write(settings, rows=1, min_seconds=3600)          # within the hour: left pending
    assert snapshot_count(target) == 1
    assert snapshot.is_due(target, 0) and not snapshot.is_due(target, 3600)
    assert db.publish_pending(settings.warehouse.path, target, min_seconds=3600) is None
    # someone else is writing: no waiting, their write publishes
    with db.write_lock(settings.warehouse.path, "another writer"):
        assert db.publish_pending(settings.warehouse.path, target) is None
    done = db.publish_pending(settings.warehouse.path, target)
    assert done.outcome == "published" and snapshot_count(target) == 2
    assert db.publish_pending(settings.warehouse.path, target) is None   # nothing pending any more


def test_copy_file_is_byte_identical(tmp_path: Path):
    source = tmp_path / "a.bin"
    source.write_bytes(bytes(range(256)) * 40_000)
    method = snapshot.copy_file(source, tmp_path / "b.bin")
    assert method in ("reflink", "copy_file_range", "copy")
    assert (tmp_path / "b.bin").read_bytes() == source.read_bytes()


def test_publish_refuses_an_unfinished_write(settings):
    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    con.execute("CHECKPOINT")
    con.execute("INSERT INTO contacts (contact_id, full_name) VALUES (1, 'Ana')")   # in the WAL only
    try:
        with pytest.raises(db.WarehouseError, match="write-ahead log is pending"):
            db.publish_snapshot(settings.warehouse.path, settings.warehouse.snapshot)
    finally:
        con.close()


@pytest.mark.prefect
def test_watch_publishes_at_most_once_per_min_seconds_and_on_stop(configure, config, prefect_api):
    settings = configure(warehouse={"snapshot_min_seconds": 3600})   # what the watcher's flows read
    landing = settings.landing.path / "stripe"
    landing.mkdir(parents=True)
    (landing / "first.csv").write_bytes(PAYMENTS.read_bytes())
    batches, stop, thread = watch_in_thread(settings, prefect_api, config)
    try:
        assert eventually(lambda: len(batches) >= 1)
        assert snapshot_count(settings.warehouse.snapshot, "donations") == 4   # the first copy is due at once
        (landing / "second.csv").write_bytes(PAYMENTS.read_bytes().replace(b"ch_watch_", b"ch_second_"))
        assert eventually(lambda: len(batches) >= 2)
        assert batches[1].error is None
        assert snapshot_count(settings.warehouse.snapshot, "donations") == 4   # within the hour: pending
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert snapshot_count(settings.warehouse.snapshot, "donations") == 8       # published as it stopped


def test_a_command_ends_with_a_current_snapshot_even_when_its_write_deferred_it(settings):
    from legatura.flows import cli

    settings.warehouse.snapshot_min_seconds = 3600
    write(settings, rows=1, min_seconds=3600)
    write(settings, rows=1, min_seconds=3600)   # deferred: published less than an hour ago
    assert snapshot_count(settings.warehouse.snapshot) == 1
    saved = cli.state.settings
    cli.state.settings = settings
    try:
        cli._publish_pending_snapshot()          # what the CLI runs as every command ends
    finally:
        cli.state.settings = saved
    assert snapshot_count(settings.warehouse.snapshot) == 2


def test_a_publish_rewrites_in_place_only_a_spare_no_reader_holds(settings, tmp_path):
    """The file a publish replaces is kept; the next publish writes into it only the blocks that differ,
    unless a reader (in another process or in this one) still has it open: then it copies the whole file."""
    import subprocess
    import sys

    target = settings.warehouse.snapshot
    write(settings, rows=1)
    write(settings, rows=1)                            # the first generation is kept as the spare
    assert snapshot.spare_path(target).exists()
    write(settings, rows=1000)
    assert snapshot.SnapshotState.read(target).method == "delta"
    assert target.read_bytes() == settings.warehouse.path.read_bytes()
    assert snapshot_count(target) == 1002

    # a reader in another process opens this generation; two publishes later it is the spare
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys\n"
         f"con = duckdb.connect({str(target)!r}, read_only=True)\n"
         "q = 'SELECT count(*), sum(length(full_name)) FROM contacts'\n"
         "print(con.execute(q).fetchall(), flush=True)\nsys.stdin.readline()\n"
         "print(con.execute(q).fetchall(), flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        seen = reader.stdout.readline()
        write(settings, rows=5)
        write(settings, rows=5)                        # its file is the spare now: not rewritten
        assert snapshot.SnapshotState.read(target).method != "delta"
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline() == seen       # what it read is what it reads
    finally:
        reader.communicate(timeout=30)
    # and a connection of this very process, which file locks cannot see
    mine = duckdb.connect(str(target), read_only=True)
    try:
        write(settings, rows=1)
        write(settings, rows=1)
        assert snapshot.SnapshotState.read(target).method != "delta"
        assert mine.execute("SELECT count(*) FROM contacts").fetchall() == [(1012,)]
    finally:
        mine.close()
    write(settings, rows=1)                            # nobody holds the spare: in place again
    assert snapshot.SnapshotState.read(target).method == "delta"
    assert target.read_bytes() == settings.warehouse.path.read_bytes()
    assert snapshot_count(target) == 1015
