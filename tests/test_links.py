"""Unsubscribe and confirmation links over real HTTP: flows/links.py's routes in a Starlette app under
uvicorn on 127.0.0.1, in another process, writing the real warehouse."""
from __future__ import annotations

import time
from unittest import mock

import httpx
import pytest
from legatura.transforms.tokens import Signer
from legatura.warehouse import db

from tests.sending import SECRET, LinksServer, free_port, queue_emails

pytestmark = pytest.mark.subprocess

@pytest.fixture
def links(tmp_path):
    server = LinksServer(tmp_path)
    con = db.connect(server.warehouse)
    db.migrate(con)
    queue_emails(con, 2)
    con.close()
    server.start()
    yield server
    server.stop()


def unsubscribe_token(message_id="m000000", address="donor0@example.org", language="ro") -> str:
    return Signer(SECRET, "unsubscribe", 60).sign(message_id, address, "email", language)


def test_links_one_click_post_as_gmail_sends_it_records_the_opt_out_at_once(links):
    token = unsubscribe_token()
    # exactly what Gmail sends (RFC 8058 section 3.1): no cookies, no page, one POST
    response = httpx.post(f"{links.url}/u/{token}", content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert links.query("SELECT channel, address, status, source, message_id FROM consent_events "
                       "WHERE source LIKE 'unsubscribe%'") == [
        ("email", "donor0@example.org", "opted_out", "unsubscribe:one-click", "m000000")]
    assert links.query("SELECT status FROM consents WHERE address = 'donor0@example.org'") == [("opted_out",)]
    assert "no-store" in response.headers["cache-control"]


def test_links_get_shows_one_button_in_the_contacts_language_and_writes_nothing(links):
    for language, words in (("ro", "Dezabonează-mă"), ("en", "Unsubscribe me")):
        response = httpx.get(f"{links.url}/u/{unsubscribe_token(language=language)}")
        assert response.status_code == 200
        page = response.text
        assert f'<html lang="{language}">' in page and words in page
        assert page.count("<button") == 1 and '<form method="post">' in page
        assert "donor0@example.org" not in page and "d***@example.org" in page
    assert links.query("SELECT count(*) FROM consent_events WHERE source LIKE 'unsubscribe%'") == [(0,)]
    # the page's button is the same one-click POST
    assert httpx.post(f"{links.url}/u/{unsubscribe_token()}",
                      data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert links.query("SELECT status FROM consents WHERE address = 'donor0@example.org'") == [("opted_out",)]


def test_links_forged_altered_expired_or_wrong_purpose_tokens_get_400_and_write_nothing(links):
    good = unsubscribe_token()
    altered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    forged = Signer("another-secret-another-secret", "unsubscribe", 60).sign("m000000", "donor0@example.org",
                                                                             "email", "ro")
    with mock.patch("time.time", return_value=time.time() - 61 * 86400):
        expired = unsubscribe_token()
    confirm_token = Signer(SECRET, "confirm", 60).sign("m000000", "donor0@example.org", "email", "ro")
    for token in (altered, forged, expired, confirm_token, "garbage"):
        for method in ("GET", "POST"):
            response = httpx.request(method, f"{links.url}/u/{token}", content=b"List-Unsubscribe=One-Click",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert response.status_code == 400, (token, method)
            assert "nu este valid" in response.text
    assert httpx.get(f"{links.url}/c/{good}").status_code == 400
    assert links.query("SELECT count(*) FROM consent_events WHERE source <> 'test'") == [(0,)]


def test_links_click_while_the_warehouse_is_busy_is_kept_and_applied_by_the_next_send(links, tmp_path):
    from legatura.flows.config import load_settings
    from legatura.flows.sending import SendOptions, deliver

    settings = load_settings(links.config, env={})
    with db.write_lock(links.warehouse, "test: a long send"):
        started = time.monotonic()
        response = httpx.post(f"{links.url}/u/{unsubscribe_token()}", content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200 and time.monotonic() - started < 5
    assert links.query("SELECT count(*) FROM consent_events WHERE source LIKE 'unsubscribe%'") == [(0,)]
    con = db.connect(links.warehouse)
    try:
        summary = deliver(con, settings.model_copy(update={"smtp": settings.smtp.model_copy(
            update={"port": free_port(), "connect_tries": 1})}), SendOptions())
        assert summary.suppressed == 1
        assert con.execute("SELECT message_id, status, suppression_reason FROM messages ORDER BY 1").fetchall() == [
            ("m000000", "suppressed", "opted_out"), ("m000001", "queued", None)]
    finally:
        con.close()


def test_links_confirmation_records_the_opt_in_with_its_time_and_message(links):
    token = Signer(SECRET, "confirm", 60).sign("c-1", "new@example.org", "email", "en")
    first = httpx.get(f"{links.url}/c/{token}")
    assert first.status_code == 200 and "Subscription confirmed" in first.text
    again = httpx.post(f"{links.url}/c/{token}")
    assert again.status_code == 200
    rows = links.query("SELECT address, status, source, message_id, recorded_at FROM consent_events "
                       "WHERE source = 'confirmation'")
    assert [r[:4] for r in rows] == [("new@example.org", "opted_in", "confirmation", "c-1")]
