"""Render a campaign's messages on every core: chunks of context rows go to worker processes.

Each worker builds the campaign's Renderer once (templates compiled, CSS inlined once per template file)
and renders whole chunks; nothing per message crosses the process boundary but the row and its result.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
from legatura.transforms.campaigns import Campaign
from legatura.transforms.context import sample_row
from legatura.transforms.render import Renderer, render_columns

RESULT_SCHEMA = {"decision_no": pl.Int64, "subject": pl.String, "body_text": pl.String, "body_html": pl.String,
                 "sms_segments": pl.Int32, "reason": pl.String, "error": pl.String}
CHUNK = 1000
_worker: Renderer | None = None   # this worker process's renderer (set once by _start)
_failed: BaseException | None = None   # why it could not be built: raised on the first chunk, not in a respawn loop
_folder: str | None = None   # where this worker leaves its rendered chunks (the pool's private temporary folder)
_done = itertools.count()


def _start(templates: str, campaign: Campaign, organisation: dict, as_of: date, folder: str) -> None:
    """Build the renderer and render the sample contact once: Babel loads its locale data before the first chunk."""
    global _worker, _failed, _folder
    _folder = folder
    try:
        _worker = Renderer(Path(templates), campaign, organisation, as_of)
        for language in campaign.languages:
            for channel in campaign.channels:
                _worker.render(sample_row(channel, language))
    except Exception as exc:   # the parent's check reports a broken campaign; the pool must not respawn forever
        _failed = exc


def _render(chunk: bytes) -> str:
    """Render one chunk; its messages go to a file the parent maps (hundreds of MB of HTML stay out of the pipe)."""
    if _failed is not None:
        raise _failed
    path = os.path.join(_folder, f"{os.getpid()}-{next(_done)}.arrow")
    render_frame(_worker, pl.read_ipc(io.BytesIO(chunk))).write_ipc(path, compat_level=pl.CompatLevel.oldest())
    return path


def _taken(path: str) -> pa.Table:
    """A worker's rendered chunk, mapped from its file; the file goes at once (the mapping keeps the data)."""
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    os.unlink(path)
    return table


def _ipc(frame: pl.DataFrame) -> bytes:
    """A frame as Arrow IPC bytes with plain (not view) strings: a slice of a large frame carries only its rows."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compat_level=pl.CompatLevel.oldest())
    return buffer.getvalue()


def render_frame(renderer: Renderer, chunk: pl.DataFrame) -> pl.DataFrame:
    """Render each row of `chunk`; the result keeps decision_no so it joins back to its decision."""
    names = chunk.columns
    values = [chunk.get_column(name).to_list() for name in names]   # a list per column: cheaper than iter_rows
    done = render_columns(renderer, (dict(zip(names, row)) for row in zip(*values)))
    return pl.DataFrame(dict(zip(RESULT_SCHEMA, (chunk.get_column("decision_no"), *done), strict=True)),
                        schema=RESULT_SCHEMA)


def default_workers(configured: int = 0) -> int:
    return configured if configured > 0 else max(1, len(os.sched_getaffinity(0)))


@contextlib.contextmanager
def render_pool(templates: Path, campaign: Campaign, organisation: dict, as_of: date, workers: int,
                expected: int) -> Iterator[object | None]:
    """Worker processes for rendering, started early (they import while the parent checks the campaign and runs
    the SQL); None if one process is enough. Spawned, not forked: the parent holds a DuckDB connection and Prefect's threads."""
    if workers <= 1 or expected < 2 * CHUNK:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    # rendered chunks pass through a private folder (0700, removed at the end), in memory where there is /dev/shm
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    sweep_abandoned(Path(shm or tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=shm) as folder, context.Pool(
            workers, initializer=_start, initargs=(str(templates), campaign, organisation, as_of, folder)) as pool:
        yield pool


FOLDER_PREFIX = "legatura-render-"


def sweep_abandoned(parent: Path) -> list[Path]:
    """Remove this user's render folders whose compose is gone (killed before it could clean up: they hold
    rendered messages, personal data, in memory until reboot); the folders removed."""
    removed = []
    for folder in parent.glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        try:
            owner = folder.lstat()
        except OSError:
            continue
        if not pid.isdigit() or owner.st_uid != os.getuid() or not folder.is_dir() or folder.is_symlink():
            continue
        try:
            os.kill(int(pid), 0)
            continue   # its compose still runs
        except ProcessLookupError:
            pass
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def render_chunks(rows: pl.DataFrame, templates: Path, campaign: Campaign, organisation: dict, as_of: date,
                  pool=None, chunk: int | None = None) -> Iterator[pa.Table]:
    """Rendered chunks of `rows` as Arrow tables (RESULT_SCHEMA), in order: on the pool's processes when there is
    one (their work starts at once, while the caller goes on), else here as they are taken."""
    chunk = chunk or CHUNK
    chunks = [rows.slice(i, chunk) for i in range(0, rows.height, chunk)]
    if pool is None or len(chunks) < 2:
        return _render_here(Renderer(templates, campaign, organisation, as_of), chunks)
    # chunks travel as IPC bytes (a pickled slice would carry its parent frame's whole string buffers), encoded
    # by the pool's feeder thread as the workers take them
    return (_taken(path) for path in pool.imap(_render, (_ipc(part) for part in chunks)))


def _render_here(renderer: Renderer, chunks: list[pl.DataFrame]) -> Iterator[pa.Table]:
    for part in chunks:
        yield render_frame(renderer, part).to_arrow(compat_level=pl.CompatLevel.oldest())
