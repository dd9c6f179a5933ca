"""`legatura ingest`: discovered files -> channel presets -> warehouse, with the nothing-lost ledger."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from legatura.flows.after_ingest import after_ingest
from legatura.flows.config import Settings
from legatura.flows.discover import SourceFile, batches, discover
from legatura.flows.load import FileSummary, ingest_files, record_unreadable
from legatura.flows.track import TrackSummary, compute_response_times_task
from legatura.warehouse.db import open_for_write
from prefect import flow, task
from prefect.cache_policies import NO_CACHE


def ingest_paths(con: duckdb.DuckDBPyConnection, paths: list[Path], settings: Settings,
                 channel: str | None = None,
                 progress: Callable[[FileSummary], None] | None = None) -> list[FileSummary]:
    """Ingest every file under `paths` without Prefect, batch by batch; one summary per file."""
    return [summary for batch in batches(discover(paths, settings, channel))
            for summary in ingest_batch(con, batch, settings, progress)]


@dataclass
class IngestResult:
    """Per-file summaries of one ingest run, with totals for the CLI."""

    files: list[FileSummary]
    tracking: TrackSummary | None = None   # the response-time headline when ingest also ran tracking

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.status == "failed"]

    def totals(self) -> dict[str, int]:
        keys = ("rows_read", "rows_ingested", "rows_duplicate", "rows_quarantined", "contacts_created",
                "contacts_merged")
        return {"files": len(self.files), **{k: sum(getattr(f, k) for f in self.files) for k in keys}}


def ingest_batch(con: duckdb.DuckDBPyConnection, sources: list[SourceFile], settings: Settings,
                 progress: Callable[[FileSummary], None] | None = None) -> list[FileSummary]:
    """Ingest a batch of files: each one parsed and accounted on its own, loaded together per channel."""
    summaries: list[FileSummary | None] = [None] * len(sources)
    readable = []
    for index, source in enumerate(sources):
        if source.skipped:
            summaries[index] = FileSummary(path=str(source.path), channel="-", status="skipped",
                                           error=source.problem)
        elif source.channel is None:
            summaries[index] = record_unreadable(con, source.path, "unknown", source.problem or "unknown channel",
                                                 source.raw)
        else:
            readable.append(index)
    loaded = ingest_files(con, [(sources[i].path, sources[i].channel, sources[i].raw) for i in readable], settings)
    after_ingest(con, settings)   # bounces, unsubscribes, double opt-ins: what delivery learns from the new records
    for index, summary in zip(readable, loaded):
        summaries[index] = summary
    if progress:
        for summary in summaries:
            progress(summary)
    return summaries


ingest_batch_task = task(ingest_batch, name="ingest-files", cache_policy=NO_CACHE)


@flow(name="ingest", validate_parameters=False)
def ingest_flow(paths: list[Path], settings: Settings, channel: str | None = None,
                progress: Callable[[FileSummary], None] | None = None,
                notify: Callable[[str], None] | None = None, track: bool = True,
                on_discovered: Callable[[int], None] | None = None) -> IngestResult:
    """Take the write lock, ingest every file (a task per batch of files), update response times when
    anything new arrived, publish the analysts' snapshot."""
    sources = discover(paths, settings, channel)
    if on_discovered:
        on_discovered(len(sources))
    summaries: list[FileSummary] = []
    with open_for_write(settings.warehouse.path, "legatura ingest", settings.warehouse.lock_timeout_seconds,
                        notify, snapshot_path=settings.warehouse.snapshot) as con:
        for batch in batches(sources):
            summaries.extend(ingest_batch_task(con, batch, settings, progress))
        result = IngestResult(summaries)
        if track and result.totals()["rows_ingested"]:
            # new interactions can answer requests or respond to our messages: keep the views current
            result.tracking = compute_response_times_task(con, settings)
    return result
