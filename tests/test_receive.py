"""The receiver over real HTTP on 127.0.0.1 (signed requests), the events preset, and receiver -> watcher -> warehouse."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from legatura.flows.receive import ReceiverError
from legatura.flows.web import MAX_BODY_BYTES, RunningWeb, listen, serve_in_thread
from legatura.transforms.channels import events
from legatura.warehouse import db
from pydantic import SecretStr

from tests.test_watch import watch_in_thread
from tests.waiting import eventually

DATA = Path(__file__).parent / "data"
WEBHOOKS = [json.loads(line) for line in (DATA / "watch" / "twilio_webhooks.jsonl").read_text().splitlines()]
FORM = "application/x-www-form-urlencoded"
EVENT = {"id": "evt-42", "occurred_at": "2026-11-20T10:15:00+02:00", "email": "Ana.Marginean@Gmail.com ",
         "full_name": "Ana Mărginean", "subject": "Întrebare", "body": "Pot dona lunar?"}
TWILIO_TOKEN = "test-twilio-auth-token"
EVENTS_SECRET = "test-events-secret"
PUBLIC_URL = "https://asociatia-exemplu.ro/legatura"   # what Twilio is told; the proxy forwards to 127.0.0.1


def twilio_sign(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's documented algorithm, written out here: URL + each name and value sorted by name, HMAC-SHA1, base64."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def event_headers(body: bytes, secret: str = EVENTS_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """X-Legatura-Timestamp and X-Legatura-Signature as the README tells another system to send them."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Legatura-Timestamp": stamp, "X-Legatura-Signature": f"sha256={digest}"}


def with_secrets(settings):
    """The test settings with both secrets and the public URL, as in production."""
    return settings.model_copy(update={
        "sms": settings.sms.model_copy(update={"token": SecretStr(TWILIO_TOKEN)}),
        "receive": settings.receive.model_copy(update={"secret": SecretStr(EVENTS_SECRET), "public_url": PUBLIC_URL})})


@pytest.fixture
def secured(settings):
    return with_secrets(settings)


@pytest.fixture
def receiver(secured):
    server = serve_in_thread(secured, "127.0.0.1", 0)
    yield server
    server.shutdown()


def post(server: RunningWeb, path: str, body: bytes, content_type: str | None,
         headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    request = urllib.request.Request(server.url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers["Content-Type"], refused.read().decode()


def post_sms(server: RunningWeb, fields: dict, token: str = TWILIO_TOKEN) -> tuple[int, str, str]:
    """A webhook signed as Twilio signs it, for the public URL."""
    signature = twilio_sign(token, PUBLIC_URL + "/twilio/sms", list(fields.items()))
    return post(server, "/twilio/sms", urllib.parse.urlencode(fields).encode(), FORM,
                {"X-Twilio-Signature": signature})


def post_event(server: RunningWeb, channel: str, body: bytes, content_type: str = "application/json",
               **signing) -> tuple[int, str, str]:
    return post(server, f"/events/{channel}", body, content_type, event_headers(body, **signing))


def landed_lines(settings, folder: str) -> list[dict]:
    return [json.loads(line) for f in sorted((settings.landing.path / folder).glob("*.jsonl"))
            for line in f.read_text().splitlines()]


def test_receiver_sms_lands_one_line_with_every_field_and_received_at(receiver, settings):
    status, content_type, body = post_sms(receiver, WEBHOOKS[0])
    assert (status, content_type) == (200, "text/xml; charset=utf-8") and body.endswith("<Response/>")
    [day_file] = (settings.landing.path / "twilio").glob("inbound-*.jsonl")
    [line] = landed_lines(settings, "twilio")
    assert line["received_at"][:10] == day_file.name.removeprefix("inbound-").removesuffix(".jsonl")
    assert line["received_at"].endswith("+00:00")
    assert {k: v for k, v in line.items() if k != "received_at"} == WEBHOOKS[0]
    assert line["Body"] == "Bună! Cum pot dona lunar?"


def test_receiver_same_sms_twice_writes_one_line_even_after_a_restart(receiver, settings, secured):
    assert post_sms(receiver, WEBHOOKS[1])[0] == 200
    assert post_sms(receiver, WEBHOOKS[1])[0] == 200      # Twilio retrying: still answered 200
    restarted = serve_in_thread(secured, "127.0.0.1", 0)  # a new process remembers what the file holds
    try:
        assert post_sms(restarted, WEBHOOKS[1])[0] == 200
    finally:
        restarted.shutdown()
    assert [line["MessageSid"] for line in landed_lines(settings, "twilio")] == [WEBHOOKS[1]["MessageSid"]]


def test_receiver_same_sms_twice_gives_one_interaction(receiver, settings, ingest, warehouse):
    post_sms(receiver, WEBHOOKS[1])
    post_sms(receiver, WEBHOOKS[1])
    [summary] = ingest(settings.landing.path / "twilio")
    assert (summary.channel, summary.rows_read, summary.rows_ingested) == ("twilio", 1, 1)
    rows = warehouse.execute("SELECT interaction_id, kind FROM interactions").fetchall()
    assert rows == [(f"twilio:{WEBHOOKS[1]['MessageSid']}", "opt_out")]


BROKEN = [
    ("/twilio/sms", b"MessageSid=SM1&&From=%2B40722123456&broken", FORM, 400, "body is not form data"),
    ("/twilio/sms", b"From=%2B40722123456&Body=hello", FORM, 400, "no MessageSid field"),
    ("/twilio/sms", b"MessageSid=SM0a9f4c2e7d1b43f09e6a5c8b2d7e1f30&Body=hello", FORM, 400, "no From field"),
    ("/twilio/sms", b"MessageSid=SM%20%3Cscript%3E&From=1", FORM, 400, "is not a Twilio message id"),
    ("/twilio/sms", b"MessageSid=SM1&From=%FF%FE", FORM, 400, "not UTF-8 form data"),
    ("/twilio/sms", b'{"MessageSid": "SM1"}', "application/json", 415,
     "Content-Type must be application/x-www-form-urlencoded, not application/json"),
    ("/twilio/sms", b"MessageSid=SM1&From=1&Body=" + b"x" * MAX_BODY_BYTES, FORM, 413, "over the 65536-byte limit"),
    ("/events/web", b'{"id": "evt-1", "occurred_at": ', "application/json", 400, "body is not valid JSON"),
    ("/events/web", b'{"occurred_at": "2026-11-20T10:00:00Z", "email": "a@b.ro"}', "application/json", 400,
     "not a valid event: no id"),
    ("/events/web", b'{"id": "e", "occurred_at": "ieri", "email": "a@b.ro"}', "application/json", 400,
     "occurred_at 'ieri' is not an ISO 8601 time"),
    ("/events/web", b'{"id": "e", "occurred_at": "2026-11-20", "full_name": "X"}', "application/json", 400,
     "neither email nor phone"),
    ("/events/web", b'{"id": "e", "occurred_at": "2026-11-20", "email": "a@b.ro", "channel": "sms"}',
     "application/json", 400, "differs from /events/web"),
    ("/events/web", b'["id"]', "application/json", 400, "not a valid event: not a JSON object"),
    ("/events/web", b"id=e", FORM, 415, "Content-Type must be application/json"),
    ("/events/web", b'{"id": "e\\ud800", "occurred_at": "2026-11-20", "email": "a@b.ro"}', "application/json", 400,
     "body is not valid JSON text: surrogates not allowed (\\ud800)"),
    ("/events/web", b"[" * 20_000, "application/json", 400, "body is not valid JSON: nested too deeply"),
    ("/events/web", b'{"id": "e", "body": "\xff"}', "application/json", 400, "body is not UTF-8 JSON (byte 21"),
    ("/events/Web%20Site", b"{}", "application/json", 404, "must be lower-case letters"),
    ("/twilio/voice", b"CallSid=CA1", FORM, 404, "no such endpoint POST /twilio/voice"),
]


@pytest.mark.parametrize(("path", "body", "content_type", "status", "reason"), BROKEN,
                         ids=[f"{b[0]}-{b[4][:30]}" for b in BROKEN])
def test_receiver_broken_request_gets_4xx_with_reason_and_writes_nothing(receiver, settings, path, body,
                                                                        content_type, status, reason):
    if path.startswith("/twilio/"):  # signed as Twilio would, so the refusal is for the body itself
        params = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        headers = {"X-Twilio-Signature": twilio_sign(TWILIO_TOKEN, PUBLIC_URL + path, params)}
    else:
        headers = event_headers(body)
    got_status, got_type, got_body = post(receiver, path, body, content_type, headers)
    assert (got_status, got_type) == (status, "text/plain; charset=utf-8")
    assert reason in got_body
    assert not settings.landing.path.exists() or not any(settings.landing.path.rglob("*.jsonl"))
    assert post_sms(receiver, WEBHOOKS[0])[0] == 200  # the receiver still serves


def test_receiver_health_and_unknown_get(receiver):
    with urllib.request.urlopen(receiver.url + "/health", timeout=5) as response:
        assert (response.status, response.read()) == (200, b"ok\n")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(receiver.url + "/twilio/sms", timeout=5)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "POST"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(receiver.url + "/nowhere", timeout=5)
    assert refused.value.code == 404 and "no such endpoint GET /nowhere" in refused.value.read().decode()


def test_receiver_refuses_a_port_in_use_with_one_line(receiver):
    with pytest.raises(ReceiverError, match=r"cannot listen on 127\.0\.0\.1:\d+: .*pass another --port"):
        listen("127.0.0.1", receiver.server_address[1], 8)


def test_receiver_concurrent_posts_land_as_whole_lines(receiver, settings):
    def client(worker: int) -> None:
        for i in range(25):
            fields = {**WEBHOOKS[0], "MessageSid": f"SM{worker:02d}{i:030d}", "Body": f"mesaj {worker}/{i} " * 40}
            assert post_sms(receiver, fields)[0] == 200

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = landed_lines(settings, "twilio")  # json.loads of every line: none torn or interleaved
    assert len(lines) == len({line["MessageSid"] for line in lines}) == 200


def test_receiver_event_lands_under_events_and_loads_as_an_interaction(receiver, settings, ingest, warehouse):
    status, content_type, body = post_event(receiver, "web", json.dumps(EVENT).encode())
    assert (status, content_type, json.loads(body)) == (202, "application/json", {"status": "stored", "id": "evt-42"})
    status, _, body = post_event(receiver, "web", json.dumps(EVENT).encode())
    assert (status, json.loads(body)["status"]) == (200, "duplicate")
    [line] = landed_lines(settings, "events")
    assert line["channel"] == "web" and "received_at" in line
    [summary] = ingest(settings.landing.path / "events")
    assert (summary.channel, summary.rows_ingested, summary.rows_quarantined) == ("events", 1, 0)
    row = warehouse.execute("""
        SELECT i.interaction_id, i.channel, i.direction, i.kind, i.awaits_answer, c.email, c.full_name
        FROM interactions i JOIN contacts c USING (contact_id)""").fetchone()
    assert row == ("events:web:evt-42", "web", "inbound", "message", True, "ana.marginean@gmail.com",
                   "Ana Mărginean")


def test_events_parse_quarantines_bad_lines_with_their_line_number(settings):
    raw = (DATA / "events" / "web_events.jsonl").read_bytes()
    result = events.parse(raw, "web_events.jsonl", settings)
    interactions = result.frames["interactions"]
    assert result.records_read == 10 and interactions.height + result.quarantine.height == 10
    assert interactions.get_column("interaction_id").to_list() == [
        "events:web:evt-1001", "events:web:evt-1002", "events:web:evt-1008"]
    assert interactions.get_column("phone").to_list() == [None, "+40722123456", None]
    assert interactions.get_column("direction").to_list() == ["inbound", "outbound", "inbound"]
    assert dict(zip(result.quarantine["line_or_key"], result.quarantine["reason"], strict=True)) == {
        "4": "occurred_at 'ieri' is not an ISO 8601 time such as 2026-11-20T10:15:00+02:00",
        "5": "email 'not-an-address' is not a valid address",
        "6": "neither email nor phone: the event must say who it is with",
        "7": "direction 'sideways' must be inbound or outbound",
        "8": "id must be text (a JSON string)",
        "9": "not a JSON object",
        "11": "not a complete JSON object (Unterminated string starting at at column 91)",
    }


def test_events_naive_time_is_local_to_the_organisation(settings):
    line = json.dumps({"id": "e1", "occurred_at": "2026-07-01 12:00", "phone": "0722 123 456"})
    result = events.parse(line.encode(), "x.jsonl", settings)
    [occurred] = result.frames["interactions"].get_column("occurred_at").to_list()
    assert occurred.isoformat() == "2026-07-01T09:00:00+00:00"  # Bucharest is UTC+3 in summer


def test_events_detect_knows_events_but_not_twilio_lines():
    assert events.detect("x.jsonl", json.dumps(EVENT).encode() + b"\n")
    assert not events.detect("x.jsonl", json.dumps({**WEBHOOKS[0], "id": "x", "occurred_at": "y"}).encode())


@pytest.mark.prefect
def test_sms_webhooks_reach_the_warehouse_through_receiver_and_watcher(settings, config, secured, prefect_api):
    """End to end on 127.0.0.1: POST webhooks -> landing/twilio/ (fsync'd) -> watcher -> ingest flow -> rows."""
    receiver = serve_in_thread(secured, "127.0.0.1", 0)
    batches, stop, thread = watch_in_thread(settings, prefect_api, config)
    try:
        for fields in WEBHOOKS[:3]:
            assert post_sms(receiver, fields)[0] == 200
        assert post_sms(receiver, WEBHOOKS[0])[0] == 200  # a retried delivery
        assert eventually(lambda: sum(f.rows_ingested for b in batches if b.result for f in b.result.files) >= 3)
        assert post_sms(receiver, WEBHOOKS[3])[0] == 200  # a later message: the same day file grows
        assert eventually(lambda: sum(f.rows_ingested for b in batches if b.result for f in b.result.files) >= 4)
    finally:
        stop.set()
        thread.join(30)
        receiver.shutdown()
    assert not thread.is_alive() and all(b.error is None for b in batches)
    con = db.connect(settings.warehouse.snapshot, read_only=True)  # what analysts see
    try:
        rows = con.execute("""
            SELECT i.interaction_id, i.direction, i.kind, c.phone FROM interactions i JOIN contacts c USING (contact_id)
            ORDER BY i.occurred_at""").fetchall()
        opted_out = con.execute("SELECT address FROM consents WHERE status = 'opted_out'").fetchall()
    finally:
        con.close()
    assert rows == [(f"twilio:{w['MessageSid']}", "inbound", "opt_out" if w["Body"] == "STOP" else "message", w["From"])
                    for w in WEBHOOKS]
    assert opted_out == [(WEBHOOKS[1]["From"],)]
