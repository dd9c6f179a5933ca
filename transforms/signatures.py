"""Webhook signatures, pure: Twilio's X-Twilio-Signature and legatura's own X-Legatura-Signature for events.

Twilio (https://www.twilio.com/docs/usage/security#validating-requests, as twilio-python's RequestValidator):
base64(HMAC-SHA1(auth token, URL + every POST parameter's name and value, names sorted)), where URL is the
full public URL Twilio requested, query string included. A name sent more than once contributes each of its
values, sorted. Like RequestValidator, the URL counts with and without its scheme's default port.

Events: `X-Legatura-Timestamp: <unix seconds>` and
`X-Legatura-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`. The timestamp is inside
what is signed, so it cannot be changed to replay an old request; one more than 5 minutes from the
receiver's clock is refused (a replay within the window is answered as the duplicate it is, by event id).
"""
from __future__ import annotations

import base64
import hmac
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

EVENT_WINDOW_SECONDS = 300
DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's signature of a request to `url` with these form parameters (base64 of HMAC-SHA1)."""
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    signed = url + "".join(name + value for name in sorted(by_name) for value in sorted(by_name[name]))
    return base64.b64encode(hmac.digest(token.encode("utf-8"), signed.encode("utf-8"), "sha1")).decode("ascii")


def url_port_variants(url: str) -> list[str]:
    """`url` as given and with its scheme's default port added or removed (Twilio may sign either)."""
    return list(_port_variants(url))


@lru_cache(maxsize=256)  # the receiver asks about the same few URLs for every request
def _port_variants(url: str) -> tuple[str, ...]:
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    if default is None or not parts.hostname:
        return (url,)
    try:
        port = parts.port
    except ValueError:
        return (url,)
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    if port is None:
        other = f"{userinfo}{host}:{default}"
    elif port == default:
        other = userinfo + host.rsplit(":", 1)[0]
    else:
        return (url,)
    return url, urlunsplit(parts._replace(netloc=other))


def twilio_signature_valid(token: str, url: str, params: list[tuple[str, str]], signature: str) -> bool:
    """Whether `signature` (the X-Twilio-Signature header) is Twilio's for this URL and parameters."""
    given = signature.strip().encode("latin-1", "replace")
    return any(hmac.compare_digest(twilio_signature(token, variant, params).encode("ascii"), given)
               for variant in _port_variants(url))


def event_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Legatura-Signature value of an event body sent at `timestamp` (unix seconds, as text)."""
    signed = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.digest(secret.encode("utf-8"), signed, "sha256").hex()


def event_signature_problem(secret: str, timestamp: str | None, signature: str | None, body: bytes,
                            now: float, window: float = EVENT_WINDOW_SECONDS) -> str | None:
    """Why an event's signature headers do not authenticate `body` at time `now`; None when they do."""
    if not timestamp or not signature:
        missing = " and ".join(name for name, value in (("X-Legatura-Timestamp", timestamp),
                                                         ("X-Legatura-Signature", signature)) if not value)
        return f"no {missing} header: sign the request with the receiver's secret (see the README)"
    timestamp = timestamp.strip()
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "X-Legatura-Timestamp must be the time of sending in unix seconds, e.g. 1764583200"
    skew = now - int(timestamp)
    if abs(skew) > window:
        return (f"X-Legatura-Timestamp is {abs(skew):.0f} s {'old' if skew > 0 else 'ahead'}, outside the "
                f"{window:.0f}-second window: a replayed request, or a sender whose clock is wrong")
    expected = event_signature(secret, timestamp, body).encode("ascii")
    if not hmac.compare_digest(expected, signature.strip().encode("latin-1", "replace")):
        return "X-Legatura-Signature does not match the body: wrong secret, or the body was changed"
    return None
