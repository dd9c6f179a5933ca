"""Shared fixtures: settings, a real DuckDB warehouse file, the real loader, a session-wide Prefect server."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import types
from pathlib import Path

import pytest
from legatura.flows import prefect_runtime
from legatura.flows.config import Settings, load_settings
from legatura.warehouse import db


def _prefect_endpoint() -> tuple[Path, int]:
    if "_LEGATURA_TEST_PREFECT" in os.environ:  # this module imported a second time (tests.conftest)
        state, port = os.environ["_LEGATURA_TEST_PREFECT"].rsplit("|", 1)
        return Path(state), int(port)
    state = Path(os.environ.get("LEGATURA_TEST_PREFECT_STATE") or tempfile.mkdtemp(prefix="legatura-prefect-"))
    info = prefect_runtime.running_server(state)
    if info:
        return state, info["port"]
    return state, prefect_runtime._free_port()


# no test may start, find or stop the real user's own local Prefect server (the default state directory)
if "_LEGATURA_TEST_XDG" not in os.environ:
    os.environ["_LEGATURA_TEST_XDG"] = os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="legatura-state-")
_PREFECT_STATE, _PREFECT_PORT = _prefect_endpoint()
os.environ["_LEGATURA_TEST_PREFECT"] = f"{_PREFECT_STATE}|{_PREFECT_PORT}"
os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{_PREFECT_PORT}/api"
prefect_runtime.quiet_environment(_PREFECT_STATE)

DATA = Path(__file__).parent / "data"
FORMATS = DATA / "formats"


@pytest.fixture
def formats() -> Path:
    return FORMATS


# the test defaults: everything inside the test's folder (relative paths are relative to the file)
TEST_CONFIG = {
    "warehouse": {"path": "warehouse/legatura.duckdb", "snapshot": "warehouse/analytics.duckdb"},
    "landing": {"path": "landing", "stable_seconds": 0.3},
    "prefect": {"state_dir": ".legatura"},
}


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def write_config(folder: Path, **sections: dict) -> Path:
    """Write folder/legatura.toml: the test defaults with `sections` merged over them; returns its path."""
    merged = {name: dict(values) for name, values in TEST_CONFIG.items()}
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    lines = []
    for name, values in merged.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path = folder / "legatura.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> str:
    """Path of a legatura.toml in tmp_path (warehouse, landing and state inside tmp_path): what flows take."""
    return str(write_config(tmp_path))


@pytest.fixture
def settings(config: str) -> Settings:
    """The settings `config` gives, as every flow loads them."""
    return load_settings(config)


@pytest.fixture
def configure(tmp_path: Path):
    """Rewrite tmp_path/legatura.toml with these sections over the defaults; returns the settings it gives."""
    def rewrite(**sections: dict) -> Settings:
        return load_settings(write_config(tmp_path, **sections))

    return rewrite


# the current test's warehouse connection, for assert_accounted; one list even when this module is imported
# a second time as tests.conftest (test modules import helpers from it)
_OPEN_WAREHOUSE: list = sys.modules.setdefault("_legatura_test_warehouses", types.ModuleType("w")).__dict__.setdefault(
    "open", [])


@pytest.fixture
def warehouse(settings: Settings):
    """A migrated warehouse file; yields an open read-write connection."""
    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    _OPEN_WAREHOUSE.append(con)
    yield con
    _OPEN_WAREHOUSE.remove(con)
    con.close()


@pytest.fixture
def ingest(warehouse, settings):
    """Run the real loader over files (or folders), like `legatura ingest`, returning FileSummary list."""
    from legatura.flows.ingest import ingest_paths

    def run(*paths: Path, channel: str | None = None, **overrides):
        return ingest_paths(warehouse, [Path(p) for p in paths], settings, channel=channel)

    return run


def assert_accounted(summaries, con=None) -> None:
    """Nothing lost, record by record: each file's records 1..rows_read have exactly one outcome in the
    warehouse (the accounting check), and the counts reported are the ones counted from those outcomes."""
    con = con if con is not None else _OPEN_WAREHOUSE[-1]
    written = [s for s in summaries if s.status not in ("skipped", "unchanged")]
    assert all(s.file_id is not None for s in written), [s for s in written if s.file_id is None]
    ids = [s.file_id for s in written]
    assert con.execute("SELECT file_id, path, problem FROM record_accounting_problems(?)", [ids]).fetchall() == []
    counted = dict(((row[0], row[1:]) for row in con.execute(
        "SELECT file_id, sum(last_record - first_record + 1) FILTER (WHERE outcome = 'loaded'),"
        " sum(last_record - first_record + 1) FILTER (WHERE outcome = 'duplicate'),"
        " sum(last_record - first_record + 1) FILTER (WHERE outcome = 'quarantined'), max(last_record)"
        " FROM record_outcome_ranges WHERE file_id IN (SELECT unnest(?)) GROUP BY file_id", [ids]).fetchall()))
    for s in written:
        got = tuple(n or 0 for n in counted.get(s.file_id, (0, 0, 0, 0)))
        assert got == (s.rows_ingested, s.rows_duplicate, s.rows_quarantined, s.rows_read), (s, got)


def copy_sample(src: Path, dest_dir: Path, name: str | None = None) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / (name or src.name)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copyfile(src, dest)
    return dest


@pytest.fixture(scope="session")
def prefect_api():
    """One local Prefect server for the whole session (started on demand, as the CLI does).

    Its URL is fixed when this module is imported, before any test imports Prefect: Prefect reads its
    settings once, at import. Set LEGATURA_TEST_PREFECT_STATE to a folder to reuse a server across runs.
    """
    # stops by itself 10 minutes after the session, should the session die before stopping it
    url = prefect_runtime.ensure_server(_PREFECT_STATE, timeout=240, port=_PREFECT_PORT, idle_minutes=10)
    assert url == os.environ["PREFECT_API_URL"], (url, os.environ["PREFECT_API_URL"])
    yield url
    if "LEGATURA_TEST_PREFECT_STATE" not in os.environ:
        prefect_runtime.stop_server(_PREFECT_STATE)
