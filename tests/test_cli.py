"""The command line: help with examples everywhere, one-line errors, summaries, real runs in a subprocess."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from legatura.flows.cli import app
from typer.testing import CliRunner

runner = CliRunner()
EXE = Path(sys.executable).with_name("legatura")


def _commands(group=app, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group)
    for name, command in click_group.commands.items():
        if hasattr(command, "commands"):
            for sub in command.commands:
                yield (*prefix, name, sub)
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("command", list(_commands()), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.subprocess
def test_init_twice_is_idempotent(tmp_path):
    first = run_cli("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "migration(s) applied (001_core" in first.stdout
    second = run_cli("init", cwd=tmp_path)
    assert second.returncode == 0 and "0 migration(s) applied" in second.stdout
    assert (tmp_path / "warehouse" / "analytics.duckdb").exists()


@pytest.mark.subprocess
def test_missing_path_is_one_line_error(tmp_path):
    result = run_cli("ingest", "nope.csv", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["Error: nope.csv: no such file or folder"]


@pytest.mark.subprocess
def test_bad_config_is_one_line_error(tmp_path):
    (tmp_path / "legatura.toml").write_text("[compose]\nfrequency_cap = 'many'\n")
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: legatura.toml: setting compose.frequency_cap")


@pytest.mark.subprocess
def test_bad_as_of_is_one_line_error(tmp_path):
    result = run_cli("segment", "--as-of", "yesterday", cwd=tmp_path)
    assert result.returncode == 1 and "is not a date" in result.stderr


@pytest.mark.subprocess
@pytest.mark.prefect
def test_ingest_prints_counts_and_json(tmp_path, formats, prefect_api):
    landing = tmp_path / "landing" / "stripe"
    landing.mkdir(parents=True)
    shutil.copy(formats / "stripe" / "unified_payments_2026-11-12.csv", landing)
    result = run_cli("ingest", "landing/stripe", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "read 12, loaded 9, duplicate 0, quarantined 3" in result.stdout
    assert "response times: recomputed all contacts" in result.stdout  # tracking catches up after every ingest
    again = run_cli("ingest", "landing/stripe", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    [summary] = json.loads(again.stdout)["files"]
    assert (summary["status"], summary["rows_duplicate"], summary["channel"]) == ("unchanged", 12, "stripe")


def test_readme_documents_every_command():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for command in _commands():
        assert f"legatura {' '.join(command)}" in readme or f"legatura {command[0]}" in readme, command


@pytest.mark.subprocess
def test_sql_queries_the_snapshot_as_csv(tmp_path):
    assert run_cli("init", cwd=tmp_path).returncode == 0
    result = run_cli("sql", "SELECT count(*) AS n FROM contacts", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n", "0"]
    listing = run_cli("sql", cwd=tmp_path)
    assert "segment_membership,table," in listing.stdout and "inbound_response_times,view," in listing.stdout
    broken = run_cli("sql", "SELECT nope", cwd=tmp_path)
    assert broken.returncode == 1 and broken.stderr.startswith("Error: the query failed: Binder Error")
