"""`legatura run`: the whole chain once — ingest landing/ -> segment -> track -> publish."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from legatura.flows.config import Settings, load_settings
from legatura.flows.ingest import IngestResult, ingest_flow
from legatura.flows.segment import SegmentSummary, segment_flow
from legatura.flows.track import TrackSummary, track_flow
from prefect import flow


@dataclass
class PipelineResult:
    """What one run of the chain did, step by step."""

    ingest: IngestResult | None = None
    segments: SegmentSummary | None = None
    tracking: TrackSummary | None = None
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.ingest is not None:
            t = self.ingest.totals()
            out.append(f"ingest: {t['files']} file(s), read {t['rows_read']}, loaded {t['rows_ingested']}, "
                       f"duplicate {t['rows_duplicate']}, quarantined {t['rows_quarantined']}")
        for name, step in (("segments", self.segments), ("tracking", self.tracking)):
            if step is not None:
                out.extend(f"{name}: {line}" for line in step.lines())
        out.extend(f"FAILED: {f}" for f in self.failures)
        return out


def landing_folders(settings: Settings) -> list[Path]:
    root = settings.landing.path
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.exists() else []


@flow(name="run")
def pipeline_flow(config: str | None = None, as_of: date | None = None) -> PipelineResult:
    """Ingest everything waiting in landing/, recompute segments as of `as_of` (default today), then
    response times; each step is a flow of its own, given the same config path."""
    settings = load_settings(config)
    as_of = as_of or settings.today()
    result = PipelineResult()
    folders = [str(folder) for folder in landing_folders(settings)]
    result.ingest = ingest_flow(folders, config, None, track=False)
    result.failures.extend(f.error or f.path for f in result.ingest.failed)
    result.segments = segment_flow(config, as_of)
    result.failures.extend(f"segment {file} failed: {headline}" for file, headline in result.segments.failed.items())
    result.tracking = track_flow(config)
    return result
