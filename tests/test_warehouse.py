"""The warehouse file: idempotent migrations, one writer at a time (waiting), snapshots readers can hold."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
from legatura.warehouse import db

CONTRACT = {
    "contacts": {"contact_id", "full_name", "email", "phone", "language", "kind"},
    "contact_identities": {"contact_id", "identity_type", "identity_value"},
    "interactions": {"interaction_id", "contact_id", "channel", "direction", "kind", "occurred_at", "subject",
                     "body", "external_id", "thread_ref", "source_file"},
    "donations": {"donation_id", "contact_id", "amount", "amount_refunded", "currency", "net_amount_base",
                  "donated_at", "method", "recurring", "campaign", "source"},
    "volunteer_shifts": {"contact_id", "started_at", "hours", "activity"},
    "partners": {"partner_id", "contact_id", "partner_type", "stage", "objectives", "responsibilities",
                 "contributions", "starts_on", "ends_on", "cooperation_mechanism", "benefit_sharing", "liaison"},
    "consents": {"contact_id", "channel", "address", "status", "recorded_at", "source"},
    "segment_membership": {"contact_id", "segment", "since"},
    "segment_history": {"contact_id", "segment", "entered_at", "exited_at"},
    "messages": {"message_id", "contact_id", "campaign", "channel", "language", "subject", "body_text", "status",
                 "queued_at", "sent_at", "smtp_message_id", "attempts", "error"},
    "response_times": {"message_id", "contact_id", "channel", "sent_at", "responded_at", "response_seconds",
                       "response_interaction_id"},
    "inbound_response_times": {"interaction_id", "contact_id", "channel", "received_at", "answered_at",
                               "first_response_seconds", "sla_breached"},
    "ingested_files": {"path", "sha256", "channel", "rows_ingested", "rows_duplicate", "rows_quarantined",
                       "ingested_at"},
    "quarantine": {"source_file", "line_or_key", "reason", "raw"},
    "contact_merges": {"kept_contact_id", "merged_contact_id", "shared_identity", "merged_at"},
    "possible_duplicates": set(),
}


def test_migrate_creates_every_contract_name_with_its_key_columns(warehouse):
    for name, columns in CONTRACT.items():
        found = {r[0] for r in warehouse.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]).fetchall()}
        assert found, f"{name} missing"
        assert columns <= found, f"{name} lacks {columns - found}"


def test_migrate_twice_changes_nothing(warehouse):
    before = warehouse.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert db.migrate(warehouse) == []
    assert warehouse.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == before


def test_second_writer_waits_for_the_lock_with_a_message(settings):
    path = settings.warehouse.path
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from legatura.warehouse import db
        with db.write_lock(Path({str(path)!r}), "legatura segment"):
            print("locked", flush=True)
            time.sleep(2)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    messages: list[str] = []
    started = time.monotonic()
    with db.open_for_write(path, "legatura ingest", lock_timeout=30, notify=messages.append) as con:
        waited = time.monotonic() - started
        con.execute("SELECT count(*) FROM contacts").fetchall()
    holder.wait(timeout=10)
    assert waited > 0.5
    assert len(messages) == 1 and "legatura segment" in messages[0] and f"pid {holder.pid}" in messages[0]


def test_writer_gives_up_after_timeout_with_a_clear_error(settings):
    path = settings.warehouse.path
    path.parent.mkdir(parents=True, exist_ok=True)
    with db.write_lock(path, "legatura run"):
        holder = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            from pathlib import Path
            from legatura.warehouse import db
            try:
                with db.write_lock(Path({str(path)!r}), "legatura ingest", timeout=0.5):
                    pass
            except db.WarehouseBusy as exc:
                print(exc)
        """)], capture_output=True, text=True, timeout=30)
    assert "still locked by pid" in holder.stdout and "legatura run" in holder.stdout


def test_reader_holding_the_snapshot_does_not_stop_a_writer(settings):
    paths = settings.warehouse
    with db.open_for_write(paths.path, "test", snapshot_path=paths.snapshot) as con:
        con.execute("INSERT INTO contacts (contact_id, full_name, kind) VALUES (1, 'Ana', 'person')")
    reader = duckdb.connect(str(paths.snapshot), read_only=True)
    assert reader.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1
    with db.open_for_write(paths.path, "test", snapshot_path=paths.snapshot) as con:
        con.execute("INSERT INTO contacts (contact_id, full_name, kind) VALUES (2, 'Ion', 'person')")
    # the reader keeps its consistent old snapshot; a new reader sees the new one
    assert reader.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1
    reader.close()
    fresh = duckdb.connect(str(paths.snapshot), read_only=True)
    assert fresh.execute("SELECT count(*) FROM contacts").fetchone()[0] == 2
    fresh.close()


# --- migrations (issue 9, finding 10): checksums, and one schema for old and new warehouses

import hashlib  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

MIGRATIONS = Path(db.SQL_ROOT) / "migrations"
LANDED = Path(__file__).parent / "data" / "migrations"


def _schema(con) -> dict[str, list]:
    """Every table's columns (order, type, nullability, default) and constraints, to compare two warehouses."""
    return {
        "columns": con.execute(
            "SELECT table_name, column_index, column_name, data_type, is_nullable, column_default "
            "FROM duckdb_columns() WHERE schema_name = 'main' AND NOT internal "
            "AND table_name IN (SELECT table_name FROM duckdb_tables()) ORDER BY ALL").fetchall(),
        "constraints": con.execute(
            "SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() "
            "WHERE schema_name = 'main' AND table_name <> 'schema_migrations' ORDER BY ALL").fetchall(),
        "views": con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL").fetchall(),
    }


def _old_warehouse(path, files: list[tuple[str, Path]]):
    """A warehouse as the code of its day built it: schema_migrations without checksums, files as they were."""
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE schema_migrations (version VARCHAR PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    for version, file in files:
        con.execute(file.read_text(encoding="utf-8"))
        con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
    for view in sorted((Path(db.SQL_ROOT) / "views").glob("*.sql")):   # its views, where they bind
        try:
            con.execute(view.read_text(encoding="utf-8"))
        except duckdb.Error:
            pass
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0] > 5
    return con


# the order each kind of warehouse applied its migrations in: 005 landed before 003
FIRST_LANDED = [("001_core", LANDED / "001_core.landed.sql"), ("005_tracking", LANDED / "005_tracking.landed.sql"),
                ("003_segments", MIGRATIONS / "003_segments.sql")]
AFTER_007B00E = [("001_core", MIGRATIONS / "001_core.sql"), ("003_segments", MIGRATIONS / "003_segments.sql"),
                 ("005_tracking", LANDED / "005_tracking.007b00e.sql")]
LATER = [("006_contact_records", MIGRATIONS / "006_contact_records.sql"),
         ("007_ignored_records", MIGRATIONS / "007_ignored_records.sql")]


@pytest.mark.parametrize("history", [FIRST_LANDED, FIRST_LANDED + LATER, AFTER_007B00E + LATER,
                                     FIRST_LANDED + LATER + [("020_messaging", MIGRATIONS / "020_messaging.sql")]],
                         ids=["first-landed", "first-landed+006-007", "007b00e+006-007", "first-landed+020"])
def test_old_warehouse_migrates_to_the_schema_of_a_new_one(tmp_path, history):
    fresh = db.connect(tmp_path / "fresh.duckdb")
    db.migrate(fresh)
    old = _old_warehouse(tmp_path / "old.duckdb", history)
    assert _schema(old)["constraints"] != _schema(fresh)["constraints"]   # the drift this fixes
    old.execute("INSERT INTO interactions (interaction_id, channel, direction, kind, occurred_at) "
                "VALUES ('sms:SM1', 'sms', 'inbound', 'message', '2026-11-30 10:00+00')")
    old.execute("INSERT INTO message_responses VALUES ('m1', 'sms:SM1', '2026-11-30 10:00+00', 'same_channel')")
    db.migrate(old)
    assert _schema(old) == _schema(fresh)
    assert old.execute("SELECT interaction_id FROM interactions").fetchall() == [("sms:SM1",)]
    assert old.execute("SELECT message_id FROM message_responses").fetchall() == [("m1",)]
    # every applied file now has today's checksum, recorded after 008 fixed the drift
    sums = dict(old.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    assert sums == {p.stem: db.checksum(p) for p in sorted(MIGRATIONS.glob("*.sql"))}
    assert db.migrate(old) == []


def test_checksums_are_recorded_and_a_changed_migration_is_refused(tmp_path, monkeypatch):
    con = db.connect(tmp_path / "w.duckdb")
    db.migrate(con)
    sums = dict(con.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    core = MIGRATIONS / "001_core.sql"
    assert sums["001_core"] == hashlib.sha256(core.read_bytes()).hexdigest()
    edited = tmp_path / "sql"
    for folder in ("migrations", "views"):
        (edited / folder).mkdir(parents=True)
        for file in (Path(db.SQL_ROOT) / folder).glob("*.sql"):
            (edited / folder / file.name).write_bytes(file.read_bytes())
    (edited / "migrations" / "005_tracking.sql").write_text(
        (MIGRATIONS / "005_tracking.sql").read_text() + "\n-- an edit after landing\n")
    monkeypatch.setattr(db, "SQL_ROOT", edited)
    with pytest.raises(db.MigrationChanged, match=r"^warehouse/migrations/005_tracking.sql has changed since it "
                                                  r"was applied to this warehouse .*never edited"):
        db.migrate(con)


def test_landed_migrations_are_never_edited():
    """tests/data/migrations/landed.sha256 lists every migration on main: none may change (add a new file)."""
    for line in (LANDED / "landed.sha256").read_text().splitlines():
        digest, name = line.split()
        assert db.checksum(MIGRATIONS / name) == digest, f"{name} was edited after it landed"


def test_views_are_recreated_only_when_their_files_changed_or_one_is_missing(tmp_path, monkeypatch):
    import shutil

    from legatura.warehouse import db as warehouse_db

    con = warehouse_db.connect(tmp_path / "w.duckdb")
    warehouse_db.migrate(con)
    con.execute("CREATE OR REPLACE VIEW open_quarantine AS SELECT 'tampered' AS x")   # not what the file says
    warehouse_db.migrate(con)                        # same files, every name present: nothing re-created
    assert con.execute("SELECT * FROM open_quarantine").fetchall() == [("tampered",)]
    con.execute("DROP VIEW donor_retention")
    warehouse_db.migrate(con)                        # a view missing: all re-created from the files
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'donor_retention'").fetchall() == [(1,)]
    assert "x" not in [d[0] for d in con.execute("SELECT * FROM open_quarantine").description]
    # a changed view file: re-created
    root = tmp_path / "sql"
    shutil.copytree(warehouse_db.SQL_ROOT, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    comments = root / "views" / "900_comments.sql"
    comments.write_text(comments.read_text(encoding="utf-8") + "\nCREATE OR REPLACE VIEW extra_view AS SELECT 1 AS one;\n",
                        encoding="utf-8")
    monkeypatch.setattr(warehouse_db, "SQL_ROOT", root)
    warehouse_db.migrate(con)
    assert con.execute("SELECT one FROM extra_view").fetchall() == [(1,)]
    con.close()


def test_a_writer_sees_the_file_as_duckdb_connect_does_with_row_groups_written_before_the_commit(tmp_path):
    """db.connect attaches the file with smaller row groups: the same catalog, the only database, its
    second connections included; a large insert is in the file before COMMIT, a rolled-back one never is."""
    path = tmp_path / "o'neil warehouse.duckdb"
    con = db.connect(path)
    assert con.execute("SELECT current_database()").fetchall() == [("o'neil warehouse",)]
    assert [r[0] for r in con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall()] \
        == ["o'neil warehouse"]
    con.execute("CREATE TABLE t (i BIGINT, body VARCHAR)")
    con.execute("CHECKPOINT")
    empty = path.stat().st_size
    con.execute("BEGIN TRANSACTION")
    rows = db.ROW_GROUP_ROWS
    con.execute(f"INSERT INTO t SELECT i, repeat('corp ' || i, 40) FROM range({3 * rows}) r(i)")
    written_early = path.stat().st_size > empty   # full row groups went to the file inside the transaction
    con.execute("ROLLBACK")
    assert written_early
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    con.execute(f"INSERT INTO t SELECT i, 'x' || i FROM range({2 * rows + 5}) r(i)")
    groups = con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('t')").fetchall()[0][0]
    assert groups == 3
    second = con.cursor()   # the compose check's connection: same catalog, same rows
    assert second.execute("SELECT count(*) FROM t").fetchall() == [(2 * rows + 5,)]
    second.close()
    con.close()
    assert not path.with_name(path.name + ".wal").exists()   # closed with a checkpoint, as connect's file is
    plain = duckdb.connect(str(path), read_only=True)
    assert plain.execute("SELECT count(*), sum(i) FROM t").fetchall() == [
        (2 * rows + 5, sum(range(2 * rows + 5)))]
    plain.close()


@pytest.mark.parametrize("stem", ["main", "memory", "Memory", "system", "temp", "information_schema", "x.y"])
def test_a_writer_opens_a_file_named_like_a_catalog_or_schema_as_duckdb_connect_does(tmp_path, stem):
    path = tmp_path / f"{stem}.duckdb"
    con = db.connect(path)
    con.execute("CREATE TABLE t AS SELECT 42 AS i")
    written = con.execute("SELECT current_database(), current_schema()").fetchall()
    con.close()
    plain = duckdb.connect(str(path), read_only=True)
    assert plain.execute("SELECT current_database(), current_schema()").fetchall() == written
    assert plain.execute("SELECT i FROM t").fetchall() == [(42,)]
    plain.close()
