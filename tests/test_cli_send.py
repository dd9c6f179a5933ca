"""`legatura send` from the command line: a real Prefect flow run, a real SMTP server, one-line failures."""
from __future__ import annotations

import json

import pytest
from legatura.warehouse import db

from tests.sending import SECRET, SmtpServer, free_port, queue_emails
from tests.test_cli import run_cli

pytestmark = [pytest.mark.subprocess, pytest.mark.prefect, pytest.mark.smtp]


def prepare(tmp_path, port: int, count: int = 3) -> dict:
    (tmp_path / "legatura.toml").write_text(
        f"[smtp]\nport = {port}\nconnect_tries = 2\nconnect_wait_seconds = 0.05\nrate_per_second = 0\n",
        encoding="utf-8")
    assert run_cli("init", cwd=tmp_path).returncode == 0
    con = db.connect(tmp_path / "warehouse" / "legatura.duckdb")
    queue_emails(con, count)
    con.close()
    return {"LEGATURA_TOKENS__SECRET": SECRET}


def test_cli_send_runs_the_flow_and_prints_counts_and_rate(tmp_path, prefect_api):
    server = SmtpServer(tmp_path / "smtp").start()
    try:
        env = prepare(tmp_path, server.port)
        result = run_cli("send", "--limit", "2", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("email: sent 2 in ") and "/s)" in result.stdout
        rest = run_cli("send", "--json", cwd=tmp_path, env=env)
        assert rest.returncode == 0, rest.stderr
        assert json.loads(rest.stdout)["outcomes"] == {"email:sent": 1}
        assert len(server.received()) == 3
        again = run_cli("send", "--json", cwd=tmp_path, env=env)
        assert again.returncode == 0 and json.loads(again.stdout)["outcomes"] == {}
        status = run_cli("send", "--status", "--json", cwd=tmp_path, env=env)
        assert json.loads(status.stdout) == {"counts": {"sent": 3}, "unknown": []}
    finally:
        server.stop()


def test_cli_send_with_the_server_down_fails_with_one_line_and_keeps_everything_queued(tmp_path, prefect_api):
    port = free_port()
    env = prepare(tmp_path, port)
    result = run_cli("send", cwd=tmp_path, env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"Error: SMTP server 127.0.0.1:{port} cannot be reached after 2 tries")
    assert line.endswith("3 email(s) stay queued")
    status = run_cli("send", "--status", cwd=tmp_path, env=env)
    assert status.stdout.startswith("outbox: queued 3")
