"""The messaging commands: compose, check, preview, why (registered on the `legatura` app by import)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from legatura.flows.cli import CommandFailed, app, check_as_of, config_arg, emit, parse_as_of, settings, start_prefect


@app.command()
def compose(
    campaign: Annotated[str, typer.Argument(help="Campaign folder name under templates/.")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", callback=check_as_of, help="Date (YYYY-MM-DD) of the run; default today.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing; print counts and one sample.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Queue a campaign's personalised messages: consent, caps, channel, language, send time, one row each.

    Example: legatura compose lybunt-winback --as-of 2026-11-30 --dry-run
    """
    s = settings()
    when = parse_as_of(as_of)
    start_prefect(s)
    from legatura.flows.compose import compose_flow

    config = config_arg()
    summary = compose_flow(campaign, config=config, as_of=when, dry_run=dry_run)
    emit(summary, as_json, summary.lines())


@app.command()
def check(
    campaign: Annotated[str, typer.Argument(help="Campaign folder name under templates/.")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", callback=check_as_of, help="Date for the audience sample; default today.")] = None,
) -> None:
    """Check a campaign: campaign.toml, every template in every language, rendered for a sample of its audience.

    Example: legatura check thank-you
    """
    from legatura.flows.check import check_campaign
    from legatura.flows.why import read_only

    s = settings()
    when = parse_as_of(as_of)
    if not (s.warehouse.snapshot.exists() or s.warehouse.path.exists()):
        report = check_campaign(s, campaign, when)   # no warehouse yet: the files and the sample contact
    else:
        with read_only(s) as con:
            report = check_campaign(s, campaign, when, con)
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise CommandFailed(f"campaign {campaign} failed its check ({len(report.errors)} error(s))")


@app.command()
def preview(
    campaign: Annotated[str, typer.Argument(help="Campaign folder name under templates/.")],
    contact: Annotated[str, typer.Option("--contact", help="contact_id, email or phone of the person.")],
    channel: Annotated[Optional[str], typer.Option("--channel", help="email, sms or letter; default the one compose would choose.")] = None,
    language: Annotated[Optional[str], typer.Option("--language", help="Render in this language instead.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write the HTML; default preview-<campaign>-<contact>.html.")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", callback=check_as_of, help="Date of the run; default today.")] = None,
) -> None:
    """Render one contact's message: the text part in the terminal, the HTML written beside it.

    Example: legatura preview thank-you --contact ana.marginean@gmail.com
    """
    from legatura.flows.why import preview_message, read_only

    s = settings()
    with read_only(s) as con:
        result = preview_message(con, s, campaign, contact, parse_as_of(as_of), channel, language)
    typer.echo(result.header)
    typer.echo(result.text or "(no text part: a printable letter)")
    if result.html:
        path = out or Path(f"preview-{campaign}-{result.contact_id}.html")
        path.write_text(result.html, encoding="utf-8")
        typer.echo(f"HTML written to {path}")


@app.command()
def why(
    contact: Annotated[str, typer.Argument(help="contact_id, email or phone of the person.")],
    campaign: Annotated[Optional[str], typer.Option("--campaign", help="Only this campaign.")] = None,
) -> None:
    """Explain every campaign decision for a person: segment, channel and why, consent used, or the rule that stopped it.

    Example: legatura why ana.marginean@gmail.com --campaign lybunt-winback
    """
    from legatura.flows.why import explain, read_only

    s = settings()
    with read_only(s) as con:
        lines = explain(con, contact, campaign, s.organisation.timezone)
    for line in lines:
        typer.echo(line)
