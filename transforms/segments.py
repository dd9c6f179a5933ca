"""Pure helpers for segments: the parameters the SQL reads and what a segment may be named."""
from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
