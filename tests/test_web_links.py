"""`legatura web` serves the delivery half's links: the real web process (a subprocess on 127.0.0.1) takes the
one-click unsubscribe of a message that was queued and sent for real, and records the opt-out."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from legatura.flows.sending import SendOptions, run_send
from legatura.warehouse import db

from tests.sending import SECRET, SmtpServer, free_port, queue_emails, with_delivery

pytestmark = [pytest.mark.subprocess, pytest.mark.smtp]
EXE = Path(sys.executable).parent / "legatura"


def start_web(folder: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGATURA_")}
    env["LEGATURA_TOKENS__SECRET"] = SECRET
    process = subprocess.Popen([str(EXE), "web", "--port", str(port)], cwd=folder, env=env,
                               stderr=subprocess.PIPE, text=True)
    for _ in range(10):
        line = process.stderr.readline()
        if line.startswith(f"receiving on http://127.0.0.1:{port}") or not line:
            break
    assert line.startswith(f"receiving on http://127.0.0.1:{port}"), line
    return process


def test_web_process_takes_the_one_click_unsubscribe_of_a_sent_message(tmp_path, configure):
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    settings = configure(organisation={"public_url": web_url})
    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    [message_id] = queue_emails(con, 1)
    con.close()
    server = SmtpServer(tmp_path / "smtp").start()
    try:
        summary = run_send(with_delivery(settings, server.port), SendOptions())
        [mail] = server.messages()
    finally:
        server.stop()
    assert summary.count("email", "sent") == 1 and summary.failure is None
    # the link in the mail as the person's mail client sees it, pointing at the web process
    https_link = mail["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    assert https_link.startswith(f"{web_url}/u/") and mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = https_link.rsplit("/", 1)[1]

    process = start_web(tmp_path, port)
    try:
        assert httpx.get(f"{web_url}/health").text.strip() == "ok"      # the receiver's routes are still there
        assert httpx.post(f"{web_url}/u/{token[:-2]}xx", content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
        page = httpx.get(https_link)
        assert page.status_code == 200 and "<button" in page.text
        # exactly what Gmail sends (RFC 8058): one POST, no cookies, no page to read
        answer = httpx.post(https_link, content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(30)
    con = db.connect(settings.warehouse.path, read_only=True)
    try:
        assert con.execute("SELECT status FROM messages WHERE message_id = ?", [message_id]).fetchall() == [("sent",)]
        assert con.execute("SELECT channel, address, status, source, message_id FROM consent_events "
                           "WHERE source LIKE 'unsubscribe%'").fetchall() == [
            ("email", "donor0@example.org", "opted_out", "unsubscribe:one-click", message_id)]
        assert con.execute("SELECT status FROM consents WHERE address = 'donor0@example.org'").fetchall() == [
            ("opted_out",)]
    finally:
        con.close()

