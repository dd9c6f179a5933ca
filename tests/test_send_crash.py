"""A sender process SIGKILLed mid-batch and restarted: every queued message reaches the SMTP server
exactly once (counted by Message-ID), and every message of unknown fate is listed, never re-sent by itself."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from legatura.flows.outbox import unknown_messages
from legatura.warehouse import db

from tests.sending import SECRET, SmtpServer, queue_emails

pytestmark = [pytest.mark.smtp, pytest.mark.subprocess]

SENDER = """
import sys
from legatura.flows.config import load_settings
from legatura.flows.sending import SendOptions, run_send
summary = run_send(load_settings(sys.argv[1]), SendOptions(resend_unknown=len(sys.argv) > 2))
print("\\n".join(summary.lines()), flush=True)
"""


def write_config(folder: Path, port: int) -> Path:
    config = folder / "legatura.toml"
    config.write_text(f"""
[warehouse]
path = "w/legatura.duckdb"
snapshot = "w/analytics.duckdb"

[smtp]
host = "127.0.0.1"
port = {port}
concurrency = 4
rate_per_second = 0
retry_base_seconds = 0
connect_tries = 2
connect_wait_seconds = 0.05
batch_size = 40
""", encoding="utf-8")
    return config


def run_sender(config: Path, *extra: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SENDER, str(config), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_send_killed_mid_batch_delivers_each_message_once_and_lists_the_unknown(tmp_path):
    server = SmtpServer(tmp_path / "smtp", "--data-delay", "0.03", keep=False).start()
    try:
        config = write_config(tmp_path, server.port)
        con = db.connect(tmp_path / "w" / "legatura.duckdb")
        db.migrate(con)
        queue_emails(con, 240, html=False)
        con.close()
        env = {**os.environ, "LEGATURA_TOKENS__SECRET": SECRET}
        # kill at several points: early in the first batch, mid-run, and right after a restart's recovery
        for received_before_kill in (15, 90, 95, 170):
            sender = run_sender(config, env=env)
            deadline = time.monotonic() + 60
            while len(server.received()) < received_before_kill and sender.poll() is None:
                assert time.monotonic() < deadline, "the sender made no progress"
                time.sleep(0.005)
            sender.send_signal(signal.SIGKILL)
            sender.wait()
        final = run_sender(config, env=env)
        out, err = final.communicate(timeout=120)
        assert final.returncode == 0, err
        assert "recovered from an interrupted run" in out

        con = db.connect(tmp_path / "w" / "legatura.duckdb")
        rows = dict(con.execute("SELECT smtp_message_id, status FROM messages").fetchall())
        unknown = {r[4] for r in unknown_messages(con)}
        con.close()
        received = Counter(r["message_id"] for r in server.received())
        assert len(rows) == 240
        assert max(received.values()) == 1, [k for k, v in received.items() if v > 1]      # none twice
        assert set(received) | unknown == set(rows)                                       # none lost
        assert set(rows.values()) <= {"sent", "failed"}
        assert {m for m, st in rows.items() if st == "sent"} <= set(received)
        assert {m for m, st in rows.items() if st == "failed"} == unknown
        assert len(unknown) <= 4 * 4      # at most one in flight per connection per kill

        status = subprocess.run([str(Path(sys.executable).with_name("legatura")), "--config", str(config), "send",
                                 "--status"], env=env, capture_output=True, text=True, timeout=60)
        listed = {line.split("<")[-1].rstrip(">") for line in status.stdout.splitlines() if line.startswith("  ")}
        assert status.returncode == 0, status.stderr
        assert listed == unknown
        if unknown:
            assert f"failed (unknown) {len(unknown)}" in status.stdout

        # only --resend-unknown sends them again
        again = run_sender(config, env=env)
        assert again.communicate(timeout=60)[0].strip() == "nothing due to send"
        resend = run_sender(config, "--resend-unknown", env=env)
        out, _ = resend.communicate(timeout=60)
        assert resend.returncode == 0
        con = db.connect(tmp_path / "w" / "legatura.duckdb")
        assert con.execute("SELECT count(*) FROM messages WHERE status = 'sent'").fetchall() == [(240,)]
        con.close()
    finally:
        server.stop()
