"""`legatura segment`: recompute every segment as of a date; membership with its history of entries and exits."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
from legatura.flows import progress
from legatura.flows.config import Settings, load_settings
from legatura.flows.track import bring_tracking_up_to_date
from legatura.transforms.errors import LegaturaError
from legatura.transforms.segments import segment_name_problem, segment_parameters
from legatura.warehouse.db import SQL_ROOT, open_for_write, put_settings
from prefect import flow, get_run_logger

SEGMENTS_DIR = SQL_ROOT / "segments"

# measures every segment may read, computed once per run into temp tables that shadow the views
MATERIALISED = ("segment_parameters", "donor_measures", "volunteer_measures")


# Membership moves in these steps, in one transaction; `?` is the as-of date. A stay that began on the
# as-of date and ends on it vanishes, and one that ended on it reopens: re-running a date corrects it.
MEMBERSHIP_STEPS = (
    """CREATE OR REPLACE TEMP TABLE segment_exits AS
       SELECT m.contact_id, m.segment
       FROM segment_membership m
       SEMI JOIN segment_scope s USING (segment)
       ANTI JOIN segment_candidates c USING (segment, contact_id)""",
    """CREATE OR REPLACE TEMP TABLE segment_entries AS
       SELECT c.contact_id, c.segment, h.entered_at AS reopened_since
       FROM segment_candidates c
       ANTI JOIN segment_membership m USING (segment, contact_id)
       LEFT JOIN segment_history h
         ON h.contact_id = c.contact_id AND h.segment = c.segment AND h.exited_at = ?""",
    """DELETE FROM segment_history USING segment_exits x
       WHERE segment_history.contact_id = x.contact_id AND segment_history.segment = x.segment
         AND segment_history.exited_at IS NULL AND segment_history.entered_at = ?""",
    """UPDATE segment_history SET exited_at = ? FROM segment_exits x
       WHERE segment_history.contact_id = x.contact_id AND segment_history.segment = x.segment
         AND segment_history.exited_at IS NULL""",
    """UPDATE segment_history SET exited_at = NULL FROM segment_entries e
       WHERE segment_history.contact_id = e.contact_id AND segment_history.segment = e.segment
         AND segment_history.exited_at = ?""",
    """INSERT INTO segment_history (contact_id, segment, entered_at)
       SELECT contact_id, segment, ? FROM segment_entries WHERE reopened_since IS NULL""",
    """DELETE FROM segment_membership USING segment_exits x
       WHERE segment_membership.contact_id = x.contact_id AND segment_membership.segment = x.segment""",
    # in key order: the primary-key index takes a first run's millions of rows a third faster
    """INSERT INTO segment_membership (contact_id, segment, since)
       SELECT contact_id, segment, coalesce(reopened_since, ?) FROM segment_entries
       ORDER BY contact_id, segment""",
)


class SegmentError(LegaturaError):
    """Segments could not be computed at all (a single broken segment file is a SegmentFailure instead)."""


@dataclass(frozen=True)
class SegmentCount:
    segment: str
    members: int
    entered: int
    exited: int


@dataclass(frozen=True)
class SegmentFailure:
    segment: str
    file: str
    message: str

    @property
    def headline(self) -> str:
        """The first line of the message (DuckDB adds candidates and a LINE marker below it)."""
        return self.message.splitlines()[0] if self.message else "failed"

    def __str__(self) -> str:
        return f"{self.file}: {self.headline}"


@dataclass
class SegmentSummary:
    as_of: date
    counts: list[SegmentCount] = field(default_factory=list)
    failures: list[SegmentFailure] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)   # segments whose file is gone: every member exited
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def entered(self) -> int:
        return sum(c.entered for c in self.counts)

    @property
    def exited(self) -> int:
        return sum(c.exited for c in self.counts)

    @property
    def failed(self) -> dict[str, str]:
        """Each failed segment file and the first line of DuckDB's message (what the CLI lists)."""
        return {f.file: f.headline for f in self.failures}

    def lines(self) -> list[str]:
        out = [f"segments as of {self.as_of}: {len(self.counts)} computed, {self.entered} entered, "
               f"{self.exited} exited, {len(self.failures)} failed ({self.seconds:.2f} s)"]
        out += [f"  {c.segment}: {c.members} (+{c.entered} -{c.exited})" for c in self.counts]
        out += [f"  retired {name}: its file is gone, every member exited" for name in self.retired]
        out += [f"  FAILED {f}" for f in self.failures]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def segment_files(folder: Path) -> list[Path]:
    """The segment SQL files of a folder, in name order; a folder without any is an error."""
    files = sorted(Path(folder).glob("*.sql"))
    if not files:
        raise SegmentError(f"{folder}: no segment files (*.sql) here; point segments_dir at the folder "
                           "holding them (the packaged one is legatura/warehouse/segments)")
    return files


def compute_segments(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date,
                     segments_dir: Path | None = None) -> SegmentSummary:
    """Evaluate every segment file as of `as_of` and move membership and history to match, set-based."""
    started = time.perf_counter()
    files = segment_files(segments_dir or SEGMENTS_DIR)
    _rewind_to(con, as_of)
    put_settings(con, segment_parameters(settings, as_of))
    summary = SegmentSummary(as_of=as_of)
    try:
        _materialise_measures(con)
        con.execute("CREATE OR REPLACE TEMP TABLE segment_candidates (segment VARCHAR, contact_id BIGINT)")
        computed = []
        for path in files:
            failure = _evaluate(con, path)
            if failure:
                summary.failures.append(failure)
            else:
                computed.append(path.stem)
        # only contacts that exist (a segment may return ids of erased or merged contacts, or NULL)
        con.execute("DELETE FROM segment_candidates c "
                    "WHERE NOT EXISTS (SELECT 1 FROM contacts k WHERE k.contact_id = c.contact_id)")
        _apply_membership(con, as_of, summary, computed, files)
    finally:
        # the temp tables would otherwise go on shadowing the views for this connection
        con.execute("DROP VIEW IF EXISTS temp.segment_query")
        for name in ("segment_candidates", *MATERIALISED):
            con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _rewind_to(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """An as-of before the last run rewinds history to that date (stays after it are undone), then recomputes."""
    last = con.execute("SELECT max(as_of) FROM segment_runs WHERE status = 'ok'").fetchall()[0][0]
    if last is None or as_of >= last:
        return
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM segment_history WHERE entered_at > ?", [as_of])
    con.execute("UPDATE segment_history SET exited_at = NULL WHERE exited_at > ?", [as_of])
    con.execute("DELETE FROM segment_membership")
    con.execute("INSERT INTO segment_membership (contact_id, segment, since) "
                "SELECT contact_id, segment, min(entered_at) FROM segment_history WHERE exited_at IS NULL "
                "GROUP BY contact_id, segment ORDER BY contact_id, segment")
    con.execute("DELETE FROM segment_runs WHERE as_of > ?", [as_of])
    con.execute("COMMIT")


def _materialise_measures(con: duckdb.DuckDBPyConnection) -> None:
    # every segment then reads the same numbers, computed once; the temp tables shadow the views
    for name in MATERIALISED:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS FROM main.{name}")


def _evaluate(con: duckdb.DuckDBPyConnection, path: Path) -> SegmentFailure | None:
    """Add one segment file's members to segment_candidates; a failure names the file and DuckDB's message."""
    segment = path.stem
    problem = segment_name_problem(segment)
    if problem:
        return SegmentFailure(segment, path.name, problem)
    try:
        sql = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SegmentFailure(segment, path.name, f"cannot read the file: {exc}")
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            return SegmentFailure(segment, path.name, "a segment file holds one SELECT returning contact_id "
                                  f"(found {len(statements)} statement(s))")
        con.execute(f"CREATE OR REPLACE TEMP VIEW segment_query AS\n{sql}")
        con.execute("INSERT INTO segment_candidates SELECT DISTINCT ?, contact_id FROM segment_query", [segment])
    except duckdb.Error as exc:
        return SegmentFailure(segment, path.name, str(exc).strip())
    return None


def _apply_membership(con: duckdb.DuckDBPyConnection, as_of: date, summary: SegmentSummary,
                      computed: list[str], files: list[Path]) -> None:
    """One transaction: exits and entries of the computed segments (and of retired ones), history, run log."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE segment_scope AS "
            "SELECT unnest(?::VARCHAR[]) AS segment, 'ok' AS status "
            "UNION ALL "
            "SELECT DISTINCT segment, 'retired' FROM segment_membership "
            "WHERE NOT list_contains(?::VARCHAR[], segment)",
            [computed, [p.stem for p in files]],
        )
        for statement in MEMBERSHIP_STEPS:
            con.execute(statement, [as_of] * statement.count("?"))
        rows = con.execute("""
            SELECT s.segment, s.status,
                   (SELECT count(*) FROM segment_candidates c WHERE c.segment = s.segment),
                   (SELECT count(*) FROM segment_entries e WHERE e.segment = s.segment),
                   (SELECT count(*) FROM segment_exits x WHERE x.segment = s.segment)
            FROM segment_scope s ORDER BY s.segment""").fetchall()
        runs = [(as_of, seg, status, members, entered, exited, None, f"{seg}.sql")
                for seg, status, members, entered, exited in rows]
        runs += [(as_of, f.segment, "failed", None, None, None, f.message, f.file) for f in summary.failures]
        con.execute("DELETE FROM segment_runs WHERE as_of = ? AND segment IN (SELECT unnest(?::VARCHAR[]))",
                    [as_of, [r[1] for r in runs]])
        if runs:
            con.executemany(
                "INSERT INTO segment_runs (as_of, segment, status, members, entered, exited, error, source_file) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", runs)
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise SegmentError(f"segment membership could not be updated as of {as_of}: {exc}") from exc
    finally:
        for name in ("segment_scope", "segment_entries", "segment_exits"):
            con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    summary.counts = [SegmentCount(seg, members, entered, exited)
                      for seg, status, members, entered, exited in rows if status == "ok"]
    summary.retired = [seg for seg, status, *_ in rows if status == "retired"]


def segment_warehouse(settings: Settings, as_of: date, segments_dir: Path | None = None,
                      notify: Callable[[str], None] | None = None) -> SegmentSummary:
    """Take the write lock, compute segments, publish the snapshot (readers of the snapshot never block this)."""
    with open_for_write(settings.warehouse.path, "legatura segment",
                        lock_timeout=settings.warehouse.lock_timeout_seconds, notify=notify,
                        snapshot_path=settings.warehouse.snapshot,
                        snapshot_min_seconds=settings.warehouse.snapshot_min_seconds) as con:
        bring_tracking_up_to_date(con, settings)   # every writing command mends tracking that fell behind
        return compute_segments(con, settings, as_of, segments_dir)


@flow(name="segment")
def segment_flow(config: str | None = None, as_of: date | None = None,
                 segments_dir: str | None = None) -> SegmentSummary:
    """Recompute segment membership as of a date (default: today in the organisation's time zone)."""
    logger = get_run_logger()
    settings = load_settings(config)
    as_of = as_of or settings.today()
    summary = segment_warehouse(settings, as_of, Path(segments_dir) if segments_dir else None,
                                notify=progress.notify)
    logger.info("segments as of %s: %d computed, %d entered, %d exited, %d failed in %.2f s",
                as_of, len(summary.counts), summary.entered, summary.exited, len(summary.failures),
                summary.seconds)
    for failure in summary.failures:
        logger.error("segment failed: %s", failure)
    return summary
