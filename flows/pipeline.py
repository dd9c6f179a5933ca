"""`legatura run`: the whole chain once — ingest landing/ -> segment -> track -> publish."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from legatura.flows.config import Settings
from legatura.flows.ingest import IngestResult, ingest_flow
from legatura.flows.load import FileSummary
from prefect import flow


@dataclass
class PipelineResult:
    """What one run of the chain did, step by step."""

    ingest: IngestResult | None = None
    segments: object | None = None
    tracking: object | None = None
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.ingest is not None:
            t = self.ingest.totals()
            out.append(f"ingest: {t['files']} file(s), read {t['rows_read']}, loaded {t['rows_ingested']}, "
                       f"duplicate {t['rows_duplicate']}, quarantined {t['rows_quarantined']}")
        for name, step in (("segments", self.segments), ("tracking", self.tracking)):
            if step is not None:
                out.extend(f"{name}: {line}" for line in str(step).splitlines())
        out.extend(f"FAILED: {f}" for f in self.failures)
        return out


def landing_folders(settings: Settings) -> list:
    root = settings.landing.path
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.exists() else []


@flow(name="run", validate_parameters=False)
def pipeline_flow(settings: Settings, as_of: date, progress: Callable[[FileSummary], None] | None = None,
                  notify: Callable[[str], None] | None = None) -> PipelineResult:
    """Ingest everything waiting in landing/, recompute segments, then response times."""
    from legatura.flows.segment import segment_flow
    from legatura.flows.track import track_flow

    result = PipelineResult()
    folders = landing_folders(settings)
    result.ingest = ingest_flow(folders, settings, None, progress=progress, notify=notify, track=False)
    result.failures.extend(f.error or f.path for f in result.ingest.failed)
    result.segments = segment_flow(settings, as_of)
    failed = getattr(result.segments, "failed", None)
    if failed:
        result.failures.append(f"segments failed: {failed}")
    result.tracking = track_flow(settings)
    return result
