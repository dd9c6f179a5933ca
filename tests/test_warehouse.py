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
