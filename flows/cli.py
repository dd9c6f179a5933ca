"""The `legatura` command line: thin commands over the flows; errors become one line and exit 1."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from legatura.flows.config import Settings, load_settings
from legatura.transforms.errors import LegaturaError

app = typer.Typer(
    name="legatura", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="Relationship-marketing pipeline for NGOs: ingest every channel into DuckDB, know each person "
         "once, segment, message and measure response times.",
)
server_app = typer.Typer(help="The local Prefect server legatura starts on demand.", no_args_is_help=True)
app.add_typer(server_app, name="server")


class State:
    config: Optional[Path] = None
    settings: Optional[Settings] = None
    interrupt_told: bool = False   # a command already said what Ctrl-C left behind


state = State()


def settings() -> Settings:
    if state.settings is None:
        state.settings = load_settings(state.config)
    return state.settings


def config_arg() -> str | None:
    """The --config path as a flow parameter (flows load their settings themselves, as on a worker)."""
    return str(state.config) if state.config else None


def say(message: str) -> None:
    typer.echo(message, err=True)


def start_prefect(s: Settings) -> None:
    """Configure Prefect for this process (starting the shared local server when needed)."""
    from legatura.flows import prefect_runtime

    prefect_runtime.configure(s.prefect.mode, s.prefect.state_dir, s.prefect.startup_timeout_seconds, say,
                              s.prefect.idle_minutes)
    prefect_runtime.runs_in_this_process()


def emit(summary: object, as_json: bool, lines: list[str]) -> None:
    if as_json:
        data = dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else summary
        typer.echo(json.dumps(data, default=str, ensure_ascii=False, indent=2))
    else:
        for line in lines:
            typer.echo(line)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option("--config", help="legatura.toml to read (env LEGATURA_CONFIG).")] = None,
) -> None:
    """Every command reads legatura.toml in the working directory unless --config says otherwise."""
    state.config = config
    ctx.call_on_close(_publish_pending_snapshot)


def _publish_pending_snapshot() -> None:
    """With warehouse.snapshot_min_seconds, a write may leave the snapshot pending: a command ends current."""
    if state.settings is None or state.settings.warehouse.snapshot_min_seconds <= 0:
        return   # nothing read the settings (nothing was written), or every write publishes at once
    from legatura.warehouse import db

    db.publish_pending(state.settings.warehouse.path, state.settings.warehouse.snapshot)


@app.command()
def init() -> None:
    """Create or migrate the warehouse (idempotent).

    Example: legatura init
    """
    from datetime import datetime, timezone

    from legatura.warehouse import db

    s = settings()
    started = datetime.now(timezone.utc)
    with db.open_for_write(s.warehouse.path, "legatura init", s.warehouse.lock_timeout_seconds, say,
                           snapshot_path=s.warehouse.snapshot) as con:
        applied = [r[0] for r in con.execute(
            "SELECT version FROM schema_migrations WHERE applied_at >= ? ORDER BY version", [started]).fetchall()]
        tables = db.fetch_one(con, "SELECT count(*) FROM duckdb_tables() WHERE NOT internal")[0]
        views = db.fetch_one(con, "SELECT count(*) FROM duckdb_views() WHERE NOT internal")[0]
    typer.echo(f"warehouse {s.warehouse.path}: {len(applied)} migration(s) applied"
               f"{' (' + ', '.join(applied) + ')' if applied else ''}; {tables} tables, {views} views")
    typer.echo(f"analysts: duckdb -readonly {s.warehouse.snapshot}")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", help="Files or folders; folders under landing/<channel>/ imply the channel.")],
    channel: Annotated[Optional[str], typer.Option("--channel", "-c", help="Preset or [mappings.<name>] for every file given.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest files or folders into the warehouse; nothing is loaded twice and nothing is lost.

    Example: legatura ingest landing/stripe/ exports/paypal.csv --channel paypal
    """
    s = settings()
    if channel is not None:
        _check_channel(ctx, channel, s)
    for path in paths:
        if not path.exists():
            raise CommandFailed(f"{path}: no such file or folder")
    start_prefect(s)
    from legatura.flows.ingest import ingest_flow

    with _interrupt_says("interrupted, nothing from the unfinished batch was kept",
                         "interrupted as the last batch committed: it was kept whole (see ingested_files); "
                         "run the command again for the rest"):
        result = _with_progress("ingesting", lambda: ingest_flow([str(p) for p in paths], config_arg(), channel))
    totals = result.totals()
    tracking = [f"response times: {line}" for line in result.tracking.lines()] if result.tracking else []
    emit(result, as_json, [
        f"ingested {totals['files']} file(s): read {totals['rows_read']}, loaded {totals['rows_ingested']}, "
        f"duplicate {totals['rows_duplicate']}, quarantined {totals['rows_quarantined']}; "
        f"contacts created {totals['contacts_created']}, merged {totals['contacts_merged']}",
        *tracking,
        f"snapshot for analysts: {s.warehouse.snapshot}",
    ])
    if result.failed:
        raise CommandFailed(f"{len(result.failed)} file(s) could not be read and were quarantined whole: "
                            + "; ".join(f.error or f.path for f in result.failed))


def _check_channel(ctx: typer.Context, channel: str, s: Settings) -> None:
    """--channel names a preset or a [mappings.<name>] section: a usage error (exit 2) before any work."""
    import difflib

    from legatura.transforms.channels import PRESETS

    if channel in PRESETS or channel in s.mappings:
        return
    names = [*PRESETS, *s.mappings]
    closest = difflib.get_close_matches(channel, names, n=1, cutoff=0.6)
    hint = f"did you mean {closest[0]}? " if closest else ""
    mappings = f"; mappings: {', '.join(s.mappings)}" if s.mappings else ""
    raise typer.BadParameter(f"unknown channel {channel!r}; {hint}presets: {', '.join(PRESETS)}{mappings}",
                             ctx=ctx, param_hint="'--channel'")


@contextlib.contextmanager
def _interrupt_says(message: str, after_commit: str | None = None):
    """Ctrl-C inside the block: say what was kept, exit 130 (DuckDB reports it as 'Query interrupted')."""
    try:
        yield
    except BaseException as exc:
        if not _is_interrupt(exc):
            raise
        say(after_commit if after_commit and getattr(exc, "committed", False) else message)
        state.interrupt_told = True
        raise typer.Exit(INTERRUPTED) from None


def _with_progress(label: str, work):
    """Run `work()` (a flow) with a bar on a terminal (its total set once known), plain lines otherwise.

    The flow reports each file through legatura.flows.progress; callbacks are never flow parameters.
    """
    from legatura.flows import progress

    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      transient=False) as bar:
            job = bar.add_task(label, total=None)

            def advance(summary) -> None:
                bar.console.print(summary.line(), highlight=False, markup=False)
                bar.advance(job)

            with progress.listening(advance, lambda total: bar.update(job, total=total), say):
                return work()
    with progress.listening(lambda summary: say(summary.line()), None, say):
        return work()


def check_as_of(value: Optional[str]) -> Optional[str]:
    """--as-of must be a date (YYYY-MM-DD): a usage error, exit 2, before any work."""
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
    return value


def parse_as_of(value: Optional[str]) -> date:
    """--as-of as a date; default today in the organisation's timezone."""
    if value is None:
        return settings().today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandFailed(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def segment(
    as_of: Annotated[Optional[str], typer.Option("--as-of", callback=check_as_of, help="Date (YYYY-MM-DD) to judge membership by; default today.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Recompute segment membership as of a date (every SQL file in warehouse/segments/).

    Example: legatura segment --as-of 2026-11-30
    """
    s = settings()
    when = parse_as_of(as_of)
    start_prefect(s)
    from legatura.flows import progress
    from legatura.flows.segment import segment_flow

    with progress.listening(notify=say):
        summary = segment_flow(config_arg(), when)
    emit(summary, as_json, summary.lines())
    if summary.failed:
        raise CommandFailed(f"{len(summary.failed)} segment file(s) failed: "
                            + "; ".join(f"{file}: {headline}" for file, headline in summary.failed.items()))


@app.command()
def track(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Recompute response times in both directions and print the headline.

    Example: legatura track
    """
    s = settings()
    start_prefect(s)
    from legatura.flows import progress
    from legatura.flows.track import track_flow

    with progress.listening(notify=say):
        summary = track_flow(config_arg())
    emit(summary, as_json, summary.lines())


@app.command()
def run(
    as_of: Annotated[Optional[str], typer.Option("--as-of", callback=check_as_of, help="Date for segments and journeys; default today.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """The whole chain once: ingest landing/ -> segment -> journeys (triggered campaigns) -> send -> track -> publish.

    A step that fails (an SMTP server that cannot be reached: the mail stays queued) makes the run exit 1
    after the later steps have run.

    Example: legatura run
    """
    s = settings()
    when = parse_as_of(as_of)
    start_prefect(s)
    from legatura.flows.pipeline import pipeline_flow

    result = _with_progress("running", lambda: pipeline_flow(config_arg(), when))
    emit(result, as_json, result.lines())
    if result.failures:
        raise CommandFailed("; ".join(result.failures))


@app.command()
def sql(
    query: Annotated[Optional[str], typer.Argument(help="SQL to run; without it, the tables and views are listed.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (the default when not on a terminal).")] = False,
) -> None:
    """Query the analysts' read-only snapshot (no DuckDB command-line client needed).

    Example: legatura sql "SELECT segment, count(*) FROM segment_membership GROUP BY 1 ORDER BY 1"
    """
    import csv as csv_module

    import duckdb

    s = settings()
    if not s.warehouse.snapshot.exists():
        raise CommandFailed(f"{s.warehouse.snapshot}: no snapshot yet; run `legatura init` or `legatura run` first")
    con = duckdb.connect(str(s.warehouse.snapshot), read_only=True)
    try:
        if query is None:
            query = ("SELECT table_name AS name, 'table' AS type, comment FROM duckdb_tables() "
                     "UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() WHERE NOT internal "
                     "ORDER BY name")
        try:
            result = con.execute(query)
        except duckdb.Error as exc:
            raise CommandFailed(f"the query failed: {str(exc).strip().splitlines()[0]}") from None
        columns = [d[0] for d in result.description or []]
        rows = result.fetchall()
    finally:
        con.close()
    if as_csv or not sys.stdout.isatty():
        writer = csv_module.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, caption=f"{len(rows)} row(s) from {s.warehouse.snapshot}")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


@app.command()
def watch() -> None:
    """Watch landing/<channel>/ and ingest each file once it is complete (until Ctrl-C).

    Example: legatura watch
    """
    from legatura.flows.watch import watch_command

    status = watch_command(settings(), say, config_arg())   # 0 after SIGTERM, 130 after Ctrl-C (SIGINT)
    state.interrupt_told = True                              # it said "watch stopped by ..."
    raise SystemExit(status)


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--folder", help="Where the demo's data and warehouse go.")] = Path("demo"),
    as_of: Annotated[Optional[str], typer.Option("--as-of", callback=check_as_of, help="Date the demo pretends it is; default today.")] = None,
) -> None:
    """Self-contained end-to-end run on generated Romanian data, in its own folder: the whole chain, two
    marketing campaigns, mail sent to a local SMTP sink and kept as .eml files in <folder>/outbox/mail/.

    Example: legatura demo
    """
    from legatura.flows.demo import run_demo

    when = parse_as_of(as_of)
    s = settings()
    start_prefect(s)
    result = run_demo(folder, say, as_of=when)
    if result.failures:
        raise CommandFailed("; ".join(result.failures))


@server_app.command("status")
def server_status() -> None:
    """Show whether the local Prefect server runs and where.

    Example: legatura server status
    """
    from legatura.flows import prefect_runtime

    state_dir = settings().prefect.state_dir
    info = prefect_runtime.running_server(state_dir)
    if info:
        typer.echo(f"running: {info['url']} (pid {info['pid']}; state in {state_dir})")
    else:
        typer.echo(f"not running (the next command that runs a flow starts it; state in {state_dir})")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server.

    Example: legatura server stop
    """
    from legatura.flows import prefect_runtime, warm
    from legatura.flows.processes import user_state_dir

    state_dir = settings().prefect.state_dir
    stopped = prefect_runtime.stop_server(state_dir)
    if state_dir.resolve() == user_state_dir().resolve():
        warm.stop_warm_processes()   # they fork commands for that server: they would stop on their own, later
    typer.echo("stopped" if stopped else "was not running")


class CommandFailed(LegaturaError):
    """A command finished its work but must report failure."""


INTERRUPTED = 130   # the shell's code for "stopped by Ctrl-C"


def _is_interrupt(exc: BaseException) -> bool:
    from legatura.warehouse.db import is_interrupt

    return is_interrupt(exc)


def main() -> None:
    """Entry point: usage errors exit 2 with Click's usage message (Typer's standalone mode), legatura's own
    errors become `Error: ...` and exit 1, Ctrl-C exits 130, anything else leaves a traceback file."""
    try:
        app()
    except SystemExit as exc:
        if exc.code == INTERRUPTED and not state.interrupt_told:
            say("interrupted")
        raise
    except LegaturaError as exc:
        from legatura.transforms.text import shown_name

        typer.echo(f"Error: {shown_name(exc)}", err=True)   # a file name cannot split or fake the line
        raise SystemExit(1) from None
    except BaseException as exc:
        if _is_interrupt(exc):
            say("interrupted")
            raise SystemExit(INTERRUPTED) from None
        if not isinstance(exc, Exception):
            raise
        log = _write_crash_log(exc)
        typer.echo(f"Error: unexpected {type(exc).__name__}: {exc} (traceback in {log})", err=True)
        raise SystemExit(1) from None


def _write_crash_log(exc: BaseException) -> Path:
    """Keep the traceback of an unexpected error for a bug report; the terminal gets one line."""
    import traceback

    folder = (state.settings.prefect.state_dir if state.settings else Path(".legatura"))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "last-error.log"
    log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return log


from legatura.flows import (  # noqa: E402  (each registers its commands)
    cli_config,  # noqa: F401
    cli_deploy,  # noqa: F401
    cli_messages,  # noqa: F401  (compose, check, preview, why)
    cli_send,  # noqa: F401  (send)
    cli_web,  # noqa: F401  (receive, web)
)
