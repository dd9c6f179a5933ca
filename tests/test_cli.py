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
def test_bad_as_of_is_a_usage_error(tmp_path):
    result = run_cli("segment", "--as-of", "yesterday", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("Usage: legatura segment")
    assert "Error: Invalid value for '--as-of': 'yesterday' is not a date (YYYY-MM-DD)" in result.stderr
    assert not (tmp_path / "warehouse").exists()


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


# --- usage errors exit 2 with Click's usage message (issue 9, finding 3)

@pytest.mark.subprocess
@pytest.mark.parametrize(("args", "says"), [
    (["ingest"], "Error: Missing argument 'PATH'."),
    (["ingest", "x.csv", "--chanel", "stripe"], "Error: No such option: --chanel"),
    (["receive", "--port", "many"], "Error: Invalid value for '--port'"),
    (["nosuchcommand"], "Error: No such command 'nosuchcommand'."),
])
def test_usage_error_exits_2_with_a_usage_message(tmp_path, args, says):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Usage: legatura"), result.stderr
    assert says in result.stderr
    assert "unexpected" not in result.stderr and not (tmp_path / ".legatura" / "last-error.log").exists()


@pytest.mark.subprocess
def test_unknown_channel_is_refused_before_any_work(tmp_path, formats):
    shutil.copy(formats / "stripe" / "unified_payments_2026-11-12.csv", tmp_path / "payments.csv")
    (tmp_path / "legatura.toml").write_text("[mappings.banca]\ntarget = 'donations'\n[mappings.banca.columns]\n"
                                            "Data = 'donated_at'\nSuma = 'amount'\n")
    result = run_cli("ingest", "payments.csv", "--channel", "strpe", cwd=tmp_path, env={"PREFECT_API_URL": ""})
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert line == ("Error: Invalid value for '--channel': unknown channel 'strpe'; did you mean stripe? presets: "
                    "email, stripe, paypal, mailchimp, forms, eventbrite, twilio, facebook, volunteers, partners, "
                    "events; mappings: banca")
    assert "Traceback" not in result.stderr
    # no work was done: no warehouse, no Prefect server started
    assert not (tmp_path / "warehouse").exists() and not (tmp_path / ".legatura").exists()


@pytest.mark.subprocess
def test_config_typo_stops_every_command(tmp_path):
    (tmp_path / "legatura.toml").write_text("[tracking]\nsla_hour = 48\n")
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: legatura.toml: unknown key tracking.sla_hour; did you mean sla_hours?"
    assert not (tmp_path / "warehouse").exists()


# --- Ctrl-C during ingest (issue 9, finding 4)

def _write_big_stripe(path: Path, rows: int) -> None:
    import polars as pl

    header = (Path(__file__).parent / "data" / "formats" / "stripe" / "unified_payments_2026-11-12.csv"
              ).read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    i = pl.int_range(0, rows, eager=True)
    values = {name: pl.lit("") for name in columns}
    values.update({
        "id": "ch_3" + i.cast(pl.String).str.zfill(23), "Created date (UTC)": pl.lit("2026-11-12 08:41:00"),
        "Amount": ((i % 500) + 10).cast(pl.String) + ".00", "Amount Refunded": pl.lit("0.00"),
        "Currency": pl.lit("ron"), "Status": pl.lit("Paid"), "Customer Email": "donor" + (i % 50_000).cast(
            pl.String) + "@example.ro", "Customer Description": pl.lit("Donator"),
    })
    frame = pl.select(**{name: values[name] for name in columns if name in values})
    assert frame.height == rows
    frame.write_csv(path)


@pytest.mark.subprocess
@pytest.mark.prefect
def test_ctrl_c_during_ingest_keeps_nothing_of_the_batch_and_exits_130(tmp_path, prefect_api):
    import signal
    import time

    import duckdb

    assert run_cli("init", cwd=tmp_path).returncode == 0
    big = tmp_path / "payments.csv"
    _write_big_stripe(big, 1_000_000)
    proc = subprocess.Popen([str(EXE), "ingest", "payments.csv"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "warehouse" / "legatura.duckdb.lock"
    deadline = time.monotonic() + 120
    while "legatura ingest" not in (lock.read_text() if lock.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)   # parsing or loading the 1,000,000 rows: several seconds on this machine
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "interrupted, nothing from the unfinished batch was kept" in err.splitlines()
    assert "Traceback" not in err and "last-error.log" not in err
    for name in ("legatura.duckdb", "analytics.duckdb"):   # the warehouse, and the snapshot showing the same
        con = duckdb.connect(str(tmp_path / "warehouse" / name), read_only=True)
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0, name
        assert con.execute("SELECT count(*) FROM ingested_files").fetchone()[0] == 0, name
        assert con.execute("SELECT count(*) FROM donations").fetchone()[0] == 0, name
        assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0, name
        con.close()


@pytest.mark.subprocess
def test_config_prints_effective_settings_with_sources_and_masks_secrets(tmp_path):
    (tmp_path / "legatura.toml").write_text("[tracking]\nsla_hours = 48\n")
    env = {"LEGATURA_SMTP__PASSWORD": "hunter2", "LEGATURA_WEB__PORT": "9000"}
    text = run_cli("config", cwd=tmp_path, env=env)
    assert text.returncode == 0, text.stderr
    assert "hunter2" not in text.stdout
    lines = {line.split("=")[0].strip(): line for line in text.stdout.splitlines() if not line.startswith("#")}
    assert lines["tracking.sla_hours"].endswith("= 48.0  # legatura.toml")
    assert lines["smtp.password"].endswith('= "***"  # env LEGATURA_SMTP__PASSWORD')
    assert lines["web.port"].endswith("= 9000  # env LEGATURA_WEB__PORT")
    assert lines["tokens.secret"].endswith('= ""  # default')
    as_json = json.loads(run_cli("config", "--json", cwd=tmp_path, env=env).stdout)
    settings = {row["key"]: row for row in as_json["settings"]}
    assert settings["smtp.password"] == {"key": "smtp.password", "value": "***",
                                         "source": "env LEGATURA_SMTP__PASSWORD"}
    assert settings["organisation.timezone"]["source"] == "default"


@pytest.mark.subprocess
def test_init_refuses_a_warehouse_whose_landed_migration_changed(tmp_path):
    import duckdb

    assert run_cli("init", cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(tmp_path / "warehouse" / "legatura.duckdb"))
    con.execute("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = '005_tracking'")
    con.close()
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: warehouse/migrations/005_tracking.sql has changed since it was applied to this "
                           "warehouse (sha256 000000000000… then, ")
