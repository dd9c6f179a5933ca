"""Webhook signatures (pure): Twilio's published example, and the events scheme with its replay window."""
from __future__ import annotations

import base64
import hashlib
import hmac

from legatura.transforms.signatures import (
    event_signature,
    event_signature_problem,
    twilio_signature,
    twilio_signature_valid,
    url_port_variants,
)

from tests.test_receive import twilio_sign

# Twilio's published example (twilio.com/docs/usage/security, TwilioDevEd/api-snippets signature_validation)
TWILIO_EXAMPLE_TOKEN = "12345"
TWILIO_EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_EXAMPLE_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675310"), ("Digits", "1234"),
                         ("From", "+14158675310"), ("To", "+18005551212")]
TWILIO_EXAMPLE_SIGNATURE = "GvWf1cFY/Q7PnoempGyD5oXAezc="


def test_twilio_signature_reproduces_twilios_published_example():
    assert twilio_signature(TWILIO_EXAMPLE_TOKEN, TWILIO_EXAMPLE_URL, TWILIO_EXAMPLE_PARAMS) == TWILIO_EXAMPLE_SIGNATURE
    # the tests' own writing-out of the algorithm, used to sign their requests, gives it too
    assert twilio_sign(TWILIO_EXAMPLE_TOKEN, TWILIO_EXAMPLE_URL, TWILIO_EXAMPLE_PARAMS) == TWILIO_EXAMPLE_SIGNATURE
    shuffled = list(reversed(TWILIO_EXAMPLE_PARAMS))  # the order on the wire does not matter: names are sorted
    assert twilio_signature_valid(TWILIO_EXAMPLE_TOKEN, TWILIO_EXAMPLE_URL, shuffled, TWILIO_EXAMPLE_SIGNATURE)


def test_twilio_signature_refuses_another_token_url_or_value():
    valid = TWILIO_EXAMPLE_SIGNATURE
    assert not twilio_signature_valid("54321", TWILIO_EXAMPLE_URL, TWILIO_EXAMPLE_PARAMS, valid)
    assert not twilio_signature_valid(TWILIO_EXAMPLE_TOKEN, "https://mycompany.com/myapp.php", TWILIO_EXAMPLE_PARAMS,
                                      valid)
    changed = [(k, "START" if k == "Digits" else v) for k, v in TWILIO_EXAMPLE_PARAMS]
    assert not twilio_signature_valid(TWILIO_EXAMPLE_TOKEN, TWILIO_EXAMPLE_URL, changed, valid)
    assert not twilio_signature_valid(TWILIO_EXAMPLE_TOKEN, TWILIO_EXAMPLE_URL, TWILIO_EXAMPLE_PARAMS, "")
    assert not twilio_signature_valid(TWILIO_EXAMPLE_TOKEN, TWILIO_EXAMPLE_URL, TWILIO_EXAMPLE_PARAMS, "é" * 28)


def test_twilio_signature_counts_the_url_with_and_without_its_default_port():
    assert url_port_variants("https://x.ro/a?b=1") == ["https://x.ro/a?b=1", "https://x.ro:443/a?b=1"]
    assert url_port_variants("https://x.ro:443/a") == ["https://x.ro:443/a", "https://x.ro/a"]
    assert url_port_variants("https://x.ro:8443/a") == ["https://x.ro:8443/a"]
    with_port = twilio_signature(TWILIO_EXAMPLE_TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                                 TWILIO_EXAMPLE_PARAMS)
    assert twilio_signature_valid(TWILIO_EXAMPLE_TOKEN, TWILIO_EXAMPLE_URL, TWILIO_EXAMPLE_PARAMS, with_port)


def test_twilio_signature_a_repeated_name_contributes_each_value_sorted():
    params = [("To", "+40"), ("MediaUrl", "b"), ("MediaUrl", "a")]
    data = "https://x.ro/s" + "MediaUrla" + "MediaUrlb" + "To+40"
    by_hand = base64.b64encode(hmac.new(b"t", data.encode(), hashlib.sha1).digest()).decode()
    assert twilio_signature("t", "https://x.ro/s", params) == by_hand


def test_event_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id": "e1"}'
    digest = hmac.new(b"s3cret", b"1764583200." + body, hashlib.sha256).hexdigest()
    assert event_signature("s3cret", "1764583200", body) == f"sha256={digest}"
    assert event_signature_problem("s3cret", "1764583200", f"sha256={digest}", body, now=1764583200 + 299) is None


def test_event_signature_problems_say_what_is_wrong():
    body = b'{"id": "e1"}'
    good = event_signature("s3cret", "1764583200", body)
    now = 1764583200.0

    def problem(timestamp, signature, data=body, at=now):
        return event_signature_problem("s3cret", timestamp, signature, data, at)

    assert problem(None, None).startswith("no X-Legatura-Timestamp and X-Legatura-Signature header")
    assert problem("1764583200", None).startswith("no X-Legatura-Signature header")
    assert problem("yesterday", good).startswith("X-Legatura-Timestamp must be the time of sending in unix seconds")
    assert problem("1764583200", good, at=now + 301) == (
        "X-Legatura-Timestamp is 301 s old, outside the 300-second window: a replayed request, "
        "or a sender whose clock is wrong")
    assert "ahead" in problem("1764583200", good, at=now - 400)
    assert problem("1764583200", good, data=body + b" ") == (
        "X-Legatura-Signature does not match the body: wrong secret, or the body was changed")
    assert problem("1764583201", good) is not None  # the timestamp is signed: moving it breaks the signature
    assert problem("1764583200", event_signature("other", "1764583200", body)) is not None
    assert problem("1764583200", good.upper()) is not None
