"""Durable landing of webhooks: what the receiver (flows/web.py) stores, and how, in landing/ as JSON Lines.

    POST /twilio/sms        Twilio's incoming-message webhook (form fields)
                            -> landing/twilio/inbound-YYYY-MM-DD.jsonl (the fields + received_at)
    POST /events/<channel>  one JSON interaction event (schema: legatura.transforms.channels.events)
                            -> landing/events/<channel>-YYYY-MM-DD.jsonl (+ channel, received_at)
    GET  /health            200 "ok"

An accepted request is one line appended with O_APPEND and fsync'd before the 2xx answer, so what was
acknowledged survives a crash; a rejected one gets a 4xx with the reason and writes nothing. Events land
under landing/events/ (not landing/<channel>/) because a landing folder names the preset that reads it.
Dates in file names are UTC. The watcher (`legatura watch`) or `legatura run` ingests the files; the
ingest key (MessageSid, event id) makes a repeated delivery harmless, and the receiver also answers a
repeat it remembers without writing it again. The HTTP side (routes, signatures, limits) is flows/web.py.
"""
from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from legatura.transforms.errors import LegaturaError

REMEMBERED_FILES = 8            # day files whose ids the receiver keeps in memory for de-duplication


class ReceiverError(LegaturaError):
    """The receiver could not start listening (address in use, not permitted)."""


class InsecureReceiver(ReceiverError):
    """The receiver would listen beyond loopback without the secrets that authenticate its senders."""


class RejectedRequest(Exception):
    """A request the receiver refuses; carries the HTTP status, the reason sent back, and whether to hang up."""

    def __init__(self, status: int, reason: str, close: bool = False) -> None:
        super().__init__(reason)
        self.status, self.reason, self.close = status, reason, close


class LandingAppender:
    """Durable, de-duplicated appends of one JSON object per line to landing files, a lock per file."""

    def __init__(self, landing: Path) -> None:
        self.landing = landing
        self._guard = threading.Lock()
        self._locks: dict[Path, threading.Lock] = {}
        self._ids: dict[Path, set[str]] = {}      # insertion-ordered: the oldest file is forgotten first

    def _lock_for(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def _known_ids(self, path: Path, key: str) -> set[str]:
        """Ids already in the file (read once per file and process, so a restart still spots repeats)."""
        with self._guard:
            ids = self._ids.get(path)
        if ids is not None:
            return ids
        ids = set()
        if path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    value = json.loads(line).get(key)
                except (ValueError, AttributeError):
                    continue  # a broken line is the preset's business
                if isinstance(value, str):
                    ids.add(value)
        with self._guard:
            self._ids[path] = ids
            while len(self._ids) > REMEMBERED_FILES:
                self._ids.pop(next(iter(self._ids)))
        return ids

    def append(self, path: Path, key: str, record: dict) -> bool:
        """Append `record` unless its `key` value is already in the file; True when written. Durable on return."""
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        record_id = record[key]
        with self._lock_for(path):  # callers of one file queue here; _known_ids reads it once under this lock
            known = self._known_ids(path, key)
            written = record_id not in known
            if written:
                _append_line(path, line)
                known.add(record_id)
        # outside the lock, so concurrent requests share the disk flushes; fsync covers every earlier write
        _fsync_file(path)
        return written


def _append_line(path: Path, line: bytes) -> None:
    """One O_APPEND write of a whole line; on failure the file is cut back so no partial line stays."""
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
    if created:
        _fsync_directory(path.parent)  # the new file's name must survive a crash too


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def received_now() -> str:
    """The receipt time as ISO 8601 in UTC with offset, to the microsecond (STOP then START in one second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
