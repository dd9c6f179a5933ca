"""`legatura check CAMPAIGN`: the toml, every template in every language, rendered for a sample of the audience."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import polars as pl
from legatura.flows.compose_outbox import context_rows, put_params, select_audience
from legatura.flows.config import Settings
from legatura.transforms import sms
from legatura.transforms.campaigns import Campaign, load_campaign
from legatura.transforms.context import sample_row
from legatura.transforms.errors import LegaturaError
from legatura.transforms.render import UNSUBSCRIBE_MARKER, Renderer, environments, template_problems

SAMPLE_SIZE = 20


class CampaignCheckFailed(LegaturaError):
    """A campaign failed its check: nothing of it is queued until it is fixed."""


@dataclass
class CheckReport:
    campaign: str
    errors: list[str] = field(default_factory=list)     # the campaign cannot run
    warnings: list[str] = field(default_factory=list)   # some contacts' messages will be suppressed
    rendered: int = 0
    sample_contacts: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        head = (f"campaign {self.campaign}: {'OK' if self.ok else 'FAILED'}; rendered {self.rendered} message(s) "
                f"for the sample contact and {self.sample_contacts} audience contact(s)")
        return [head, *(f"  error: {e}" for e in self.errors), *(f"  warning: {w}" for w in self.warnings)]


def organisation_of(settings: Settings) -> dict:
    o = settings.organisation
    return {"name": o.name, "email": o.email, "public_url": o.public_url, "language": o.language,
            "phone": (o.phone_numbers or [None])[0]}


def check_campaign(settings: Settings, name: str, as_of: date,
                   con: duckdb.DuckDBPyConnection | None = None) -> CheckReport:
    """Check a campaign: its files, a fully filled sample contact, then real contacts of its audience."""
    templates = settings.templates.path
    campaign = load_campaign(templates, name)
    envs = environments(templates, campaign)   # compiled once, for the problems and the renderer
    report = CheckReport(campaign.name, errors=template_problems(templates, campaign, envs))
    if report.errors:
        return report
    renderer = Renderer(templates, campaign, organisation_of(settings), as_of, envs)
    for language in campaign.languages:
        for channel in campaign.channels:
            out = renderer.render(sample_row(channel, language))
            report.rendered += 1
            if out.reason == "template_error":
                report.errors.append(out.error.replace("(contact 0)", "(the sample contact)"))
                continue
            report.warnings += _content_warnings(campaign, channel, language, out, "the sample contact")
            if campaign.is_marketing and channel == "email":
                for part, body in (("HTML", out.body_html), ("text", out.body_text)):
                    if UNSUBSCRIBE_MARKER not in (body or ""):
                        report.errors.append(f"{campaign.name}/email.{language}: the {part} part of a marketing "
                                             f"email lacks the unsubscribe link ({{{{ unsubscribe_url }}}})")
    if con is not None and not report.errors:
        _check_audience(con, settings, campaign, renderer, as_of, report)
    return report


def _content_warnings(campaign: Campaign, channel: str, language: str, out, who: str) -> list[str]:
    if channel != "sms" or out.body_text is None:
        return []
    found = []
    if out.reason == "sms_too_long":
        found.append(out.error)
    strange = sms.non_gsm7(out.body_text)
    if strange:
        found.append(f"{campaign.name}/sms.{language}.j2 for {who}: characters outside GSM-7 "
                     f"({''.join(strange[:10])}) make it UCS-2, about twice the cost; set transliterate_sms = true")
    return found


def _check_audience(con, settings: Settings, campaign: Campaign, renderer: Renderer, as_of: date,
                    report: CheckReport) -> None:
    """Render every channel and language for a sample of the real audience (per-contact failures warn)."""
    put_params(con, settings, campaign, as_of)
    select_audience(con, campaign, as_of)
    sample = con.execute(f"SELECT contact_id, trigger_ref, audience_segment FROM compose_audience "
                         f"ORDER BY contact_id, trigger_ref LIMIT {SAMPLE_SIZE}").fetchall()
    report.sample_contacts = len({row[0] for row in sample})
    if not sample:
        return
    decisions = pl.DataFrame(
        [{"contact_id": c, "trigger_ref": t, "audience_segment": s, "channel": ch, "language": lang,
          "status": "queued", "address": "Str. Exemplu 1" if ch == "letter" else None}
         for c, t, s in sample for ch in campaign.channels for lang in campaign.languages],
        schema={"contact_id": pl.Int64, "trigger_ref": pl.String, "audience_segment": pl.String,
                "channel": pl.String, "language": pl.String, "status": pl.String, "address": pl.String},
    ).with_row_index("decision_no", offset=1).with_columns(pl.col("decision_no").cast(pl.Int64))
    con.register("check_decisions", decisions.to_arrow())
    con.execute("CREATE OR REPLACE TEMP TABLE compose_decisions AS SELECT * FROM check_decisions")
    con.unregister("check_decisions")
    failed = 0
    for row in context_rows(con).iter_rows(named=True):
        out = renderer.render(row)
        report.rendered += 1
        if out.reason == "template_error":
            failed += 1
            if failed <= 5:
                report.warnings.append(f"{out.error}: this contact's message would be suppressed (template_error)")
        else:
            report.warnings += _content_warnings(campaign, row["channel"], row["language"], out,
                                                 f"contact {row['contact_id']}")
    if failed > 5:
        report.warnings.append(f"... {failed - 5} more sample message(s) fail the same way")
    con.execute("DROP TABLE compose_decisions")
