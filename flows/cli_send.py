"""`legatura send`: deliver queued messages (and `--status`: what the outbox holds, the unknown ones listed)."""
from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from legatura.flows.cli import CommandFailed, app, config_arg, emit, say, settings, start_prefect


@app.command()
def send(
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Send at most N messages this run.")] = None,
    campaign: Annotated[Optional[str], typer.Option("--campaign", help="Only this campaign's messages.")] = None,
    status: Annotated[bool, typer.Option("--status", help="Show the outbox per status and list messages of "
                                                          "unknown fate; send nothing.")] = False,
    resend_unknown: Annotated[bool, typer.Option("--resend-unknown", help="Queue again the messages whose fate "
                                                 "is unknown after a crash, then send.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Deliver queued messages whose time has come: email over SMTP, SMS through the gateway, letters to files.

    Each message is sent at most once. A message whose fate is unknown after a crash is not sent again
    until you check and run `legatura send --resend-unknown`.

    Example: legatura send --limit 500 --campaign newsletter-dec
    """
    s = settings()
    if status:
        _print_status(s, as_json)
        return
    start_prefect(s)
    from legatura.flows import send

    def delivery(progress):
        with send.listening(progress):
            return send.send_flow(config_arg(), limit, campaign, resend_unknown)

    summary = _with_bar(delivery)
    emit(summary, as_json, summary.lines())
    if summary.failure:
        raise CommandFailed(summary.failure)


def _with_bar(work):
    """Run `work(progress)` with a bar on a terminal; plain lines every 1,000 messages otherwise."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
            job = bar.add_task("sending", total=None)

            def progress(event: str, n: int | None) -> None:
                if event == "total":
                    bar.update(job, total=n)
                elif event not in ("retry", "requeued"):
                    bar.advance(job, n or 1)

            return work(progress)
    done = [0]

    def lines(event: str, n: int | None) -> None:
        if event == "total":
            say(f"{n} message(s) due")
        elif event not in ("retry", "requeued"):
            done[0] += n or 1
            if done[0] % 1000 == 0:
                say(f"{done[0]} done")

    return work(lines)


def _print_status(s, as_json: bool) -> None:
    from legatura.flows import outbox
    from legatura.warehouse import db

    if not s.warehouse.path.exists():
        raise CommandFailed(f"{s.warehouse.path}: no warehouse yet; run `legatura init` first")
    try:
        con = db.connect(s.warehouse.path, read_only=True, timeout=2)
    except db.WarehouseBusy:
        # a run holds the live file: the last published snapshot is the best there is
        if not s.warehouse.snapshot.exists():
            raise CommandFailed(f"{s.warehouse.path} is busy (a run holds it) and there is no snapshot yet; "
                                "try again when the run has finished") from None
        say(f"a run holds the warehouse: showing the snapshot {s.warehouse.snapshot}")
        con = db.connect(s.warehouse.snapshot, read_only=True)
    try:
        counts = outbox.status_counts(con)
        unknown = outbox.unknown_messages(con)
    finally:
        con.close()
    lines = ["outbox: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "empty")]
    if unknown:
        lines.append(f"{len(unknown)} message(s) of unknown fate (handed to the server, no answer recorded); "
                     "check them, then `legatura send --resend-unknown` sends them again:")
        lines += [f"  {m} {ch} {camp or '-'} {addr} <{smtp_id or '-'}>" for m, ch, camp, addr, smtp_id, _ in unknown]
    emit({"counts": counts, "unknown": [dict(zip(("message_id", "channel", "campaign", "address",
                                                   "smtp_message_id", "error"), u)) for u in unknown]},
         as_json, lines)
