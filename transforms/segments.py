"""Pure helpers for segments: the parameters the SQL reads, fiscal-year arithmetic, segment names."""
from __future__ import annotations

import calendar
import re
from datetime import date

from legatura.flows.config import Settings

# the keys of the `settings` table that the segment_parameters view reads
PARAMETER_KEYS = (
    "segments.as_of",
    "segments.timezone",
    "segments.fiscal_year_start_month",
    "segments.major_donor_threshold",
    "segments.base_currency",
)

SEGMENT_NAME = re.compile(r"[a-z][a-z0-9_]*")


def segment_parameters(settings: Settings, as_of: date) -> dict[str, str]:
    """The `settings` rows (key -> text value) every segment, measure and retention view reads."""
    values = (
        as_of.isoformat(),
        settings.organisation.timezone,
        str(settings.segments.fiscal_year_start_month),
        repr(float(settings.segments.major_donor_threshold)),
        settings.money.base_currency.upper(),
    )
    return dict(zip(PARAMETER_KEYS, values, strict=True))


def segment_name_problem(stem: str) -> str | None:
    """Why a segment file's name cannot be a segment name, or None when it can."""
    if SEGMENT_NAME.fullmatch(stem):
        return None
    return (f"'{stem}' is not a segment name: use lower-case letters, digits and _ "
            "(starting with a letter), e.g. donor_bucharest.sql")


def fiscal_year(day: date, start_month: int) -> int:
    """The fiscal year `day` falls in, named by the calendar year in which that fiscal year starts."""
    return day.year if day.month >= start_month else day.year - 1


def fiscal_year_starts_on(day: date, start_month: int) -> date:
    """The first day of the fiscal year `day` falls in."""
    return date(fiscal_year(day, start_month), start_month, 1)


def months_before(day: date, months: int) -> date:
    """`day` minus whole months, clamped to the month's end (2026-03-31 minus 1 month = 2026-02-28), as DuckDB does."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
