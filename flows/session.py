"""The warehouse connection a flow run holds for its tasks: tasks take plain values and find it here.

A Prefect task's parameters must be plain values a worker could be given, never a live DuckDB connection.
Opening the warehouse per task would cost a lock, a migration check and a checkpoint each time, so the
flow takes the write lock and opens the warehouse once (`hold`), and its tasks, which run in the flow's
process, get that connection with `connection(settings)`; a task run on its own opens its own.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

import duckdb
from legatura.flows import progress
from legatura.flows.config import Settings
from legatura.warehouse.db import open_for_write

_held: ContextVar[tuple[Path, duckdb.DuckDBPyConnection] | None] = ContextVar("legatura_warehouse", default=None)


@contextlib.contextmanager
def hold(settings: Settings, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """Take the write lock and open the warehouse for the tasks run inside; publish the snapshot at the end."""
    with open_for_write(settings.warehouse.path, what, settings.warehouse.lock_timeout_seconds, progress.notify,
                        snapshot_path=settings.warehouse.snapshot,
                        snapshot_min_seconds=settings.warehouse.snapshot_min_seconds) as con:
        token = _held.set((settings.warehouse.path.resolve(), con))
        try:
            yield con
        finally:
            _held.reset(token)


@contextlib.contextmanager
def connection(settings: Settings, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The connection the running flow holds for this warehouse, else one held for this task alone."""
    held = _held.get()
    if held is not None and held[0] == settings.warehouse.path.resolve():
        yield held[1]
        return
    with hold(settings, what) as con:
        yield con
