"""The MIME builder: the bytes it writes parse back to what was rendered, and no header can be injected."""
from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest
from legatura.transforms.mime import AddressRefused, MimeBuilder, checked_address, encoded, header_text, mailbox


def build(**overrides) -> bytes:
    builder = MimeBuilder("Asociația Exemplu", "contact@asociatia-exemplu.ro", "raspunsuri@asociatia-exemplu.ro")
    values = {"message_id": "abc@asociatia-exemplu.ro", "to": mailbox("Ana Pop", "ana@example.org"),
              "subject": "Mulțumim", "now": datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc),
              "text": "Dragă Ana,\nmulțumim! " + "ș" * 120 + "\n. o linie cu punct\n", "html": "<p>Dragă Ana</p>",
              "unsubscribe": ("https://x.ro/u/T", "mailto:contact@asociatia-exemplu.ro?subject=unsubscribe-T")}
    return builder.build(**{**values, **overrides})


def test_mime_round_trips_through_the_standard_parser():
    raw = build()
    mail = message_from_bytes(raw, policy=policy.SMTP)
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert str(mail["Subject"]) == "Mulțumim" and mail["Message-ID"] == "<abc@asociatia-exemplu.ro>"
    assert mail["Date"] == "Tue, 01 Dec 2026 09:00:00 +0000"
    assert mail["Reply-To"] == "raspunsuri@asociatia-exemplu.ro"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == "Dragă Ana,\nmulțumim! " + "ș" * 120 + "\n. o linie cu punct\n"
    assert mail.get_body(("html",)).get_content().strip() == "<p>Dragă Ana</p>"
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_mime_text_only_and_transactional_have_no_alternative_and_no_list_headers():
    mail = message_from_bytes(build(html=None, unsubscribe=None), policy=policy.SMTP)
    assert mail.get_content_type() == "text/plain" and "List-Unsubscribe" not in mail


@pytest.mark.parametrize("hostile", ["Ana\r\nBcc: x@evil.example", "Ana\nX-Injected: 1", "Ana\x00\x1b[31m",
                                     "Ana\u2028Bcc: x@evil.example"])
def test_mime_control_characters_never_reach_a_header(hostile):
    raw = build(subject=hostile, to=mailbox(hostile, "ana@example.org"))
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line and line[:1] not in b" \t"]
    assert b"Bcc" not in names and b"X-Injected" not in names
    assert header_text(hostile).startswith("Ana") and "\n" not in header_text(hostile)


def test_mime_encoded_words_are_short_and_decode_back():
    value = "Țară și Ștefan " * 10
    words = encoded(value).split("\r\n ")
    assert all(len(w) <= 75 for w in words)
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(encoded(value)))) == value
    assert encoded("=?utf-8?q?x?=") != "=?utf-8?q?x?="       # a look-alike encoded word is encoded itself


@pytest.mark.parametrize("address, reason", [("", "no address"), ("a@b@c.ro", "not valid"), ("ana@exa mple.ro", "characters"),
                                             ("ana@localhost", "not valid"), ("ana@example.org>,x@evil.example", "characters")])
def test_mime_checked_address_refuses_with_the_reason(address, reason):
    with pytest.raises(AddressRefused, match=reason):
        checked_address(address)


def test_mime_checked_address_keeps_good_ones_and_converts_idn():
    assert checked_address(" Ana.Pop+ong@Example.ORG ") == "Ana.Pop+ong@example.org"
    assert checked_address("ion@bücher.de") == "ion@xn--bcher-kva.de"
