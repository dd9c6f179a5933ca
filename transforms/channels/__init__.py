"""Channel presets: each module's `parse(raw, source, settings) -> ParseResult` maps one export layout."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import polars as pl
from legatura.transforms.errors import LegaturaError

PRESETS = (
    "email", "stripe", "paypal", "mailchimp", "forms",
    "eventbrite", "twilio", "facebook", "volunteers", "partners", "events",
)

# record_no: the record's 0-based number in the file, like every frame row's (the loader accounts by it)
QUARANTINE_SCHEMA = {"record_no": pl.Int64, "line_or_key": pl.String, "reason": pl.String, "raw": pl.String}


class UnknownChannel(LegaturaError):
    """No preset or [mappings.<name>] section has this name."""


@dataclass
class ParseResult:
    """Canonical frames of one source file.

    `records_read` counts the file's own records (CSV rows, messages, JSON lines). Every frame
    row carries `record_no` (0-based record index) so the loader can count each record once as
    loaded or duplicate; `quarantine` has one row per rejected record (line_or_key, reason, raw).
    Frames are keyed by warehouse target: interactions, donations, refunds, shifts, partners,
    consents, suppressions, contacts (records that only tell who someone is).
    """

    channel: str
    records_read: int
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.height


def is_channel(name: str, mappings: dict) -> bool:
    """A preset or a [mappings.<name>] section of the user's."""
    return name in PRESETS or name in mappings


def preset_module(name: str):
    """The parser module of a preset (imported on first use)."""
    if name not in PRESETS:
        raise UnknownChannel(name)
    return importlib.import_module(f"legatura.transforms.channels.{name}")
