"""Consent changes from signed links (unsubscribe, confirmation), recorded at once and never lost.

The web process appends each one to a small fsynced file beside the warehouse (under an flock), then
applies it to the warehouse right away when no other process holds the write lock; otherwise the next
writer that matters (`legatura send` before it claims anything, ingest) applies it. Applying is
idempotent: each event has a key (`consent_events.event_id`).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
from legatura.flows.config import Settings
from legatura.warehouse.db import WarehouseBusy, open_for_write

EVENT_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("channel", pa.string()), ("address", pa.string()), ("status", pa.string()),
    ("recorded_at", pa.timestamp("us", tz="UTC")), ("source", pa.string()), ("message_id", pa.string()),
])


def pending_path(settings: Settings) -> Path:
    path = settings.warehouse.path
    return path.with_name(path.name + ".link-events")


@contextlib.contextmanager
def _locked(path: Path, flags: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def append_event(settings: Settings, event: dict) -> None:
    """Write one consent change durably (fsynced) before the click is answered."""
    line = json.dumps(event, ensure_ascii=True, default=str).encode("ascii") + b"\n"
    with _locked(pending_path(settings), os.O_WRONLY | os.O_APPEND) as fd:
        os.write(fd, line)
        os.fsync(fd)


def apply_pending(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Move every pending link event into consent_events (new keys only); returns how many were new."""
    path = pending_path(settings)
    if not path.exists() or not path.stat().st_size:
        return 0
    with _locked(path, os.O_RDWR) as fd:
        with open(path, "rb") as handle:
            lines = handle.readlines()
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue    # a line torn by a crash mid-write: its click got no answer, so it was not recorded
            events.append({k: event.get(k) for k in EVENT_SCHEMA.names})
        new = 0
        if events:
            import datetime as dt

            for event in events:
                event["recorded_at"] = dt.datetime.fromisoformat(event["recorded_at"])
            con.register("link_events", pa.Table.from_pylist(events, schema=EVENT_SCHEMA))
            try:
                before = con.execute("SELECT count(*) FROM consent_events").fetchall()[0][0]
                con.execute(
                    "INSERT INTO consent_events (event_id, channel, address, status, recorded_at, source, "
                    "source_file, message_id) "
                    "SELECT DISTINCT ON (event_id) event_id, channel, address, status, recorded_at, source, "
                    "'web', message_id FROM link_events e "
                    "WHERE NOT EXISTS (SELECT 1 FROM consent_events c WHERE c.event_id = e.event_id) "
                    "ORDER BY event_id, recorded_at")
                new = con.execute("SELECT count(*) FROM consent_events").fetchall()[0][0] - before
                con.execute("CHECKPOINT")
            finally:
                con.unregister("link_events")
        os.ftruncate(fd, 0)
        os.fsync(fd)
    return new


def record_event(settings: Settings, event: dict) -> bool:
    """Append the event, then apply it now if the warehouse is free; True when it is in the warehouse."""
    append_event(settings, event)
    try:
        with open_for_write(settings.warehouse.path, "legatura web (link)", lock_timeout=0.5) as con:
            apply_pending(con, settings)
        return True
    except WarehouseBusy:
        return False
