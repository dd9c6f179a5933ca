"""`legatura run`: the whole chain once — ingest landing/ -> segment -> journeys -> send -> track -> publish."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from legatura.flows.config import Settings, load_settings
from legatura.flows.ingest import IngestResult, ingest_flow
from legatura.flows.journeys import JourneysSummary, journeys_flow
from legatura.flows.segment import SegmentSummary, segment_flow
from legatura.flows.send import send_flow
from legatura.flows.sending import SendSummary
from legatura.flows.track import TrackSummary, track_flow
from legatura.transforms.errors import LegaturaError
from prefect import flow


@dataclass
class PipelineResult:
    """What one run of the chain did, step by step."""

    ingest: IngestResult | None = None
    segments: SegmentSummary | None = None
    journeys: JourneysSummary | None = None
    sending: SendSummary | None = None
    tracking: TrackSummary | None = None
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.ingest is not None:
            t = self.ingest.totals()
            out.append(f"ingest: {t['files']} file(s), read {t['rows_read']}, loaded {t['rows_ingested']}, "
                       f"duplicate {t['rows_duplicate']}, quarantined {t['rows_quarantined']}")
        for name, step in (("segments", self.segments), ("journeys", self.journeys), ("send", self.sending),
                           ("tracking", self.tracking)):
            if step is not None:
                out.extend(f"{name}: {line}" for line in step.lines())
        out.extend(f"FAILED: {f}" for f in self.failures)
        return out


def landing_folders(settings: Settings) -> list[Path]:
    root = settings.landing.path
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.exists() else []


@flow(name="run")
def pipeline_flow(config: str | None = None, as_of: date | None = None) -> PipelineResult:
    """Ingest everything waiting in landing/, recompute segments as of `as_of` (default today), compose the
    triggered campaigns, send what is due, then response times; each step is a flow of its own, given the
    same config path. A step that fails is a failure of the run; the steps after it still run."""
    settings = load_settings(config)
    as_of = as_of or settings.today()
    result = PipelineResult()
    folders = [str(folder) for folder in landing_folders(settings)]
    result.ingest = ingest_flow(folders, config, None, track=False)
    result.failures.extend(f.error or f.path for f in result.ingest.failed)
    result.segments = segment_flow(config, as_of)
    result.failures.extend(f"segment {file} failed: {headline}" for file, headline in result.segments.failed.items())
    result.journeys = journeys_flow(config, as_of)
    result.failures.extend(f"compose {name} failed: {error}" for name, error in result.journeys.failed.items())
    try:
        result.sending = send_flow(config)
    except LegaturaError as exc:
        result.failures.append(f"send: {exc}")
    else:
        if result.sending.failure:   # e.g. the SMTP server is down: everything stays queued for the next run
            result.failures.append(f"send: {result.sending.failure}")
    result.tracking = track_flow(config)
    return result
