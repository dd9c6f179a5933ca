"""Journeys: every campaign with a `trigger` composed once (a thank-you per gift, a welcome per first shift).

A triggered campaign queues once per triggering record (compose keys it by `trigger_ref`), so running the
journeys again, however often, queues nobody twice. Scheduled campaigns are left to their schedule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
from legatura.flows.compose import QUEUED_EVENT, ComposeSummary, compose_campaign
from legatura.flows.config import Settings, load_settings
from legatura.transforms.campaigns import campaign_names, load_campaign
from legatura.transforms.errors import LegaturaError
from legatura.warehouse.db import open_for_write
from prefect import flow


@dataclass
class JourneysSummary:
    """What composing the triggered campaigns did, campaign by campaign."""

    composed: list[ComposeSummary] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)     # campaign -> the one line it failed with

    @property
    def queued(self) -> int:
        return sum(s.queued for s in self.composed)

    def lines(self) -> list[str]:
        if not self.composed and not self.failed:
            return ["no campaign has a trigger"]
        out = [f"{s.campaign}: queued {s.queued}, suppressed {s.suppressed}"
               + (f" ({', '.join(f'{k} {v}' for k, v in sorted(s.by_reason.items()))})" if s.by_reason else "")
               for s in self.composed]
        return out + [f"{name} failed: {error}" for name, error in self.failed.items()]


def triggered_campaigns(settings: Settings) -> list[str]:
    """The campaigns with a `trigger`; a campaign.toml that does not load is reported by compose, not here."""
    names = []
    for name in campaign_names(settings.templates.path):
        try:
            if load_campaign(settings.templates.path, name).trigger:
                names.append(name)
        except LegaturaError:
            names.append(name)   # composing it says what is wrong with it, as a failure of the run
    return names


def compose_journeys(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date) -> JourneysSummary:
    """Compose each triggered campaign on this connection; one campaign's failure does not stop the others."""
    summary = JourneysSummary()
    for name in triggered_campaigns(settings):
        try:
            summary.composed.append(compose_campaign(con, settings, name, as_of))
        except LegaturaError as exc:
            summary.failed[name] = str(exc)
    return summary


@flow(name="journeys")
def journeys_flow(config: str | None = None, as_of: date | None = None) -> JourneysSummary:
    """Queue the triggered campaigns' messages (thank-yous, welcomes) for records up to `as_of`."""
    settings = load_settings(config)
    when = as_of or settings.today()
    with open_for_write(settings.warehouse.path, "legatura run (journeys)", settings.warehouse.lock_timeout_seconds,
                        snapshot_path=settings.warehouse.snapshot,
                        snapshot_min_seconds=settings.warehouse.snapshot_min_seconds) as con:
        summary = compose_journeys(con, settings, when)
    from prefect.events import emit_event

    for done in summary.composed:
        if done.queued:   # counts only: no personal data in events
            emit_event(QUEUED_EVENT, resource={"prefect.resource.id": f"legatura.campaign.{done.campaign}"},
                       payload={"campaign": done.campaign, "as_of": when.isoformat(), "queued": done.queued,
                                "suppressed": done.suppressed, "by_channel": done.by_channel})
    return summary
