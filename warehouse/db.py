"""The warehouse connection: one writer at a time (a file lock, waited for), migrations, snapshots."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import duckdb
from legatura.transforms.errors import LegaturaError
from legatura.warehouse import snapshot

SQL_ROOT = Path(str(resources.files("legatura.warehouse")))


class WarehouseError(LegaturaError):
    """The warehouse file cannot be opened, migrated or written."""


class MigrationChanged(WarehouseError):
    """A migration file differs from the one this warehouse applied (landed migrations are never edited)."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse write lock longer than we were willing to wait."""


def _lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _holder(lock_file: Path) -> str:
    try:
        info = json.loads(lock_file.read_text() or "{}")
        return f"pid {info.get('pid')} ({info.get('what', '?')}, since {info.get('since', '?')})"
    except (OSError, ValueError):
        return "another process"


@contextlib.contextmanager
def write_lock(
    db_path: Path, what: str, timeout: float = 600.0, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the one-writer lock of the warehouse; wait for it (telling `notify` once) rather than fail."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = _lock_path(db_path)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and notify:
                    notify(f"waiting for the warehouse write lock held by {_holder(lock_file)}")
                    told = True
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"{db_path}: still locked by {_holder(lock_file)} after {timeout:.0f} s; "
                        "try again when it has finished (or raise warehouse.lock_timeout_seconds)"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "what": what,
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%S")}).encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def connect(db_path: Path, read_only: bool = False, timeout: float = 60.0,
            notify: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, retrying while some other program (an analyst's client) holds it."""
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    elif not db_path.exists():
        raise WarehouseError(f"{db_path}: no warehouse here yet; run `legatura init` first")
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            con = duckdb.connect(str(db_path), read_only=True) if read_only else _open_for_writing(db_path)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise WarehouseError(f"{db_path}: {exc}") from exc
            if time.monotonic() > deadline:
                raise WarehouseBusy(
                    f"{db_path}: held open by another program for {timeout:.0f} s; analysts should "
                    "open the snapshot (warehouse.snapshot) instead of the live file"
                ) from exc
            if not told and notify:
                notify(f"{db_path} is open in another program; waiting for it to close")
                told = True
            time.sleep(0.25)
    con.execute("SET TimeZone = 'UTC'")
    return con


ROW_GROUP_ROWS = 16_384   # rows per row group written by this program (DuckDB's default: 122,880)
WRITE_BUFFER = 1   # full row groups held before they are written (DuckDB's default: 5)


def _open_for_writing(db_path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse opened as `duckdb.connect(path)` opens it (the same catalog name, the only database), with
    row groups of ROW_GROUP_ROWS rows.

    DuckDB writes a transaction's rows to the file while it is still open once they fill a row group, and its
    commit then only links them in; below a row group, the commit copies every row into the table, the WAL and
    a checkpoint, on one core. An outbox of 94,000 messages committed in 0.4 s instead of 1.5 s this way
    (each full row group is written as soon as it is full: WRITE_BUFFER). Smaller row groups cost a few
    percent of compression. The size is a setting of the connection (ATTACH),
    not of the file: every program opens the same file as it likes."""
    if db_path.stem.lower() == "memory":   # the in-memory database's name: opened the usual way
        return duckdb.connect(str(db_path))
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {sql_literal(str(db_path))} (ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
        catalog = con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal "
                              "AND database_name <> 'memory'").fetchall()[0][0]
        con.execute(f"USE {sql_identifier(catalog)}.main")   # the catalog, even one named like a schema
        con.execute("DETACH memory")
        con.execute(f"SET write_buffer_row_group_count = {WRITE_BUFFER}")
    except BaseException:
        con.close()
        raise
    return con


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, also as DuckDB reports it: SIGINT during a query becomes RuntimeError('Query interrupted')."""
    return isinstance(exc, KeyboardInterrupt) or (isinstance(exc, RuntimeError) and str(exc) == "Query interrupted")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a write; `committed` when it came as the last transaction had already committed."""

    def __init__(self, committed: bool = False):
        super().__init__("committed" if committed else "rolled back")
        self.committed = committed


def rollback(con: duckdb.DuckDBPyConnection) -> bool:
    """Roll back the open transaction; False when none was open (an interrupted COMMIT had finished)."""
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException:
        return False
    return True


def _sql_files(folder: str) -> list[Path]:
    return sorted((SQL_ROOT / folder).glob("*.sql"))


def checksum(path: Path) -> str:
    """sha256 of a migration file's text (line endings folded, so a Windows checkout reads the same)."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations in order, then (re)create every view; returns the migrations applied.

    Each applied file's sha256 is kept in schema_migrations; a landed file that has changed since is refused
    (MigrationChanged), since this warehouse was built by what the file said then."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), checksum VARCHAR)"
    )
    if not fetch_one(con, "SELECT 1 FROM duckdb_columns() WHERE table_name = 'schema_migrations' "
                          "AND column_name = 'checksum' AND schema_name = 'main'"):
        # a warehouse from before checksums: its rows get theirs below, once every pending migration ran
        con.execute("ALTER TABLE schema_migrations ADD COLUMN checksum VARCHAR")
    done = dict(con.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    files = {path.stem: (path, checksum(path)) for path in _sql_files("migrations")}
    for version, (path, now) in files.items():
        if done.get(version) not in (None, now):
            raise MigrationChanged(
                f"warehouse/migrations/{path.name} has changed since it was applied to this warehouse "
                f"(sha256 {done[version][:12]}… then, {now[:12]}… now): a landed migration is never edited; "
                f"restore it (git checkout -- warehouse/migrations/{path.name}) and put the change in a new "
                "migration")
    applied = []
    for version, (path, now) in files.items():
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations (version, checksum) VALUES (?, ?)", [version, now])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise WarehouseError(f"migration {path.name} failed: {exc}") from exc
        applied.append(version)
    unsummed = [(now, version) for version, (path, now) in files.items() if version in done and not done[version]]
    if unsummed:
        # only now: 008 has brought tables made by the first texts of 001_core and 005_tracking to today's shape,
        # so today's files describe this warehouse
        con.executemany("UPDATE schema_migrations SET checksum = ? WHERE version = ? AND checksum IS NULL", unsummed)
    _create_views(con, force=bool(applied or unsummed))
    return applied


_DEFINED = re.compile(r"CREATE\s+OR\s+REPLACE\s+(VIEW|MACRO)\s+(\w+)", re.IGNORECASE)


def _create_views(con: duckdb.DuckDBPyConnection, force: bool) -> None:
    """(Re)create every view and macro of warehouse/views, unless this warehouse already has exactly these
    files' definitions (their digest recorded, every name present) and no migration just ran: re-creating
    thirty views costs each command 0.1-0.2 s and a catalog write to checkpoint."""
    texts = [(path, path.read_text(encoding="utf-8")) for path in _sql_files("views")]
    digest = hashlib.sha256("\0".join(f"{path.name}\0{text}" for path, text in texts).encode()).hexdigest()
    wanted = {(kind.upper(), name.lower()) for _, text in texts for kind, name in _DEFINED.findall(text)}
    present = {("VIEW", name.lower()) for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'").fetchall()}
    present |= {("MACRO", name.lower()) for (name,) in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro') "
        "AND schema_name = 'main' AND NOT internal").fetchall()}
    recorded = fetch_one(con, "SELECT max(digest) FROM view_definitions")[0]
    if not force and recorded == digest and wanted <= present:
        return
    for path, text in texts:
        try:
            con.execute(text)
        except duckdb.Error as exc:
            raise WarehouseError(f"view file {path.name} failed: {exc}") from exc
    con.execute("DELETE FROM view_definitions")
    con.execute("INSERT INTO view_definitions (digest) VALUES (?)", [digest])


@contextlib.contextmanager
def open_for_write(db_path: Path, what: str, lock_timeout: float = 600.0,
                   notify: Callable[[str], None] | None = None,
                   snapshot_path: Path | None = None,
                   snapshot_min_seconds: float = 0.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Take the write lock, open and migrate the warehouse, yield the connection, checkpoint, close it.

    With `snapshot_path`, the read-only snapshot is published after a successful write when the warehouse
    changed since the snapshot was taken; with `snapshot_min_seconds`, not more often than that (a copy
    left pending is published by publish_pending, or by the next write once due).
    """
    with write_lock(db_path, what, lock_timeout, notify):
        opened = snapshot.signature(db_path)
        con = connect(db_path, timeout=lock_timeout, notify=notify)
        interrupted: BaseException | None = None
        try:
            applied = migrate(con)
            # migrate re-creates every view: what the body writes shows as the WAL growing past this
            baseline = snapshot.signature(db_path)
            try:
                yield con
            except BaseException as exc:
                if not is_interrupt(exc):
                    raise
                # Ctrl-C: the unfinished transaction goes; what earlier batches committed is published below
                rollback(con)
                interrupted = exc
            changed = bool(applied) or snapshot.signature(db_path) != baseline
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if snapshot_path is not None:
            _after_write(db_path, snapshot_path, opened, changed, snapshot_min_seconds)
        if interrupted is not None:
            raise interrupted if isinstance(interrupted, KeyboardInterrupt) else Interrupted() from interrupted


def _after_write(db_path: Path, snapshot_path: Path, opened: tuple[int, int, int], changed: bool,
                 min_seconds: float) -> snapshot.Publication:
    try:
        return snapshot.after_write(db_path, snapshot_path, opened, changed, min_seconds, _view_digest())
    except (OSError, snapshot.SnapshotError) as exc:
        raise WarehouseError(f"{snapshot_path}: the snapshot could not be published: {exc}") from exc


def _view_digest() -> str:
    """The view definitions this code creates: a snapshot taken with other ones is out of date."""
    digest = hashlib.sha256()
    for path in _sql_files("views"):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def publish_snapshot(db_path: Path, snapshot_path: Path) -> Path:
    """Copy the warehouse to a read-only snapshot now, replaced atomically (readers keep the old file)."""
    try:
        snapshot.publish(db_path, snapshot_path)
    except snapshot.SnapshotError as exc:
        raise WarehouseError(str(exc)) from exc
    return snapshot_path


def publish_pending(db_path: Path, snapshot_path: Path, min_seconds: float = 0.0,
                    wait: float = 0.0) -> snapshot.Publication | None:
    """Publish a snapshot a write deferred, once `min_seconds` have passed since the last copy: what the
    watcher calls as it ticks and stops, and the CLI as a command ends. None when nothing was due, or when
    another process holds the write lock (its own write ends with a publish)."""
    if not snapshot.is_due(snapshot_path, min_seconds):
        return None
    try:
        with write_lock(db_path, "publish the snapshot", timeout=wait):
            if not snapshot.is_due(snapshot_path, min_seconds) or snapshot.signature(db_path)[2]:
                return None   # a pending WAL: a write did not finish; the next one publishes
            return _after_write(db_path, snapshot_path, snapshot.signature(db_path), True, 0.0)
    except WarehouseBusy:
        return None


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """Run a query and return a Polars frame (keeps the schema even when no row matches)."""
    import polars as pl

    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query, or None (fetches fully: DuckDB 2 refuses work after a partial fetch)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def put_settings(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    """Write key/value rows of the `settings` table, which views read their parameters from."""
    con.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", list(values.items()))


def check_invariants(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Run warehouse/checks/*.sql; each returns the rows that break an invariant. Empty dict = all good."""
    broken = {}
    for path in _sql_files("checks"):
        rows = con.execute(path.read_text(encoding="utf-8")).fetchall()
        if rows:
            broken[path.stem] = rows[:20]
    return broken
