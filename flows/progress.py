"""Progress of a flow run for whoever watches it in this process (the CLI, the watcher): never a flow parameter.

A flow a Prefect worker runs can take only plain values, so callbacks cannot be its parameters. Instead
the flow reports each finished file, the number of files found and notices (waiting for the write lock)
here: they go to the flow run's logger (what a worker shows) and to the listener the caller set with
`listening(...)`, if any. The listener lives in a context variable, so a watcher thread and a CLI
command in the same process each see only their own runs.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Listener:
    on_file: Callable[[Any], None] | None = None     # each FileSummary as its batch finishes
    on_total: Callable[[int], None] | None = None    # how many files were found, once known
    notify: Callable[[str], None] | None = None      # a notice worth a line (waiting for the lock)


_listener: ContextVar[Listener] = ContextVar("legatura_progress", default=Listener())


@contextlib.contextmanager
def listening(on_file: Callable[[Any], None] | None = None, on_total: Callable[[int], None] | None = None,
              notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Send the progress of the flows run inside this block (in this thread or context) to these callbacks."""
    token = _listener.set(Listener(on_file, on_total, notify))
    try:
        yield
    finally:
        _listener.reset(token)


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger inside a run (it reaches the Prefect server), else this module's."""
    try:
        from prefect import get_run_logger
        from prefect.exceptions import MissingContextError

        try:
            return get_run_logger()
        except MissingContextError:
            pass
    except ImportError:  # the plain functions run without Prefect too
        pass
    return logging.getLogger("legatura")


def file_done(summary: Any) -> None:
    """One file finished (loaded, skipped or quarantined): a log line and the listener's on_file."""
    _logger().info("%s", summary.line())
    listener = _listener.get()
    if listener.on_file:
        listener.on_file(summary)


def files_found(total: int) -> None:
    listener = _listener.get()
    if listener.on_total:
        listener.on_total(total)


def notify(message: str) -> None:
    """A notice (e.g. waiting for the warehouse write lock): a warning in the run log and the listener's line."""
    _logger().warning("%s", message)
    listener = _listener.get()
    if listener.notify:
        listener.notify(message)
