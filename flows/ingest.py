"""`legatura ingest`: discovered files -> channel presets -> warehouse, with the nothing-lost ledger."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from legatura.flows import progress, session
from legatura.flows.after_ingest import after_ingest
from legatura.flows.config import Settings, load_settings
from legatura.flows.discover import SourceFile, UnreadableSource, batches, discover, read_sources
from legatura.flows.load import FileSummary, ingest_files, record_unreadable
from legatura.flows.track import TrackSummary, track_task
from legatura.warehouse.db import Interrupted, is_interrupt
from prefect import flow, task
from prefect.cache_policies import NO_CACHE


def ingest_paths(con: duckdb.DuckDBPyConnection, paths: list[Path], settings: Settings,
                 channel: str | None = None,
                 on_file: Callable[[FileSummary], None] | None = None) -> list[FileSummary]:
    """Ingest every file under `paths` without Prefect, batch by batch; one summary per file."""
    return [summary for batch in batches(discover(paths, settings, channel))
            for summary in ingest_batch(con, batch, settings, on_file)]


@dataclass
class IngestResult:
    """Per-file summaries of one ingest run, with totals for the CLI."""

    files: list[FileSummary]
    tracking: TrackSummary | None = None   # what tracking recomputed, when it was behind the warehouse

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.status == "failed"]

    def totals(self) -> dict[str, int]:
        keys = ("rows_read", "rows_ingested", "rows_duplicate", "rows_quarantined", "contacts_created",
                "contacts_merged")
        return {"files": len(self.files), **{k: sum(getattr(f, k) for f in self.files) for k in keys}}


def ingest_batch(con: duckdb.DuckDBPyConnection, sources: list[SourceFile], settings: Settings,
                 on_file: Callable[[FileSummary], None] | None = None) -> list[FileSummary]:
    """Ingest a batch of files: each one parsed and accounted on its own, loaded together per channel."""
    summaries: list[FileSummary | None] = [None] * len(sources)
    readable, contents = [], read_sources(sources, settings)
    for index, (source, raw) in enumerate(zip(sources, contents)):
        if source.skipped:
            summaries[index] = FileSummary(path=str(source.path), channel="-", status="skipped",
                                           error=source.problem)
            continue
        problem = source.problem or (str(raw) if isinstance(raw, UnreadableSource) else None)
        if problem or source.channel is None:
            # quarantined whole: with the first bytes of the file itself, none of a link's target
            summaries[index] = record_unreadable(con, source.path, source.channel or "unknown",
                                                 problem or "unknown channel",
                                                 b"" if isinstance(raw, UnreadableSource) else raw)
        else:
            readable.append(index)
    loaded = ingest_files(con, [(sources[i].path, sources[i].channel, contents[i]) for i in readable], settings)
    after_ingest(con, settings)   # bounces, unsubscribes, double opt-ins: what delivery learns from the new records
    for index, summary in zip(readable, loaded):
        summaries[index] = summary
    if on_file:
        for summary in summaries:
            on_file(summary)
    return summaries


def ingest_batch_into_warehouse(sources: list[SourceFile], config: str | None = None) -> list[FileSummary]:
    """Ingest one batch of files into the warehouse `config` names: the connection the flow holds, or its own.

    A task's parameters are plain values a worker can be given (the files with their channels, the config
    path), never a live DuckDB connection or a Settings object.
    """
    settings = load_settings(config)
    with session.connection(settings, "legatura ingest") as con:
        return ingest_batch(con, sources, settings)


# never served from a cache: the ledger, not Prefect, decides what is new
ingest_batch_task = task(ingest_batch_into_warehouse, name="ingest-files", cache_policy=NO_CACHE)


@flow(name="ingest")
def ingest_flow(paths: list[str], config: str | None = None, channel: str | None = None,
                track: bool = True) -> IngestResult:
    """Take the write lock, ingest every file under `paths` (a task per batch of files), update response
    times when anything new arrived, publish the analysts' snapshot. Progress goes to the run's log and to
    the caller's `progress.listening`."""
    settings = load_settings(config)
    sources = discover([Path(p) for p in paths], settings, channel)
    progress.files_found(len(sources))
    summaries: list[FileSummary] = []
    with session.hold(settings, "legatura ingest"):   # the tasks below use this connection
        for batch in batches(sources):
            done = ingest_batch_task(batch, config)
            for summary in done:
                progress.file_done(summary)
            summaries.extend(done)
        result = IngestResult(summaries)
        if track:
            # by the watermark, not by what this run loaded: a run that crashed before tracking is mended here
            try:
                result.tracking = track_task(config, headline=False)
            except BaseException as exc:
                if is_interrupt(exc) and summaries:   # Ctrl-C after every batch committed: say they were kept
                    raise Interrupted(committed=True) from exc
                raise
    return result
