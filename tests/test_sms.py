"""SMS through a Twilio-compatible gateway: a real local HTTP server in another process that fails with 500
and 429 (Retry-After) before it accepts; STOP honoured; segments counted and billed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from legatura.flows.sending import SendOptions, deliver
from pydantic import SecretStr

from tests.sending import free_port

pytestmark = pytest.mark.subprocess
GATEWAY = Path(__file__).with_name("sms_gateway.py")


@pytest.fixture
def gateway(tmp_path):
    started = []

    def start(answers: str):
        port = free_port()
        log = tmp_path / f"gateway{len(started)}.jsonl"
        process = subprocess.Popen([sys.executable, str(GATEWAY), "--port", str(port), "--log", str(log),
                                    "--answers", answers], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().startswith("ready")
        started.append(process)
        return f"http://127.0.0.1:{port}", lambda: [json.loads(x) for x in log.read_text().splitlines()]

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def sms_settings(settings, base_url: str):
    return settings.model_copy(update={"sms": settings.sms.model_copy(update={
        "base_url": base_url, "account_sid": "AC0123456789abcdef", "from_number": "+40316301234",
        "token": SecretStr("gateway-token"), "retry_base_seconds": 0, "rate_per_second": 0, "max_attempts": 5})})


def queue_sms(con, rows):
    con.executemany("INSERT INTO messages (message_id, contact_id, campaign, channel, address, body_text, "
                    "is_marketing, status) VALUES (?, ?, 'sms-campaign', 'sms', ?, ?, ?, 'queued')", rows)
    for message_id, contact_id, number, _, _ in rows:
        con.execute("INSERT INTO contact_identities (identity_type, identity_value, contact_id) VALUES "
                    "('phone', ?, ?) ON CONFLICT DO NOTHING", [number, contact_id])
        con.execute("INSERT INTO consent_events (event_id, channel, address, status, recorded_at, source) "
                    "VALUES (?, 'sms', ?, 'opted_in', now() - INTERVAL 10 DAY, 'forms')", [f"in:{message_id}", number])


def test_sms_retries_500_and_429_honouring_retry_after_then_sends_once(warehouse, settings, gateway):
    url, requests = gateway("500,429,201")
    text = "Mulțumim pentru donație! Ne vedem la gala din 12 decembrie."   # ț: UCS-2
    queue_sms(warehouse, [("s1", 1, "+40722123456", text, True)])
    summary = deliver(warehouse, sms_settings(settings, url), SendOptions())
    seen = requests()
    assert [r["code"] for r in seen] == [500, 429, 201]
    assert {r["path"] for r in seen} == {"/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"}
    assert {r["user"] for r in seen} == {"AC0123456789abcdef"}
    assert {r["content_type"] for r in seen} == {"application/x-www-form-urlencoded"}
    assert seen[-1]["form"] == {"To": "+40722123456", "From": "+40316301234", "Body": text}
    row = warehouse.execute("SELECT status, attempts, gateway_sid, sms_segments, sms_price FROM messages").fetchall()
    assert row == [("sent", 3, "SM" + "0" * 31 + "3", 2, "-0.04500 EUR")]
    assert warehouse.execute("SELECT outcome, reply_code FROM delivery_attempts ORDER BY attempt").fetchall() == [
        ("retry", 500), ("retry", 429), ("sent", 201)]
    assert summary.sms_segments == 2
    assert "sms: retry later 2, sent 1; 2 segment(s) billed, cost 0.04500" in "\n".join(summary.lines())


def test_sms_stop_is_honoured_and_bad_numbers_never_reach_the_gateway(warehouse, settings, gateway):
    url, requests = gateway("201")
    queue_sms(warehouse, [("s1", 1, "+40722123456", "Campanie", True), ("s2", 2, "+40745987654", "Campanie", True),
                          ("s3", 3, "0722 12", "Campanie", False)])
    warehouse.execute("INSERT INTO consent_events (event_id, channel, address, status, recorded_at, source) "
                      "VALUES ('stop', 'sms', '+40745987654', 'opted_out', now(), 'twilio:STOP')")
    deliver(warehouse, sms_settings(settings, url), SendOptions())
    assert warehouse.execute("SELECT message_id, status, suppression_reason, left(error, 30) FROM messages "
                             "ORDER BY 1").fetchall() == [
        ("s1", "sent", None, None), ("s2", "suppressed", "opted_out", "the address opted out (twilio:"),
        ("s3", "failed", None, "refused before sending: number")]
    assert [r["form"]["To"] for r in requests()] == ["+40722123456"]


def test_sms_without_a_gateway_stay_queued(warehouse, settings):
    queue_sms(warehouse, [("s1", 1, "+40722123456", "Salut", False)])
    summary = deliver(warehouse, settings, SendOptions())
    assert "1 SMS stay queued: no gateway configured" in summary.notes[0]
    assert warehouse.execute("SELECT status FROM messages").fetchall() == [("queued",)]


def test_sms_segments():
    from legatura.transforms.delivery import sms_segments

    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2      # extension: two septets each
    assert sms_segments("ț" * 70) == 1 and sms_segments("ț" * 71) == 2


def test_sms_with_no_answer_from_the_gateway_is_unknown_and_not_sent_again(warehouse, settings, gateway):
    url, requests = gateway("0")
    queue_sms(warehouse, [("s1", 1, "+40722123456", "Salut", False)])
    s = sms_settings(settings, url)
    s = s.model_copy(update={"sms": s.sms.model_copy(update={"timeout_seconds": 1})})
    deliver(warehouse, s, SendOptions())
    [(status, error)] = warehouse.execute("SELECT status, error FROM messages").fetchall()
    assert status == "failed" and error.startswith("unknown: the gateway did not answer")
    deliver(warehouse, s, SendOptions())
    assert len(requests()) == 1
