"""Checks of configuration values: each returns the value or raises ValueError with the reason in a few words.

Pydantic runs them on the values a file or the environment gives (defaults are trusted), so a bad value
stops every command at start-up with the key named, instead of quarantining files one by one later.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("no time zone has this name; use an IANA name such as Europe/Bucharest") from None
    return value


def language(value: str) -> str:
    from babel import localedata

    if not re.fullmatch(r"[a-z]{2,3}", value) or not localedata.exists(value):
        raise ValueError("not a language code; use a two-letter code such as ro or en")
    return value


def currency(value: str) -> str:
    from babel.numbers import list_currencies

    if value.upper() not in list_currencies():
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. RON, EUR)")
    return value.upper()


def fx(rates: dict) -> dict:
    for code, rate in rates.items():
        currency(code)
        if not rate > 0:
            raise ValueError(f"the rate of {code} must be greater than 0")
    return {code.upper(): rate for code, rate in rates.items()}


def positive(value):
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


def email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address ({exc})") from None
    return value


def optional_email(value: str) -> str:
    return email(value) if value else value


def url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
        raise ValueError("not an http(s):// URL")
    return value


def optional_url(value: str) -> str:
    return url(value) if value else value


def phone(value: str) -> str:
    import phonenumbers

    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(value, "RO"))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise ValueError(f"{value!r} is not a phone number (e.g. +40316301234)")
    return value


def optional_phone(value: str) -> str:
    return phone(value) if value else value


def phone_numbers(values: list[str]) -> list[str]:
    for value in values:
        phone(value)
    return values


def domains(values: list[str]) -> list[str]:
    for value in values:
        if not re.fullmatch(r"(?i)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+", value.strip()):
            raise ValueError(f"{value!r} is not a mail domain (e.g. asociatia-exemplu.ro)")
    return values


def send_time(value: str) -> str:
    if value not in ("best", "now") and not HH_MM.fullmatch(value):
        raise ValueError("use \"best\", \"now\" or a local time HH:MM")
    return value


def send_window(value: str) -> str:
    start, _, end = value.partition("-")
    if not (HH_MM.fullmatch(start) and HH_MM.fullmatch(end)) or start >= end:
        raise ValueError("use HH:MM-HH:MM with the start before the end, e.g. 09:00-18:00")
    return value


def cron(value: str) -> str:
    from cronsim import CronSim, CronSimError

    try:
        CronSim(value, datetime(2026, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"not a cron expression ({exc})") from None
    return value


def holidays_country(value: str) -> str:
    import holidays

    if value not in holidays.list_supported_countries():
        raise ValueError(f"holidays_country {value!r}: the holidays package knows no such country "
                         "(use an ISO 3166 code such as RO)")
    return value
