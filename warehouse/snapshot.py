"""The analysts' snapshot: a read-only copy of the warehouse, replaced atomically, published only when the
warehouse changed, by reflink where the filesystem can, and at most once per `min_seconds` when asked.

Beside the snapshot, `.<snapshot name>.json` records which state of the warehouse file the published
copy shows: the file's size and mtime and its write-ahead log's size as they were after the last write
that the copy covers (or that changed nothing), when it was published, and whether a newer state is
still waiting for its turn (`pending`). Every write holds the warehouse write lock, and so does every
publish: a copy is never taken of a file being written.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

FICLONE = 0x40049409   # linux/fs.h: _IOW(0x94, 9, int); btrfs, XFS (reflink=1), bcachefs, overlayfs on them


class SnapshotError(Exception):
    """The snapshot could not be published."""


def signature(db_path: Path) -> tuple[int, int, int]:
    """The warehouse file as it stands: (size, mtime in ns, size of its write-ahead log); (0, 0, 0) if absent."""
    try:
        stat = db_path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    wal = db_path.with_name(db_path.name + ".wal")
    return (stat.st_size, stat.st_mtime_ns, wal.stat().st_size if wal.exists() else 0)


@dataclass
class SnapshotState:
    """What the published snapshot shows, as recorded beside it."""

    source: list[int] | None = None     # signature() of the warehouse the snapshot is current with
    published_at: float = 0.0           # epoch seconds of the last copy
    pending: bool = False               # the warehouse changed since; a copy waits for min_seconds
    views: str = ""                     # digest of the view definitions the snapshot was taken with
    method: str = ""                    # how the last copy was made: reflink | copy_file_range | copy
    seconds: float = 0.0                # what the last copy cost

    @staticmethod
    def path(snapshot_path: Path) -> Path:
        return snapshot_path.with_name(f".{snapshot_path.name}.json")

    @classmethod
    def read(cls, snapshot_path: Path) -> SnapshotState:
        try:
            data = json.loads(cls.path(snapshot_path).read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (OSError, ValueError, TypeError):
            return cls()

    def write(self, snapshot_path: Path) -> None:
        target = self.path(snapshot_path)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(tmp, target)


@dataclass(frozen=True)
class Publication:
    """What after_write did: published (with how and what it cost), deferred, or nothing to do."""

    outcome: str          # 'published' | 'deferred' | 'current'
    method: str = ""
    seconds: float = 0.0
    size_bytes: int = 0


def copy_file(source: Path, target: Path) -> str:
    """Copy `source` to the new file `target`: a reflink (shared blocks, near-instant) where the filesystem
    supports one, else an in-kernel copy_file_range, else a plain copy; returns which."""
    with source.open("rb") as src, target.open("wb") as dst:
        with contextlib.suppress(OSError):
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            return "reflink"
        size, done = os.fstat(src.fileno()).st_size, 0
        with contextlib.suppress(OSError, AttributeError):
            while done < size:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), size - done)
                if copied == 0:
                    break
                done += copied
        if done == size:
            return "copy_file_range"
    shutil.copyfile(source, target)
    return "copy"


def spare_path(snapshot_path: Path) -> Path:
    """The generation the last publish replaced, kept to be brought up to date in place by the next one."""
    return snapshot_path.with_name(f".{snapshot_path.name}.spare")


def publish(db_path: Path, snapshot_path: Path) -> Publication:
    """Copy the (checkpointed) warehouse to the snapshot, replaced atomically: readers keep the old file.

    The file it replaces is kept as the spare. The next publish brings the spare up to date in place,
    writing only the blocks that differ from the warehouse ("delta": a routine write changes a few
    megabytes of a file of hundreds), then makes it the snapshot, but only if no reader has it open (a
    DuckDB connection holds a lock on its file, checked here; this process's own open files are checked
    too); else it copies the whole file, as the first publish does."""
    wal = db_path.with_name(db_path.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        # an un-checkpointed WAL means the copy would be incomplete: never publish that
        raise SnapshotError(f"{db_path}: a write-ahead log is pending; checkpoint before publishing")
    started = time.perf_counter()
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    spare = spare_path(snapshot_path)
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}.tmp")
    keep = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}.keep")
    try:
        method = update_in_place(db_path, spare) if snapshot_path.exists() else None
        fresh = spare if method else tmp
        if not method:
            method = copy_file(db_path, tmp)
        kept = False
        if snapshot_path.exists():
            keep.unlink(missing_ok=True)
            with contextlib.suppress(OSError):   # no hard links here: no spare, the next publish copies
                os.link(snapshot_path, keep)
                kept = True
        os.replace(fresh, snapshot_path)
        if kept:
            os.replace(keep, spare)
        elif fresh is not spare:
            spare.unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)
        keep.unlink(missing_ok=True)
    return Publication("published", method, round(time.perf_counter() - started, 3), snapshot_path.stat().st_size)


DELTA_BLOCK = 1 << 18   # DuckDB's block size: a checkpoint rewrites whole blocks


def update_in_place(source: Path, target: Path) -> str | None:
    """Make `target` byte-identical to `source` by writing only the blocks that differ; "delta", or None
    when `target` cannot be used (absent, a link, open by a reader here or in another process)."""
    try:
        fd = os.open(target, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # fails while any other process's DuckDB has it
        except OSError:
            return None
        if _open_here(fd):
            return None
        with source.open("rb", buffering=0) as src:
            size = os.fstat(src.fileno()).st_size
            ours, theirs = bytearray(DELTA_BLOCK), bytearray(DELTA_BLOCK)
            view = memoryview(ours)
            offset = 0
            while offset < size:
                n = os.preadv(src.fileno(), [ours], offset)
                if n <= 0:
                    raise SnapshotError(f"{source}: shorter than it was a moment ago")
                m = os.preadv(fd, [theirs], offset)
                if m != n or (ours != theirs if n == DELTA_BLOCK else ours[:n] != theirs[:n]):
                    done = 0
                    while done < n:
                        done += os.pwrite(fd, view[done:n], offset + done)
                offset += n
            os.ftruncate(fd, size)
        return "delta"
    finally:
        os.close(fd)


def _open_here(fd: int) -> bool:
    """This process has the file of `fd` open through another descriptor (fcntl locks do not see those);
    True when that cannot be told."""
    mine = os.fstat(fd)
    try:
        entries = os.listdir("/proc/self/fd")
    except OSError:
        return True
    for entry in entries:
        if entry == str(fd):
            continue
        with contextlib.suppress(OSError):
            other = os.stat(f"/proc/self/fd/{entry}")
            if (other.st_dev, other.st_ino) == (mine.st_dev, mine.st_ino):
                return True
    return False


def after_write(db_path: Path, snapshot_path: Path, opened: tuple[int, int, int], changed: bool,
                min_seconds: float = 0.0, views: str = "") -> Publication:
    """After a write (lock held, checkpointed, closed): publish if the warehouse changed since the snapshot
    (`opened`: its signature before the write; `changed`: the write changed something; `views`: the view
    definitions), unless one was published less than `min_seconds` ago: then the copy is pending."""
    state = SnapshotState.read(snapshot_path)
    stale = (changed or state.pending or not snapshot_path.exists() or state.views != views
             or state.source is None or tuple(state.source) != opened)
    state.source = list(signature(db_path))   # a write that changed nothing still rewrites the views
    if not stale:
        state.write(snapshot_path)
        return Publication("current")
    if min_seconds > 0 and time.time() - state.published_at < min_seconds:
        state.pending = True
        state.write(snapshot_path)
        return Publication("deferred")
    done = publish(db_path, snapshot_path)
    state.published_at, state.pending, state.views = time.time(), False, views
    state.method, state.seconds = done.method, done.seconds
    state.write(snapshot_path)
    return done


def is_due(snapshot_path: Path, min_seconds: float = 0.0) -> bool:
    """A copy is pending and its turn has come (cheap: reads the small state file)."""
    state = SnapshotState.read(snapshot_path)
    return state.pending and time.time() - state.published_at >= min_seconds
