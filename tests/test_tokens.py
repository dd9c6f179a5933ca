"""Signed link tokens: they name message, address, channel; forged, altered, expired and wrong-purpose refused."""
from __future__ import annotations

import time
from unittest import mock

import pytest
from legatura.transforms.tokens import BadToken, MissingTokenSecret, Signer

SECRET = "0123456789abcdef0123456789abcdef"


def test_tokens_round_trip_and_url():
    signer = Signer(SECRET, "unsubscribe", 60)
    token = signer.sign("m1", "ana@example.org", "email", "ro")
    assert signer.check(token) == ("m1", "ana@example.org", "email", "ro")
    assert signer.url("https://x.ro/legatura/", token) == f"https://x.ro/legatura/u/{token}"
    assert all(c.isalnum() or c in "-_." for c in token)


def test_tokens_refused():
    signer = Signer(SECRET, "unsubscribe", 60)
    token = signer.sign("m1", "ana@example.org", "email", "ro")
    with pytest.raises(BadToken, match="not valid"):
        signer.check(token[:-2] + ("xy" if not token.endswith("xy") else "zz"))
    with pytest.raises(BadToken, match="not valid"):
        Signer("another secret, long enough!", "unsubscribe", 60).check(token)
    with pytest.raises(BadToken, match="not valid"):
        Signer(SECRET, "confirm", 60).check(token)
    with mock.patch("time.time", return_value=time.time() - 61 * 86400):
        old = signer.sign("m1", "ana@example.org", "email", "ro")
    with pytest.raises(BadToken, match="expired"):
        signer.check(old)


def test_tokens_need_a_secret():
    with pytest.raises(MissingTokenSecret, match="LEGATURA_TOKENS__SECRET"):
        Signer("", "unsubscribe", 60)
