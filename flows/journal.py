"""The send journal: an append-only, fsynced file beside the warehouse that says, per message attempt,
that it was handed to the server and what came of it, durably, between two batched warehouse writes.

Lines are JSON: {"m": message_id, "a": attempt, "e": "handed"} just before the message's bytes go to the
server (SMTP DATA, the gateway POST), and {"m", "a", "e": outcome, ...} once the answer is in. Every line
is written (os.write) at once, so a killed process loses none; `handed` also waits for its fsync before
the bytes go out, which makes every earlier line durable too (an outcome is on disk before its
connection hands over the next message). Writers from every connection share the fsyncs (group commit).
On start, `read_journal` + the warehouse decide each message left `sending` by a run that died:
an outcome -> that outcome; handed without an outcome -> unknown; never handed -> queued again.
"""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import NamedTuple


class JournalEntry(NamedTuple):
    handed: bool
    outcome: dict | None


def journal_path(warehouse_path: Path) -> Path:
    return warehouse_path.with_name(warehouse_path.name + ".send-journal")


def read_journal(path: Path) -> dict[tuple[str, int], JournalEntry]:
    """(message_id, attempt) -> what the journal knows; a torn last line (a kill mid-write) is ignored."""
    if not path.exists():
        return {}
    known: dict[tuple[str, int], JournalEntry] = {}
    with path.open("rb") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
                key = (str(entry["m"]), int(entry["a"]))
                event = entry["e"]
            except (ValueError, KeyError, TypeError):
                continue
            seen = known.get(key, JournalEntry(False, None))
            if event == "handed":
                # a message requeued (never handed) comes back with the same attempt number: what counts
                # is what followed this hand-over, not the outcome before it
                known[key] = JournalEntry(True, None)
            else:
                known[key] = JournalEntry(seen.handed, entry)
    return known


class SendJournal:
    """Appends journal lines; `await write(...)` returns once the line is on disk (fsynced)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future] = []
        self._flushing = False

    def _write_sync(self, data: bytes) -> None:
        os.write(self._fd, data)
        os.fsync(self._fd)

    def append(self, *entries: dict) -> None:
        """Write now without waiting for the disk: a killed process loses nothing (the kernel has it); the
        next `write` (or `sync`) makes it durable against a power cut too."""
        os.write(self._fd, b"".join(_line(e) for e in entries))

    def sync(self) -> None:
        os.fsync(self._fd)

    def write_now(self, *entries: dict) -> None:
        """Write and fsync at once (outside the event loop)."""
        self._write_sync(b"".join(_line(e) for e in entries))

    async def write(self, *entries: dict) -> None:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._pending.extend(_line(e) for e in entries)
        self._waiters.append(waiter)
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                data, waiters = b"".join(self._pending), self._waiters
                self._pending, self._waiters = [], []
                try:
                    await loop.run_in_executor(None, self._write_sync, data)
                except OSError as exc:
                    for waiter in waiters:
                        waiter.set_exception(exc)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._flushing = False

    def clear(self) -> None:
        """Empty the journal once the warehouse holds everything it said."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _line(entry: dict) -> bytes:
    return json.dumps(entry, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
