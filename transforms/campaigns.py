"""Campaigns as folders: `templates/<campaign>/campaign.toml` read, validated and refused with file, key, reason."""
from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Literal

from legatura.transforms.errors import LegaturaError
from legatura.transforms.template_files import template_names
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CHANNELS = ("email", "sms", "letter")
TRIGGERS = ("donation.received", "volunteer.first_shift", "request.received", "partner.renewal_due")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
DELAY_RE = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
DELAY_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class CampaignError(LegaturaError):
    """A campaign folder or its campaign.toml cannot be used; the message names the file, key and reason."""


class Campaign(BaseModel):
    """One campaign.toml, as DESIGN's messaging contract describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""                      # the folder name (filled in by load_campaign)
    folder: Path = Path(".")
    description: str = ""
    purpose: Literal["marketing", "transactional"]
    segments: list[str] = []
    exclude_segments: list[str] = []
    audience_sql: str | None = None     # a file beside campaign.toml selecting contact_id
    channels: list[Literal["email", "sms", "letter"]] = Field(min_length=1)
    languages: list[str] = Field(min_length=1)
    subject: dict[str, str] = {}
    schedule: str | None = None         # cron, run by `legatura serve`
    trigger: Literal[TRIGGERS] | None = None  # type: ignore[valid-type]
    delay: str | None = None            # after the trigger: "30m", "2h", "1d"
    lookback_days: int = Field(14, ge=1, le=3660)   # a trigger fires for records of this many days back
    transliterate_sms: bool = False
    max_sms_segments: int = Field(3, ge=1, le=10)
    statement: bool = False             # give templates `statement`: last year's gifts, one by one

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for lang in value:
            if not LANGUAGE_RE.match(lang):
                raise ValueError(f"'{lang}' is not a two-letter language code such as 'ro' or 'en'")
        if len(set(value)) != len(value):
            raise ValueError("a language is listed twice")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value

    @field_validator("segments", "exclude_segments")
    @classmethod
    def _segment_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                raise ValueError(f"'{name}' is not a segment name (lower-case letters, digits, _)")
        return value

    @field_validator("delay")
    @classmethod
    def _delay(cls, value: str | None) -> str | None:
        if value is not None and not DELAY_RE.match(value):
            raise ValueError(f"'{value}' is not a delay such as \"30m\", \"2h\" or \"1d\"")
        return value

    @model_validator(mode="after")
    def _audience(self) -> Campaign:
        sources = [bool(self.segments), self.audience_sql is not None, self.trigger is not None]
        if sum(sources) != 1:
            raise ValueError("give exactly one audience: `segments`, `audience_sql` or `trigger`")
        if self.schedule and self.trigger:
            raise ValueError("a campaign has a `schedule` or a `trigger`, not both")
        if self.delay and not self.trigger:
            raise ValueError("`delay` needs a `trigger`")
        if "email" in self.channels:
            missing = [lang for lang in self.languages if not self.subject.get(lang, "").strip()]
            if missing:
                raise ValueError(f"[subject] needs a subject line for {', '.join(missing)} (email is a channel)")
        return self

    @property
    def delay_after(self) -> timedelta:
        if not self.delay:
            return timedelta(0)
        amount, unit = DELAY_RE.match(self.delay).groups()
        return timedelta(**{DELAY_UNITS[unit]: int(amount)})

    @property
    def is_marketing(self) -> bool:
        return self.purpose == "marketing"

    def template_names(self, channel: str, language: str) -> list[str]:
        """The template files (relative to the templates folder) a message on this channel needs."""
        return template_names(self.name, channel, language)


def campaign_names(templates: Path) -> list[str]:
    """Every campaign folder under the templates folder (folders starting with `_` hold shared pieces)."""
    if not templates.is_dir():
        return []
    return sorted(p.name for p in templates.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
                  and (p / "campaign.toml").exists())


def load_campaign(templates: Path, name: str) -> Campaign:
    """Read and validate `templates/<name>/campaign.toml`; CampaignError names the file, key and reason."""
    if not NAME_RE.match(name or ""):
        raise CampaignError(f"campaign name {name!r} must be lower-case letters, digits, '-' or '_'")
    folder = templates / name
    path = folder / "campaign.toml"
    if not path.is_file():
        known = ", ".join(campaign_names(templates)) or "none"
        raise CampaignError(f"{path}: no such campaign (campaigns in {templates}: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CampaignError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{path}: not valid TOML: {exc}") from None
    for key in ("name", "folder"):
        if key in data:
            raise CampaignError(f"{path}: key `{key}`: not allowed (the folder name is the campaign's name)")
    try:
        campaign = Campaign(**data, name=name, folder=folder)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(campaign)"
        message = first["msg"].removeprefix("Value error, ")
        raise CampaignError(f"{path}: key `{key}`: {message}") from None
    if campaign.audience_sql is not None:
        sql_path = (folder / campaign.audience_sql).resolve()
        if sql_path.parent != folder.resolve() or sql_path.suffix != ".sql":
            raise CampaignError(f"{path}: key `audience_sql`: must name a .sql file in {folder}")
        if not sql_path.is_file():
            raise CampaignError(f"{path}: key `audience_sql`: {sql_path.name} does not exist in {folder}")
    return campaign


def audience_query(campaign: Campaign) -> str:
    """The text of a campaign's audience SQL file: one SELECT giving contact_id (refused otherwise)."""
    path = campaign.folder / campaign.audience_sql
    sql = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
    stripped = re.sub(r"--[^\n]*", "", sql)
    if ";" in stripped:
        raise CampaignError(f"{path}: one SELECT statement only (found ';' inside)")
    if not re.match(r"^\s*(with|select)\b", stripped, re.IGNORECASE):
        raise CampaignError(f"{path}: must be a SELECT (or WITH ... SELECT) giving contact_id")
    return sql
