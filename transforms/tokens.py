"""Signed, expiring link tokens (itsdangerous): unsubscribe (/u/TOKEN) and sign-up confirmation (/c/TOKEN).

A token names the message it was sent in, the address and the channel (and the message's language, for
the page it opens); it is signed with `tokens.secret` (env LEGATURA_TOKENS__SECRET) and a purpose of its
own, so a confirmation token never unsubscribes and the other way round.
"""
from __future__ import annotations

from typing import NamedTuple

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from legatura.transforms.errors import LegaturaError

PURPOSES = {"unsubscribe": "legatura.unsubscribe", "confirm": "legatura.confirm"}
PATHS = {"unsubscribe": "u", "confirm": "c"}
UNSUBSCRIBE_MARKER = "%%UNSUBSCRIBE_URL%%"
CONFIRM_MARKER = "%%CONFIRM_URL%%"


class MissingTokenSecret(LegaturaError):
    """No secret to sign links with: tokens.secret (env LEGATURA_TOKENS__SECRET) is empty."""


class BadToken(LegaturaError):
    """A link token that is forged, altered, for another purpose or expired."""


class LinkToken(NamedTuple):
    message_id: str
    address: str
    channel: str
    language: str | None


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    if not secret:
        raise MissingTokenSecret("tokens.secret is not set: set env LEGATURA_TOKENS__SECRET to a long random "
                                 "string (it signs unsubscribe and confirmation links)")
    return URLSafeTimedSerializer(secret, salt=PURPOSES[purpose])


class Signer:
    """Makes and checks the tokens of one purpose with one secret (built once per run: cheap per message)."""

    def __init__(self, secret: str, purpose: str, max_age_days: float):
        self.purpose = purpose
        self.max_age = max_age_days * 86400
        self._serializer = _serializer(secret, purpose)

    def sign(self, message_id: str, address: str, channel: str, language: str | None = None) -> str:
        return self._serializer.dumps([message_id, address, channel, language])

    def check(self, token: str) -> LinkToken:
        """The token's contents; BadToken when it is forged, altered, of another purpose or expired."""
        try:
            value = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired:
            raise BadToken("this link has expired") from None
        except BadSignature:
            raise BadToken("this link is not valid") from None
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) for v in value[:3])):
            raise BadToken("this link is not valid")
        return LinkToken(*value)

    def url(self, public_url: str, token: str) -> str:
        return f"{public_url.rstrip('/')}/{PATHS[self.purpose]}/{token}"
