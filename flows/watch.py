"""`legatura watch`: landing/<channel>/ is the inbox; a file that has stopped changing is ingested.

The watcher listens to the landing folder with watchfiles, and also sweeps it at start (files already
waiting) and every `rescan_seconds` (events a network drive never sends, batches to retry). A file is
complete when its size and mtime have not changed for `landing.stable_seconds`; partial names
(discover.SKIPPED_NAMES: *.part, *.tmp, dot-files ...) and Maildir tmp/ are ignored. A JSON Lines file that
keeps growing (the receiver's day file under steady load) is taken anyway after `max_wait_seconds` when it
ends with a whole line: its lines are records, so a later, longer version only adds the new ones.
A CSV or JSON Lines file (COMPLETE_SUFFIXES) is complete only once its last byte is a newline: one that
has stopped changing without it (an export cut, or paused mid-row) is waited for up to
`landing.complete_wait_seconds`, then ingested as it is, its cut row quarantined; should the rest arrive
later, the complete row loads and the quarantine row is marked resolved (flows/resolve.py).
What is ready is ingested in one batch by the ingest flow; a file whose path and content the ledger
already has (checked in the analysts' snapshot) is not sent again. A failing batch is logged and its
files retried one by one, then at each rescan up to MAX_ATTEMPTS times; the watcher keeps running.
Links are handed to ingest as links (never resolved here): one leading out of the landing folder is
quarantined there without a byte of its target read. `legatura watch` stops on SIGINT or SIGTERM once the
batch in flight is committed (a second signal stops at once: that batch is then rolled back whole).
"""
from __future__ import annotations

import contextvars
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.discover import UnreadableSource, boundary, is_skipped, read_inside
from legatura.flows.load import sha256_of
from legatura.transforms.channels import PRESETS, is_channel
from legatura.transforms.text import shown_name

DEFAULT_MAX_WAIT_SECONDS = 30.0
DEFAULT_RESCAN_SECONDS = 60.0
MAX_ATTEMPTS = 3
GROWING_SUFFIXES = (".jsonl", ".ndjson")
# text exports whose records are lines: complete only when the last byte is a newline
COMPLETE_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")

Signature = tuple[int, int]  # (size in bytes, mtime in ns)


@dataclass
class _Pending:
    signature: Signature
    stable_since: float      # when this signature was first observed
    waiting_since: float     # when the file was first observed since its last hand-over


class StabilityTracker:
    """Decides from observed (size, mtime) which files are complete: unchanged for `stable_seconds`.

    Feed it every observation (`observe`), ask `ready(now)` right after observing the pending files,
    and tell it what was handed over (`handed_over`). Times are monotonic seconds; no clock of its own.
    """

    def __init__(self, stable_seconds: float, max_wait_seconds: float | None = None) -> None:
        self.stable_seconds = stable_seconds
        self.max_wait_seconds = max_wait_seconds
        self._pending: dict[Path, _Pending] = {}
        self._handed: dict[Path, Signature] = {}

    def observe(self, path: Path, signature: Signature | None, now: float) -> None:
        """Record what a file looks like now (None: it is gone)."""
        if signature is None:
            self._pending.pop(path, None)
            self._handed.pop(path, None)
            return
        if self._handed.get(path) == signature:
            self._pending.pop(path, None)  # the version already handed over: nothing new
            return
        seen = self._pending.get(path)
        if seen is None:
            self._pending[path] = _Pending(signature, now, now)
        elif seen.signature != signature:
            seen.signature, seen.stable_since = signature, now

    def pending(self) -> list[Path]:
        return sorted(self._pending)

    def ready(self, now: float) -> list[Path]:
        """Files unchanged for at least stable_seconds."""
        return sorted(p for p, s in self._pending.items() if now - s.stable_since >= self.stable_seconds)

    def overdue(self, now: float) -> list[Path]:
        """Files still changing after max_wait_seconds (candidates when their content allows it)."""
        if self.max_wait_seconds is None:
            return []
        return sorted(p for p, s in self._pending.items()
                      if now - s.waiting_since >= self.max_wait_seconds
                      and now - s.stable_since < self.stable_seconds)

    def handed_over(self, paths: Iterable[Path]) -> None:
        """These files go to ingest as last observed; only a new version brings them back."""
        for path in paths:
            seen = self._pending.pop(path, None)
            if seen is not None:
                self._handed[path] = seen.signature

    def retry(self, paths: Iterable[Path]) -> None:
        """Forget that these were handed over, so the next observation makes them pending again."""
        for path in paths:
            self._handed.pop(path, None)

    def unchanged_for(self, path: Path, now: float) -> float:
        """Seconds a pending file has kept its current size and mtime (0 when not pending)."""
        seen = self._pending.get(path)
        return now - seen.stable_since if seen else 0.0

    def next_due(self, now: float) -> float | None:
        """Seconds until the earliest pending file can be ready (None when nothing is pending)."""
        if not self._pending:
            return None
        return max(0.0, min(s.stable_since + self.stable_seconds for s in self._pending.values()) - now)


def signature_of(path: Path) -> Signature | None:
    """(size, mtime) of a file; of a link itself, not of what it leads to (it may lead out of landing/)."""
    try:
        stat = path.lstat()
        if path.is_symlink():
            return (stat.st_size, stat.st_mtime_ns)
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns) if path.is_file() else None


def landed_channel(path: Path, landing: Path) -> str | None:
    """The channel folder of a file that belongs in the inbox, or None for anything the watcher ignores."""
    try:
        parts = path.relative_to(landing).parts
    except ValueError:
        return None
    if len(parts) < 2 or any(p.startswith(".") for p in parts):
        return None
    if is_skipped(path) or "tmp" in parts[1:-1]:
        return None
    return parts[0]


def ends_with_whole_line(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(-1, 2)
            return handle.read(1) == b"\n"
    except OSError:
        return False


def needs_final_newline(path: Path) -> bool:
    """A CSV or JSON Lines file (not a link: ingest quarantines those unread) is complete only at a line end."""
    return path.suffix.lower() in COMPLETE_SUFFIXES and not path.is_symlink()


def already_in_ledger(paths: list[Path], settings: Settings) -> set[Path]:
    """The paths whose exact content the ledger holds under the same path (per the analysts' snapshot).

    The snapshot may lag the warehouse; that only means a file is sent to ingest and comes back 'unchanged'.
    """
    snapshot = settings.warehouse.snapshot
    if not paths or not snapshot.exists():
        return set()
    import duckdb

    try:
        con = duckdb.connect(str(snapshot), read_only=True)
    except duckdb.Error:
        return set()
    try:
        rows = con.execute("SELECT DISTINCT path, sha256 FROM ingested_files WHERE path IN (SELECT unnest(?))",
                           [[str(p) for p in paths]]).fetchall()
    except duckdb.Error:
        return set()
    finally:
        con.close()
    known: dict[str, set[str]] = {}
    for path, sha in rows:
        known.setdefault(path, set()).add(sha)
    found = set()
    for path in paths:
        if str(path) not in known or path.is_symlink():
            continue
        try:
            if sha256_of(read_inside(path, boundary(path, settings))) in known[str(path)]:
                found.add(path)
        except (OSError, UnreadableSource):
            continue
    return found


@dataclass
class WatchBatch:
    """One ingest run of the watcher: the files sent and what came back (or the error)."""

    paths: list[Path]
    result: object | None = None          # IngestResult
    error: str | None = None


@dataclass
class WatchSummary:
    batches: int = 0
    files: int = 0
    rows_ingested: int = 0
    failed_batches: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"watched: {self.batches} batch(es), {self.files} file(s) ingested, {self.rows_ingested} row(s) "
                f"loaded, {self.failed_batches} batch(es) failed")


class LandingWatcher:
    """The watcher's state between events: what is pending, what failed, which channels are unknown."""

    def __init__(self, settings: Settings, say: Callable[[str], None], max_wait_seconds: float | None,
                 on_batch: Callable[[WatchBatch], None] | None, config: str | None = None) -> None:
        self.settings = settings
        self.config = config   # the ingest flow loads the same settings from this path, as a worker would
        self.landing = settings.landing.path
        self.root = self.landing.resolve()
        self.say = say
        self.on_batch = on_batch
        self.tracker = StabilityTracker(settings.landing.stable_seconds, max_wait_seconds)
        self.attempts: dict[Path, int] = {}
        self.unknown_channels: set[str] = set()
        self.summary = WatchSummary()
        self.complete_wait_seconds = settings.landing.complete_wait_seconds
        self.told_incomplete: dict[Path, Signature | None] = {}

    def _as_landed(self, raw: str | Path) -> Path | None:
        """The path as `legatura run` names it (landing.path/<channel>/...), or None when ignored."""
        path = Path(raw)
        # lexically: a link is handed over as the link (ingest decides), never as what it leads to
        absolute = Path(os.path.abspath(path))
        relative = None
        for base in (Path(os.path.abspath(self.landing)), self.root):
            try:
                relative = absolute.relative_to(base)
                break
            except ValueError:
                continue
        if relative is None:
            return None
        landed = self.landing / relative
        channel = landed_channel(landed, self.landing)
        if channel is None:
            return None
        if not is_channel(channel, self.settings.mappings):
            if channel not in self.unknown_channels:
                self.unknown_channels.add(channel)
                self.say(f"watch: {shown_name(self.landing / channel)}/ names no preset or "
                         f"[mappings.{shown_name(channel)}] section; its files are not ingested "
                         f"(presets: {', '.join(PRESETS)})")
            return None
        return landed

    def observe(self, raw_paths: Iterable[str | Path], now: float) -> None:
        for raw in raw_paths:
            if Path(raw).is_dir() and not Path(raw).is_symlink():
                # a folder moved in brings files that raised no event of their own
                self.observe((p for p in Path(raw).rglob("*") if p.is_file() or p.is_symlink()), now)
                continue
            path = self._as_landed(raw)
            if path is not None:
                self.tracker.observe(path, signature_of(path), now)

    def sweep(self, now: float) -> None:
        """Observe every file under landing/ (at start, and now and then for missed events)."""
        if self.landing.exists():
            self.observe((p for p in self.landing.rglob("*") if p.is_file() or p.is_symlink()), now)

    def due(self, now: float) -> list[Path]:
        """Re-observe the pending files, then return the complete ones."""
        for path in self.tracker.pending():
            self.tracker.observe(path, signature_of(path), now)
        ready = [p for p in self.tracker.ready(now) if self._complete(p, now)]
        ready += [p for p in self.tracker.overdue(now)
                  if p.suffix.lower() in GROWING_SUFFIXES and ends_with_whole_line(p)]
        return sorted(set(ready))

    def _complete(self, path: Path, now: float) -> bool:
        """Stable and ending in a newline; or stable without it for complete_wait_seconds (its cut row is
        then quarantined by the preset)."""
        if not needs_final_newline(path) or ends_with_whole_line(path):
            return True
        waited = self.tracker.unchanged_for(path, now)
        signature = signature_of(path)
        if waited >= self.complete_wait_seconds:
            self.say(f"watch: {shown_name(path)} still ends mid-line after {self.complete_wait_seconds:g} s; "
                     "ingesting it as it is (its last row is quarantined if cut)")
            return True
        if self.told_incomplete.get(path) != signature:
            self.told_incomplete[path] = signature
            self.say(f"watch: {shown_name(path)} does not end with a newline yet (still being written?); waiting "
                     f"up to {self.complete_wait_seconds:g} s for the rest")
        return False

    def run_batch(self, paths: list[Path]) -> None:
        """Ingest `paths` in one flow run; on failure, retry each file alone so one bad file blocks no other."""
        self.tracker.handed_over(paths)
        known = already_in_ledger(paths, self.settings)
        todo = [p for p in paths if p not in known]
        if not todo:
            return
        if not self._ingest(todo) and len(todo) > 1:
            for path in todo:
                self._ingest([path])

    def publish_snapshot_when_due(self, stopping: bool = False) -> None:
        """With warehouse.snapshot_min_seconds, ingest publishes the snapshot at most that often: publish what
        is left pending once its turn comes, and whatever is pending when the watcher stops."""
        from legatura.warehouse import db

        store = self.settings.warehouse
        if store.snapshot_min_seconds > 0 or stopping:
            db.publish_pending(store.path, store.snapshot, 0.0 if stopping else store.snapshot_min_seconds,
                               wait=store.lock_timeout_seconds if stopping else 0.0)

    def _ingest(self, paths: list[Path]) -> bool:
        from legatura.flows import progress
        from legatura.flows.ingest import ingest_flow

        paths = [p for p in paths if p.exists()]
        if not paths:
            return True
        batch = WatchBatch(paths)
        self.summary.batches += 1
        try:
            with progress.listening(on_file=lambda s: self.say(s.line()), notify=self.say):
                batch.result = ingest_flow([str(p) for p in paths], self.config, None)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the watcher
            batch.error = f"{type(exc).__name__}: {exc}"
            self.summary.failed_batches += 1
            self.summary.errors.append(batch.error)
            for path in paths:
                self.attempts[path] = self.attempts.get(path, 0) + 1
                if self.attempts[path] < MAX_ATTEMPTS:
                    self.tracker.retry([path])
                elif len(paths) == 1:
                    self.say(f"watch: giving up on {shown_name(path)} after {MAX_ATTEMPTS} failed attempts; "
                             "it is tried again when it changes (fix it, or touch it)")
            self.say(f"watch: ingest of {len(paths)} file(s) failed ({shown_name(batch.error)}); "
                     "the watcher keeps running")
        else:
            for path in paths:
                self.attempts.pop(path, None)
            totals = batch.result.totals()
            self.summary.files += totals["files"]
            self.summary.rows_ingested += totals["rows_ingested"]
        if self.on_batch:
            self.on_batch(batch)
        return batch.error is None


def watch(settings: Settings, stop_event: threading.Event | None = None,
          on_batch: Callable[[WatchBatch], None] | None = None, max_batches: int | None = None,
          say: Callable[[str], None] | None = None, max_wait_seconds: float | None = DEFAULT_MAX_WAIT_SECONDS,
          rescan_seconds: float = DEFAULT_RESCAN_SECONDS, config: str | None = None) -> WatchSummary:
    """Watch landing/ and ingest complete files until `stop_event` is set or `max_batches` ingest runs happened.

    Runs in the calling thread (tests and `legatura serve` run it in a thread of their own); Ctrl-C in the
    main thread ends it too. Returns what it did.
    """
    import watchfiles

    stop_event = stop_event or threading.Event()
    say = say or (lambda message: None)
    settings.landing.path.mkdir(parents=True, exist_ok=True)
    watcher = LandingWatcher(settings, say, max_wait_seconds, on_batch, config)
    tick_ms = int(min(500, max(50, settings.landing.stable_seconds * 250)))
    last_sweep = time.monotonic()
    watcher.sweep(last_sweep)
    changes_seen = watchfiles.watch(
        settings.landing.path, watch_filter=None, debounce=tick_ms, step=min(50, tick_ms), stop_event=stop_event,
        rust_timeout=tick_ms, yield_on_timeout=True)
    try:
        for changes in changes_seen:
            now = time.monotonic()
            watcher.observe((raw for _, raw in changes), now)
            if now - last_sweep >= rescan_seconds:
                watcher.sweep(now)
                last_sweep = now
            due = watcher.due(now)
            if due:
                watcher.run_batch(due)
            watcher.publish_snapshot_when_due()
            if stop_event.is_set() or (max_batches is not None and watcher.summary.batches >= max_batches):
                break
    except KeyboardInterrupt:
        pass
    finally:
        changes_seen.close()
        watcher.publish_snapshot_when_due(stopping=True)
    return watcher.summary


def watch_command(settings: Settings, say: Callable[[str], None], config: str | None = None) -> int:
    """`legatura watch`: ingest what lands in landing/<channel>/ until SIGINT or SIGTERM; returns the exit status.

    The watcher runs in a thread of its own, so a signal only sets its stop event in the main thread: the
    batch in flight commits, then the watcher ends (no exception is ever raised inside a DuckDB write or a
    Prefect run). A second signal ends the process at once: DuckDB keeps only committed transactions, so
    that batch is rolled back whole and its files are ingested at the next start.
    """
    from legatura.flows import prefect_runtime

    prefect_runtime.configure(settings.prefect.mode, settings.prefect.state_dir,
                              settings.prefect.startup_timeout_seconds, say,
                              settings.prefect.idle_minutes)
    prefect_runtime.runs_in_this_process()
    say(f"watching {shown_name(settings.landing.path)}/<channel>/: a file is ingested once unchanged for "
        f"{settings.landing.stable_seconds:g} s (a CSV or JSON Lines file once it ends with a newline); "
        "Ctrl-C stops")
    stop, received, outcome = threading.Event(), [], {}

    def on_signal(signum: int, frame) -> None:
        if received:
            say(f"watch: {signal.Signals(signum).name} again: stopping at once; the batch in flight is rolled back")
            sys.stderr.flush()
            os._exit(130)
        received.append(signum)
        stop.set()

    def run() -> None:
        try:
            outcome["summary"] = watch(settings, stop_event=stop, say=say, config=config)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            outcome["error"] = exc

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # in this thread's context: the settings runs_in_this_process gave the flow runs
        worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="legatura-watch",
                                  daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if "error" in outcome:
        raise outcome["error"]
    how = signal.Signals(received[0]).name if received else "itself"
    say(f"watch stopped by {how}: {outcome['summary'].line()}")
    return 130 if received and received[0] == signal.SIGINT else 0
