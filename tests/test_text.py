"""transforms/text.py: the fast paths give exactly what the libraries they stand in for give."""
from __future__ import annotations

import json
import random

import phonenumbers
import polars as pl
from legatura.transforms.text import json_lines, normalise_phones


def _by_phonenumbers(values: list[str | None], region: str = "RO") -> list[str | None]:
    """What normalise_phones gave before its fast path: phonenumbers on every trimmed value."""
    out: list[str | None] = []
    for value in pl.Series(values, dtype=pl.String).str.strip_chars().to_list():
        if not value:
            out.append(None)
            continue
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            out.append(None)
            continue
        out.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                   if phonenumbers.is_possible_number(number) else None)
    return out


def _many_numbers() -> list[str | None]:
    rng = random.Random(9)
    digits = "0123456789"
    values: list[str | None] = []
    # every four-digit start of a Romanian number in E.164 (every type the metadata tells apart)
    for start in range(1000, 10000):
        values.append(f"+40{start}{rng.randrange(100000):05d}")
    # near misses: other lengths, a leading 0 (national prefix or not), the prefix written twice
    for _ in range(1500):
        length = rng.choice([1, 2, 5, 6, 7, 8, 10, 11, 12, 15, 16, 18])
        values.append("+40" + "".join(rng.choice(digits) for _ in range(length)))
        values.append("+400" + "".join(rng.choice(digits) for _ in range(8)))
        values.append("+40" + "0" * rng.randrange(1, 4) + "".join(rng.choice(digits) for _ in range(8)))
        values.append("0" + "".join(rng.choice(digits) for _ in range(9)))
    # other countries, other spellings of the same numbers, things that are no phone number at all
    values += ["+40 722 123 456", " +40722123456\t", "+40-722-123-456", "(+40) 722123456", "0040722123456",
               "+４０７２２１２３４５６", "＋40722123456", "+٤٠٧٢٢١٢٣٤٥٦", "+40722123456 ext. 12",
               "+40722123456x", "+40722I23456", "++40722123456", "+40722123456\n", "+4O722123456",
               "+33612345678", "+447911123456", "+12025550123", "+4072212345", "+407221234567", "0722123456",
               "722123456", "112", "+40", "+", "", "   ", None, "tel:+40722123456", "+40\u00a0722123456",
               "\u200b+40722123456", "+40 0722 123 456", "+40(0)722123456", "+3906123456789", "+390612345678"]
    rng.shuffle(values)
    return values


def test_phones_normalised_exactly_as_phonenumbers_gives_them():
    values = _many_numbers()
    got = normalise_phones(pl.Series("From", values, dtype=pl.String))
    assert got.name == "From" and got.dtype == pl.String
    expected = _by_phonenumbers(values)
    wrong = [(v, g, e) for v, g, e in zip(values, got.to_list(), expected) if g != e]
    assert wrong == []
    assert sum(e is not None for e in expected) > 9000 and sum(e is None for e in expected) > 1500


def test_phones_of_another_region_and_all_blank():
    values = ["+40722123456", "06 12 34 56 78", "0722123456", None]
    assert normalise_phones(pl.Series(values), region="FR").to_list() == _by_phonenumbers(values, "FR")
    assert normalise_phones(pl.Series("p", [None, " "], dtype=pl.String)).to_list() == [None, None]


def test_json_lines_decode_exactly_as_json_does():
    lines = [
        '{"MessageSid": "SM1", "From": "+40722123456", "NumMedia": 1}',
        '{"n": 123456789012345678901234567890}',          # past 64 bits: orjson would make it a float
        '{"n": -9223372036854775809, "m": 18446744073709551615}',
        '{"sid": "SM1234567890123456789012"}',            # 19 digits in a string
        '{"f": 1e400}', '{"f": NaN}', '{"f": -Infinity}', '{"s": "\\ud800"}',
        '{"a": 1, "a": 2}', '{"f": 0.1, "g": -0.0, "h": 2.5e-324, "i": 1E5}',
        '{"nested": {"list": [1, 2.5, "x", null, true]}}', '[1, 2]', '"text"', '  {"a": 1}  ',
        '{"a": 1} x', '{"a": 1}\x0c', '{"a": "\x01"}', '{"a": ', '{a: 1}', "{'a': 1}", '{"a": 1,}', '\x00',
        '{"ș": "Bună ziua, întrebarea"}', '{"emoji": "\\ud83d\\ude00"}',
    ]
    raw = ("\n".join(lines) + "\r\n\n   \n").encode("utf-8")
    found = json_lines(raw)
    assert len(found) == len(lines)
    for got, (number, text) in zip(found, enumerate(lines, start=1)):
        assert (got.line, got.text) == (number, text.strip("\r"))
        try:
            expected = json.loads(text)
        except ValueError as exc:
            assert got.value is None and got.error == f"not a complete JSON object ({exc.msg} at column {exc.colno})"
            continue
        assert got.error is None
        assert repr(got.value) == repr(expected)     # repr: 1 and 1.0, nan and nan, -0.0 and 0.0 told apart
