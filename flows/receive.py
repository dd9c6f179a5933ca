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

import asyncio
import json
import os
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
    """Durable, de-duplicated appends of one JSON object per line to landing files, from one event loop.

    Lines are written on the loop (one O_APPEND write each, whole); the fsync runs in a worker thread and
    covers every line written before it began, so concurrent requests share one disk flush (group commit).
    """

    def __init__(self, landing: Path) -> None:
        self.landing = landing
        self._ids: dict[Path, set[str]] = {}      # insertion-ordered: the oldest file is forgotten first
        self._flushes: dict[Path, _GroupFlush] = {}
        self._files = _AppendFiles()

    def _known_ids(self, path: Path, key: str) -> set[str]:
        """Ids already in the file (read once per file and process, so a restart still spots repeats)."""
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
        self._ids[path] = ids
        while len(self._ids) > REMEMBERED_FILES:
            forgotten = next(iter(self._ids))
            self._ids.pop(forgotten)
            if forgotten in self._flushes and self._flushes[forgotten].idle:
                self._flushes.pop(forgotten)
                self._files.close(forgotten)
        return ids

    def close(self) -> None:
        """Close the files kept open for appending (every line written is already durable)."""
        self._files.close_all()

    async def append(self, path: Path, key: str, record: dict) -> bool:
        """Append `record` unless its `key` value is already in the file; True when written. Durable on return."""
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        record_id = record[key]
        known = self._known_ids(path, key)
        flush = self._flushes.get(path) or self._flushes.setdefault(path, _GroupFlush(path))
        written = record_id not in known
        if written:
            self._files.append_line(path, line)
            known.add(record_id)
            flush.written += 1
        await flush.wait_durable(flush.written)  # a duplicate waits too: its first copy may not be on disk yet
        return written


class _GroupFlush:
    """Group commit for one file: one fsync covers every line written before it began, for all who wait."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0           # lines written so far
        self.durable = 0           # lines known to be on disk
        self._running: asyncio.Future | None = None
        self._waiters: list[tuple[int, asyncio.Future]] = []

    @property
    def idle(self) -> bool:
        return self._running is None and not self._waiters

    async def wait_durable(self, wanted: int) -> None:
        """Return once the first `wanted` lines are fsync'd; an fsync that failed raises its OSError."""
        if self.durable >= wanted:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append((wanted, waiter))
        if self._running is None:
            self._start(loop)
        await waiter

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        covers = self.written
        self._running = loop.run_in_executor(None, _fsync_file, self.path)
        self._running.add_done_callback(lambda done: self._finished(loop, done, covers))

    def _finished(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future, covers: int) -> None:
        self._running = None
        error = done.exception()
        if error is None:
            self.durable = max(self.durable, covers)
        waiting = []
        for wanted, waiter in self._waiters:
            if waiter.done():
                continue
            if wanted <= self.durable:
                waiter.set_result(None)
            elif error is not None and wanted <= covers:
                waiter.set_exception(error)
            else:
                waiting.append((wanted, waiter))
        self._waiters = waiting
        if waiting:  # lines written while this fsync ran: the next one covers them all
            self._start(loop)


class _AppendFiles:
    """Open O_APPEND descriptors of the landing files, reused while the path still names the same file."""

    def __init__(self) -> None:
        self._open: dict[Path, tuple[int, int, int]] = {}   # path -> (fd, st_dev, st_ino)

    def descriptor(self, path: Path) -> int:
        cached = self._open.get(path)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if cached and current and (current.st_dev, current.st_ino) == cached[1:]:
            return cached[0]
        self.close(path)  # moved away or replaced since: write to what the path names now
        if current is None:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        opened = os.fstat(fd)
        self._open[path] = (fd, opened.st_dev, opened.st_ino)
        if current is None:
            _fsync_directory(path.parent)  # the new file's name must survive a crash too
        return fd

    def close(self, path: Path) -> None:
        cached = self._open.pop(path, None)
        if cached:
            os.close(cached[0])

    def close_all(self) -> None:
        for path in list(self._open):
            self.close(path)

    def append_line(self, path: Path, line: bytes) -> None:
        """One O_APPEND write of a whole line; on failure the file is cut back so no partial line stays."""
        fd = self.descriptor(path)
        done = 0
        try:
            while done < len(line):
                done += os.write(fd, line[done:])
        except OSError:
            if done:
                os.ftruncate(fd, os.fstat(fd).st_size - done)
            raise


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
