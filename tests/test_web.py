"""The web process over real HTTP on 127.0.0.1: authentication, every request answered, limits, extra routes, signals."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from legatura.flows.receive import InsecureReceiver
from legatura.flows.web import check_bind, serve_in_thread
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.test_receive import (
    EVENT,
    FORM,
    PUBLIC_URL,
    TWILIO_TOKEN,
    WEBHOOKS,
    event_headers,
    landed_lines,
    post,
    post_event,
    post_sms,
    twilio_sign,
    with_secrets,
)

STOPPED = WEBHOOKS[1]  # "STOP" from +40766555111
START = {**STOPPED, "MessageSid": "SM" + "f" * 32, "SmsSid": "SM" + "f" * 32, "SmsMessageSid": "SM" + "f" * 32,
         "Body": "START", "OptOutType": "START"}


@pytest.fixture
def secured(settings):
    return with_secrets(settings)


def limited(secured, **receive):
    return secured.model_copy(update={"receive": secured.receive.model_copy(update=receive)})


@pytest.fixture
def receiver(secured):
    server = serve_in_thread(secured, "127.0.0.1", 0)
    yield server
    server.shutdown()


def nothing_landed(settings) -> bool:
    return not settings.landing.path.exists() or not any(settings.landing.path.rglob("*.jsonl"))


def health(server) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
        return response.status, time.monotonic() - started


def sms_consent(warehouse, number: str) -> list[str]:
    return [row[0] for row in warehouse.execute("SELECT status FROM consents WHERE address = ?", [number]).fetchall()]


# --- authentication ------------------------------------------------------------------------------------------

def test_web_valid_twilio_signature_is_accepted_and_landed(receiver, secured):
    assert post_sms(receiver, WEBHOOKS[0])[0] == 200
    assert [line["MessageSid"] for line in landed_lines(secured, "twilio")] == [WEBHOOKS[0]["MessageSid"]]


@pytest.mark.parametrize("signature", ["", "bm90IFR3aWxpbydz", "forged"])
def test_web_forged_or_missing_twilio_signature_gets_403_and_writes_nothing(receiver, secured, signature):
    headers = {"X-Twilio-Signature": signature} if signature else {}
    status, _, reason = post(receiver, "/twilio/sms", urllib.parse.urlencode(WEBHOOKS[0]).encode(), FORM, headers)
    assert status == 403 and reason.startswith("X-Twilio-Signature is missing or is not Twilio's")
    assert nothing_landed(secured)


def test_web_twilio_signature_of_another_token_or_url_is_refused(receiver, secured):
    assert post_sms(receiver, WEBHOOKS[0], token="someone-elses-token")[0] == 403
    body = urllib.parse.urlencode(WEBHOOKS[0]).encode()
    for url in ("http://127.0.0.1/twilio/sms", PUBLIC_URL + "/twilio/sms?x=1", "https://evil.example/twilio/sms"):
        signature = twilio_sign(TWILIO_TOKEN, url, list(WEBHOOKS[0].items()))
        assert post(receiver, "/twilio/sms", body, FORM, {"X-Twilio-Signature": signature})[0] == 403
    # the query string is part of what Twilio signs
    signature = twilio_sign(TWILIO_TOKEN, PUBLIC_URL + "/twilio/sms?x=1", list(WEBHOOKS[0].items()))
    assert post(receiver, "/twilio/sms?x=1", body, FORM, {"X-Twilio-Signature": signature})[0] == 200
    assert len(landed_lines(secured, "twilio")) == 1


def test_web_forged_start_does_not_change_consent(receiver, secured, ingest, warehouse):
    assert post_sms(receiver, STOPPED)[0] == 200
    ingest(secured.landing.path / "twilio")
    assert sms_consent(warehouse, STOPPED["From"]) == ["opted_out"]
    forged = twilio_sign("guessed-token", PUBLIC_URL + "/twilio/sms", list(START.items()))
    status, _, _ = post(receiver, "/twilio/sms", urllib.parse.urlencode(START).encode(), FORM,
                        {"X-Twilio-Signature": forged})
    assert status == 403
    ingest(secured.landing.path / "twilio")
    assert sms_consent(warehouse, STOPPED["From"]) == ["opted_out"]
    assert post_sms(receiver, START)[0] == 200  # the person's own START, signed by Twilio, does count
    ingest(secured.landing.path / "twilio")
    assert sms_consent(warehouse, STOPPED["From"]) == ["opted_in"]


def test_web_valid_event_signature_is_accepted(receiver, secured):
    status, _, body = post_event(receiver, "web", json.dumps(EVENT).encode())
    assert (status, json.loads(body)["status"]) == (202, "stored")
    assert [line["id"] for line in landed_lines(secured, "events")] == ["evt-42"]


def test_web_forged_event_signature_gets_403_and_writes_nothing(receiver, secured):
    body = json.dumps(EVENT).encode()
    cases = [
        ({}, "no X-Legatura-Timestamp and X-Legatura-Signature header"),
        (event_headers(body, secret="guessed"), "X-Legatura-Signature does not match the body"),
        (event_headers(b'{"id": "something else"}'), "X-Legatura-Signature does not match the body"),
        ({**event_headers(body), "X-Legatura-Timestamp": str(int(time.time()) + 1)},
         "X-Legatura-Signature does not match the body"),
    ]
    for headers, reason in cases:
        status, _, answer = post(receiver, "/events/web", body, "application/json", headers)
        assert status == 403 and answer.startswith(reason), (headers, answer)
    assert nothing_landed(secured)


def test_web_replayed_event_is_refused_after_the_window_and_harmless_within_it(receiver, secured):
    body = json.dumps(EVENT).encode()
    captured = event_headers(body, timestamp=int(time.time()) - 301)  # a request recorded over 5 minutes ago
    status, _, reason = post(receiver, "/events/web", body, "application/json", captured)
    assert status == 403 and "outside the 300-second window: a replayed request" in reason
    assert nothing_landed(secured)
    fresh = event_headers(body)
    assert post(receiver, "/events/web", body, "application/json", fresh)[0] == 202
    status, _, answer = post(receiver, "/events/web", body, "application/json", fresh)  # replayed at once
    assert (status, json.loads(answer)["status"]) == (200, "duplicate")
    assert len(landed_lines(secured, "events")) == 1


def test_web_non_loopback_bind_without_secrets_is_refused(settings, secured):
    for host in ("0.0.0.0", "::", "192.168.1.10", "receiver.example.org"):
        with pytest.raises(InsecureReceiver, match=rf"^refusing to listen on {host}: anyone could write"):
            check_bind(settings, host)
    only_twilio = settings.model_copy(update={"sms": secured.sms})
    with pytest.raises(InsecureReceiver, match=r"without LEGATURA_RECEIVE__SECRET \(signs /events/<channel>\)"):
        check_bind(only_twilio, "0.0.0.0")
    assert check_bind(secured, "0.0.0.0") == []
    assert check_bind(settings, "127.0.0.1") == [
        "unsigned requests accepted on /twilio/sms (no LEGATURA_SMS__TOKEN): loopback only",
        "unsigned requests accepted on /events/<channel> (no LEGATURA_RECEIVE__SECRET): loopback only"]


def test_web_loopback_without_secrets_accepts_unsigned_requests_and_says_so(settings):
    said = []
    server = serve_in_thread(settings, "127.0.0.1", 0, say=said.append)
    try:
        assert post(server, "/twilio/sms", urllib.parse.urlencode(WEBHOOKS[0]).encode(), FORM)[0] == 200
        assert post(server, "/events/web", json.dumps(EVENT).encode(), "application/json")[0] == 202
    finally:
        server.shutdown()
    assert sum("unsigned requests accepted" in line for line in said) == 2


@pytest.mark.subprocess
def test_web_cli_refuses_a_public_address_without_secrets_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGATURA_")}
    done = subprocess.run([str(Path(sys.executable).parent / "legatura"), "receive", "--host", "0.0.0.0", "--port", "0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error: refusing to listen on 0.0.0.0: anyone could write to the receiver without LEGATURA_SMS__TOKEN "
        "(Twilio's auth token) and LEGATURA_RECEIVE__SECRET (signs /events/<channel>); set them in the environment, "
        "or listen on 127.0.0.1"]


# --- every request answered, limits --------------------------------------------------------------------------

def raw_request(server, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(server.server_address, timeout=timeout) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_web_oversized_content_length_gets_413_without_reading_it(receiver, secured):
    answer = raw_request(receiver, b"POST /events/web HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 100000000\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 413 ") and b"over the 65536-byte limit" in answer
    assert nothing_landed(secured)


def test_web_broken_http_gets_400(receiver):
    assert raw_request(receiver, b"POST /events/web HTTP/1.1\r\nContent-Length: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw_request(receiver, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").startswith(b"HTTP/1.1 400")


def trickle(server, at_once: bytes, slowly: bytes, every: float, answers: list) -> None:
    """A slow client: `at_once`, then `slowly` one byte every `every` seconds, until the server answers or hangs up."""
    with socket.create_connection(server.server_address, timeout=30) as connection:
        started, answer = time.monotonic(), b""
        connection.sendall(at_once)
        for byte in slowly:
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                break
            readable, _, _ = select.select([connection], [], [], every)
            if readable:
                break
        connection.settimeout(5)
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except OSError:
            pass
        answers.append((answer, time.monotonic() - started))


@pytest.mark.parametrize("slow_part", ["headers", "body"])
def test_web_slow_client_gets_408_while_health_keeps_answering(secured, slow_part):
    server = serve_in_thread(limited(secured, request_timeout_seconds=1.5), "127.0.0.1", 0)
    try:
        body = json.dumps(EVENT).encode()
        head = (f"POST /events/web HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n").encode()
        for name, value in event_headers(body).items():
            head += f"{name}: {value}\r\n".encode()
        head += b"\r\n"
        at_once, slowly = (b"", head + body) if slow_part == "headers" else (head, body)
        answers: list = []
        client = threading.Thread(target=trickle, args=(server, at_once, slowly, 0.25, answers))
        client.start()
        time.sleep(0.3)
        while client.is_alive():  # meanwhile the server answers others at once
            status, took = health(server)
            assert status == 200 and took < 1.0
            time.sleep(0.2)
        client.join()
        [(answer, took)] = answers
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert b"not received whole within the receiver's request timeout" in answer
        assert 1.2 < took < 4.0  # the whole request's deadline, not a pause between bytes
        assert nothing_landed(secured)
        assert post_event(server, "web", body)[0] == 202  # and it still takes complete requests
    finally:
        server.shutdown()


def test_web_idle_connection_is_closed_at_the_deadline_without_an_answer(secured):
    server = serve_in_thread(limited(secured, request_timeout_seconds=1), "127.0.0.1", 0)
    try:
        started = time.monotonic()
        with socket.create_connection(server.server_address, timeout=10) as idle:
            assert idle.recv(100) == b""  # closed, nothing said: no request was begun
        assert time.monotonic() - started < 3
    finally:
        server.shutdown()


def test_web_connections_are_bounded_and_the_extra_ones_get_503(secured):
    server = serve_in_thread(limited(secured, max_connections=3, request_timeout_seconds=30), "127.0.0.1", 0)
    held = []
    try:
        for _ in range(3):
            held.append(socket.create_connection(server.server_address, timeout=10))
        time.sleep(0.2)
        extra = raw_request(server, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert extra.startswith(b"HTTP/1.1 503 ")
        for connection in held:
            connection.close()
        held.clear()
        time.sleep(0.2)
        assert health(server)[0] == 200
    finally:
        for connection in held:
            connection.close()
        server.shutdown()


# --- extra routes --------------------------------------------------------------------------------------------

def test_web_serves_extra_routes_beside_the_receiver(secured):
    async def unsubscribe(request):
        return PlainTextResponse(f"unsubscribed {request.path_params['token']}\n")

    server = serve_in_thread(secured, "127.0.0.1", 0, extra_routes=[Route("/u/{token}", unsubscribe)])
    try:
        with urllib.request.urlopen(server.url + "/u/abc123", timeout=5) as response:
            assert (response.status, response.read()) == (200, b"unsubscribed abc123\n")
        assert post_sms(server, WEBHOOKS[0])[0] == 200
        assert health(server)[0] == 200
    finally:
        server.shutdown()


# --- signals -------------------------------------------------------------------------------------------------

def start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGATURA_")}
    env.update(LEGATURA_SMS__TOKEN=TWILIO_TOKEN, LEGATURA_RECEIVE__SECRET="test-events-secret",
               LEGATURA_RECEIVE__PUBLIC_URL=PUBLIC_URL)
    process = subprocess.Popen([str(Path(sys.executable).parent / "legatura"), *args, "--port", "0"], cwd=tmp_path,
                               env=env, stderr=subprocess.PIPE, text=True)
    first = process.stderr.readline()
    assert first.startswith("receiving on http://127.0.0.1:"), first
    return process, first.split(" ")[2].rstrip(":")


class Remote:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.mark.subprocess
@pytest.mark.parametrize(("command", "stop", "code", "last"), [
    ("receive", signal.SIGTERM, 0, "receiver stopped"),
    ("web", signal.SIGTERM, 0, "receiver stopped"),
    ("receive", signal.SIGINT, 130, "receiver stopped (Ctrl-C)"),
])
def test_web_process_stops_cleanly_on_sigterm_and_sigint(tmp_path, command, stop, code, last):
    process, url = start_cli(tmp_path, command)
    try:
        assert post_sms(Remote(url), WEBHOOKS[0])[0] == 200
        process.send_signal(stop)
        rest = process.stderr.read()
        assert process.wait(30) == code
    finally:
        if process.poll() is None:
            process.kill()
    assert rest.splitlines()[-1] == last and "Traceback" not in rest
    lines = (tmp_path / "landing" / "twilio").glob("*.jsonl")
    assert [json.loads(line)["MessageSid"] for f in lines for line in f.read_text().splitlines()] == [
        WEBHOOKS[0]["MessageSid"]]


def test_web_chunked_body_is_read_within_the_limit_and_refused_over_it(receiver, secured):
    body = json.dumps(EVENT).encode()
    head = b"POST /events/web HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in event_headers(body).items()) + b"Connection: close\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    assert raw_request(receiver, head + chunks).startswith(b"HTTP/1.1 202 ")
    big = b"x" * 70_000
    answer = raw_request(receiver, head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big))
    assert answer.startswith(b"HTTP/1.1 413 ") and b"over the 65536-byte limit" in answer
    assert [line["id"] for line in landed_lines(secured, "events")] == ["evt-42"]
