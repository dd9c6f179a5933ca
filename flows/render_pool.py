"""Render a campaign's messages on every core: chunks of context rows go to worker processes.

Each worker builds the campaign's Renderer once (templates compiled, CSS inlined once per template file)
and renders whole chunks; nothing per message crosses the process boundary but the row and its result.
"""
from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
from legatura.flows import render_worker
from legatura.flows.processes import pid_alive
from legatura.flows.render_worker import render_table
from legatura.transforms.campaigns import Campaign
from legatura.transforms.render import CampaignSpec, Renderer

CHUNK = 1000


def _taken(path: str) -> pa.Table:
    """A worker's rendered chunk, mapped from its file; the file goes at once (the mapping keeps the data)."""
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    os.unlink(path)
    return table


def _ipc(table: pa.Table) -> bytes:
    """A table (a slice of a part's context rows) as Arrow IPC bytes: only the slice's rows travel."""
    buffer = io.BytesIO()
    with pa.ipc.new_file(buffer, table.schema) as writer:
        writer.write_table(table)
    return buffer.getvalue()


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
            workers, initializer=render_worker.start,
            initargs=(str(templates), CampaignSpec.of(campaign), organisation, as_of, folder)) as pool:
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
        if pid_alive(int(pid)):
            continue   # its compose still runs
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def render_chunks(rows: pa.Table, templates: Path, campaign: Campaign, organisation: dict, as_of: date,
                  pool=None, chunk: int | None = None) -> Iterator[pa.Table]:
    """Rendered chunks of `rows` as Arrow tables (RESULT_SCHEMA), in order: on the pool's processes when there is
    one (their work starts at once, while the caller goes on), else here as they are taken."""
    chunk = chunk or CHUNK
    chunks = [rows.slice(i, chunk) for i in range(0, rows.num_rows, chunk)]
    if pool is None or len(chunks) < 2:
        return _render_here(Renderer(templates, campaign, organisation, as_of), chunks)
    # chunks travel as IPC bytes (a pickled slice would carry its parent table's whole buffers), encoded by the
    # pool's feeder thread as the workers take them
    return (_taken(path) for path in pool.imap(render_worker.render, (_ipc(part) for part in chunks)))


def _render_here(renderer: Renderer, chunks: list[pa.Table]) -> Iterator[pa.Table]:
    for part in chunks:
        yield render_table(renderer, part)
