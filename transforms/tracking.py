"""Response-time helpers: auto-reply detection, the business-hours working calendar, readable durations."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import polars as pl

# A reply naming our Message-ID came after our message whatever its clock says; a Date header
# up to a day early still counts (a wrong time zone is at most 14 h off, plus a late sent_at).

# RFC 3834 Auto-Submitted, the de-facto X-Autoreply / X-Autorespond, and RFC 2076 Precedence
_PRECEDENCE_AUTOMATIC = {"auto_reply", "bulk", "junk", "list"}
_FLAG_HEADERS = ("x-autoreply", "x-autorespond")
_FALSE_FLAGS = {"", "no", "false", "0", "off"}


def is_auto_reply(headers: Mapping[str, str]) -> bool:
    """True when the mail headers mark an automatic message (out-of-office, autoresponder, bulk)."""
    items = headers.items() if hasattr(headers, "items") else headers
    seen: dict[str, list[str]] = {}
    for name, value in items:
        seen.setdefault(str(name).strip().lower(), []).append(str(value))

    def tokens(name: str) -> list[str]:
        # a header value may carry parameters ("auto-replied; owner-email=...") and folding
        return [v.split(";", 1)[0].strip().strip('"').lower() for v in seen.get(name, [])]

    if any(t != "no" for t in tokens("auto-submitted")):
        return True
    if any(t not in _FALSE_FLAGS for name in _FLAG_HEADERS for t in tokens(name)):
        return True
    return any(t in _PRECEDENCE_AUTOMATIC for t in tokens("precedence"))


class CalendarError(Exception):
    """The business-hours calendar cannot be built from the configured country or time zone."""


@dataclass(frozen=True)
class WorkingHours:
    """The hours in which the SLA clock runs when tracking.business_hours is on."""

    starts: time = time(9, 0)
    ends: time = time(17, 0)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))  # Monday = 0

    @property
    def seconds_per_day(self) -> int:
        return (self.ends.hour * 3600 + self.ends.minute * 60) - (self.starts.hour * 3600 + self.starts.minute * 60)


def calendar_span_days(sla_hours: float, hours: WorkingHours = WorkingHours()) -> int:
    """Calendar days after a request within which its business-hours deadline surely falls."""
    working_days = math.ceil(sla_hours * 3600 / max(hours.seconds_per_day, 1))
    weeks = math.ceil((working_days + 1) / max(len(hours.weekdays), 1))
    return weeks * 7 + 21   # three weeks of slack for holiday clusters (Christmas to Epiphany)


def working_calendar(
    first: date, last: date, timezone: str, country: str, hours: WorkingHours = WorkingHours()
) -> pl.DataFrame:
    """One row per working day in [first, last]: local working hours as UTC instants, and the
    working seconds of all earlier rows (the running clock the SLA deadline is counted on).

    Weekends (outside `hours.weekdays`) and the country's public holidays (the `holidays`
    package, e.g. "RO" with Orthodox Easter and Pentecost) are not working days.
    """
    schema = {"day": pl.Date, "starts_at": pl.Datetime("us", "UTC"), "ends_at": pl.Datetime("us", "UTC"),
              "worked_before_seconds": pl.Int64}
    if last < first:
        return pl.DataFrame(schema=schema)
    try:
        public = holidays.country_holidays(country, years=range(first.year, last.year + 1))
    except NotImplementedError:
        raise CalendarError(
            f"tracking.holidays_country {country!r} is not a country the holidays package knows; "
            "use an ISO 3166 code such as RO (env LEGATURA_TRACKING__HOLIDAYS_COUNTRY)") from None
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"organisation.timezone {timezone!r} is not an IANA time zone; use e.g. Europe/Bucharest "
            "(env LEGATURA_ORGANISATION__TIMEZONE)") from None
    days = pl.DataFrame({"day": pl.date_range(first, last, "1d", eager=True)})

    def instant(at: time) -> pl.Expr:
        local = pl.col("day").cast(pl.Datetime("us")) + pl.duration(hours=at.hour, minutes=at.minute)
        return (local.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC"))

    worked = (pl.col("ends_at") - pl.col("starts_at")).dt.total_seconds()
    return (
        days.filter(
            (pl.col("day").dt.weekday() - 1).is_in(sorted(hours.weekdays)),
            ~pl.col("day").is_in(sorted(public.keys())),
        )
        .with_columns(starts_at=instant(hours.starts), ends_at=instant(hours.ends))
        .drop_nulls()
        .with_columns(worked_before_seconds=(worked.cum_sum() - worked).cast(pl.Int64))
        .select(list(schema))
    )


def describe_seconds(seconds: float | None) -> str:
    """A duration as a person says it: '45 s', '12 min', '3 h 20 min', '2 d 4 h'."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours_, minutes = divmod(minutes, 60)
    if hours_ < 24:
        return f"{hours_} h {minutes} min" if minutes else f"{hours_} h"
    days, hours_ = divmod(hours_, 24)
    return f"{days} d {hours_} h" if hours_ else f"{days} d"
