"""Configuration: one settings object, loaded once from legatura.toml and LEGATURA_* env, passed down."""
from __future__ import annotations

import os
import tomllib
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from legatura.flows import config_checks as check
from legatura.flows import config_sources as sources
from legatura.flows.processes import user_state_dir
from legatura.transforms.errors import LegaturaError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_FILE = "legatura.toml"


class ConfigError(LegaturaError):
    """The configuration file or environment holds a value legatura cannot use."""


class Section(BaseModel):
    """A [section] of legatura.toml: an unknown key is refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


Positive = Annotated[float, Field(gt=0)]         # a duration, size or rate above zero
Count = Annotated[int, Field(ge=1)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Organisation(Section):
    name: str = "Asociația Exemplu"
    email: str = "contact@asociatia-exemplu.ro"
    domains: list[str] = ["asociatia-exemplu.ro"]
    phone_numbers: list[str] = ["+40316301234"]
    facebook_page: str = "Asociația Exemplu"
    timezone: str = "Europe/Bucharest"
    language: str = "ro"
    public_url: str = "https://asociatia-exemplu.ro/legatura"

    _timezone = field_validator("timezone")(check.timezone)
    _language = field_validator("language")(check.language)
    _email = field_validator("email")(check.email)
    _url = field_validator("public_url")(check.url)
    _phones = field_validator("phone_numbers")(check.phone_numbers)
    _domains = field_validator("domains")(check.domains)


class Warehouse(Section):
    path: Path = Path("warehouse/legatura.duckdb")
    snapshot: Path = Path("warehouse/analytics.duckdb")
    snapshot_min_seconds: NonNegativeFloat = 0   # under watch/serve: publish the snapshot at most this often
    lock_timeout_seconds: Positive = 600.0        # how long a writer waits for another writer

    @model_validator(mode="after")
    def _apart(self):
        if self.path == self.snapshot:
            raise ValueError("warehouse.snapshot must be another file than warehouse.path")
        return self


class Landing(Section):
    path: Path = Path("landing")
    stable_seconds: NonNegativeFloat = 1.0       # a landed file must keep its size this long before ingest
    complete_wait_seconds: NonNegativeFloat = 300.0  # how long watch waits for a cut CSV/JSONL to end in a newline
    max_member_mb: Positive = 512                 # an archive member larger than this is quarantined
    max_compression_ratio: Positive = 200         # an archive member inflating more than this is quarantined


class Templates(Section):
    path: Path = Path("templates")


class Money(Section):
    base_currency: str = "RON"
    # units of base currency per unit, read as exact decimals (4.97 in TOML is 4.97, never a float's 4.9699…)
    fx: dict[str, Decimal] = {"EUR": Decimal("4.97")}

    @field_validator("fx")
    @classmethod
    def _exact_rates(cls, fx: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, rate in fx.items():
            if not rate.is_finite():
                raise ValueError(f"the rate of {currency} must be a number, not {rate}")
            if -rate.as_tuple().exponent > 8:
                raise ValueError(f"the rate of {currency} ({rate}) has more than 8 decimals")
        return fx

    _base = field_validator("base_currency")(check.currency)
    _fx = field_validator("fx")(check.fx)


class Segments(Section):
    major_donor_threshold: float = 5000
    fiscal_year_start_month: int = Field(1, ge=1, le=12)

    _threshold = field_validator("major_donor_threshold")(check.positive)


class Compose(Section):
    frequency_cap: Count = 2
    frequency_window_days: Count = 7
    send_time: str = "best"               # best | now | HH:MM (local)
    send_window: str = "09:00-18:00"      # local working-day window when a contact has no best hour
    render_workers: int = 0               # processes rendering messages; 0 = one per core

    _send_time = field_validator("send_time")(check.send_time)
    _send_window = field_validator("send_window")(check.send_window)


class Smtp(Section):
    host: str = "127.0.0.1"
    port: Port = 25
    username: str = ""
    password: SecretStr = SecretStr("")
    security: Literal["none", "starttls", "tls"] = "none"
    concurrency: Count = 8
    rate_per_second: NonNegativeFloat = 50   # shared by all connections; 0: no limit
    max_attempts: Count = 5
    soft_bounce_limit: Count = 3
    from_name: str = ""                   # default: organisation.name
    reply_to: str = ""                    # default: organisation.email
    return_path: str = ""                 # default: organisation.email
    timeout_seconds: Positive = 30
    retry_base_seconds: NonNegativeFloat = 60   # backoff after a 4xx / lost connection: base, 2 base, 4 base, ...
    connect_tries: Count = 3              # a server that cannot be reached is tried this often ...
    connect_wait_seconds: NonNegativeFloat = 1   # ... waiting this long, doubling, in between
    batch_size: Count = 500               # messages claimed (and their outcomes written) per warehouse write
    tls_ca_file: str = ""                 # a private CA / self-signed certificate to trust (else the system's)

    _addresses = field_validator("reply_to", "return_path")(check.optional_email)


class Tracking(Section):
    sla_hours: Positive = 24
    attribution_days: Count = 7
    business_hours: bool = False          # count the SLA in working hours only
    holidays_country: str = "RO"
    workday_start: time = time(9, 0)      # working hours when business_hours is on
    workday_end: time = time(17, 0)
    reply_clock_skew_hours: NonNegativeFloat = 24   # an email reply naming our Message-ID counts even this early

    @model_validator(mode="after")
    def _working_day(self):
        if self.workday_start >= self.workday_end:
            raise ValueError(f"workday_start {self.workday_start:%H:%M} must be before workday_end "
                             f"{self.workday_end:%H:%M}")
        return self


class Tokens(Section):
    secret: SecretStr = SecretStr("")     # env LEGATURA_TOKENS__SECRET; signs unsubscribe links
    unsubscribe_days: Count = 60          # how long an unsubscribe / confirmation link stays valid


class Sms(Section):
    base_url: str = ""                    # a Twilio-compatible Messages API, e.g. https://api.twilio.com
    account_sid: str = ""
    from_number: str = ""
    rate_per_second: NonNegativeFloat = 10   # 0: no limit
    token: SecretStr = SecretStr("")      # env LEGATURA_SMS__TOKEN; also checks Twilio webhook signatures
    max_attempts: Count = 5               # a gateway answering 5xx / 429 is retried this often
    retry_base_seconds: NonNegativeFloat = 60   # backoff base (Retry-After wins when it says longer)
    timeout_seconds: Positive = 30
    price_per_segment: str = ""           # for the summary when the gateway reports no price, e.g. "0.045 EUR"

    _url = field_validator("base_url")(check.optional_url)
    _from = field_validator("from_number")(check.optional_phone)


class Forms(Section):
    confirm: bool = False                 # the forms preset's email consent needs a confirmation click (double opt-in)


class Letters(Section):
    path: Path = Path("outbox/letters")   # one printable HTML file per batch, its recipients list beside it


class Receive(Section):
    host: str = "127.0.0.1"
    port: Port = 8787
    public_url: str = ""                  # the URL Twilio and other senders use (a proxy rewrites the host)
    secret: SecretStr = SecretStr("")     # env LEGATURA_RECEIVE__SECRET; signs /events/<channel> requests
    max_connections: Count = 64
    request_timeout_seconds: Positive = 10

    _url = field_validator("public_url")(check.optional_url)


class Web(Section):
    host: str = "127.0.0.1"
    port: Port = 8788


class Serve(Section):
    ingest_every_minutes: Positive = 5
    segment_cron: str = "0 2 * * *"
    send_every_minutes: Positive = 1

    _cron = field_validator("segment_cron")(check.cron)


class Alerts(Section):
    staff_email: str = ""
    warn_before_hours: NonNegativeFloat = 4

    _email = field_validator("staff_email")(check.optional_email)


class Prefect(Section):
    mode: Literal["local-server", "ephemeral", "external"] = "local-server"   # external: use PREFECT_API_URL
    state_dir: Path = Field(default_factory=user_state_dir)   # the local server's home, pid and log
    startup_timeout_seconds: Positive = 120
    idle_minutes: NonNegativeFloat = 30   # the local server stops itself after this long unused (0: never)
    warm_start: bool = True   # commands that run flows fork a warm process with Prefect imported (flows/warm.py)


class Settings(BaseSettings):
    """Every setting of legatura (`legatura config` lists each key, its value and where it came from)."""

    model_config = SettingsConfigDict(
        env_prefix="LEGATURA_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    organisation: Organisation = Organisation()
    warehouse: Warehouse = Warehouse()
    landing: Landing = Landing()
    templates: Templates = Templates()
    money: Money = Money()
    segments: Segments = Segments()
    compose: Compose = Compose()
    smtp: Smtp = Smtp()
    tracking: Tracking = Tracking()
    tokens: Tokens = Tokens()
    sms: Sms = Sms()
    letters: Letters = Letters()
    forms: Forms = Forms()
    receive: Receive = Receive()
    web: Web = Web()
    serve: Serve = Serve()
    alerts: Alerts = Alerts()
    prefect: Prefect = Field(default_factory=Prefect)   # its state_dir follows XDG_STATE_HOME at load time
    mappings: dict[str, dict[str, Any]] = {}

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges env over the file itself (so tests can pass an env of their own)
        return (init_settings,)

    def today(self) -> date:
        """Today's calendar date in the organisation's timezone (the default as-of date)."""
        return datetime.now(ZoneInfo(self.organisation.timezone)).date()

    @property
    def own_email_domains(self) -> set[str]:
        return {d.strip().lower() for d in self.organisation.domains}


SECRETS = {("smtp", "password"), ("tokens", "secret"), ("sms", "token"), ("receive", "secret")}


def _read_file(path: Path, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist (from --config or LEGATURA_CONFIG)")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for section, key in sorted(SECRETS):
        if key in (data.get(section) or {}):
            raise ConfigError(f"{path}: [{section}] {key} must not be in the file; "
                              f"set env LEGATURA_{section.upper()}__{key.upper()} instead")
    return data


def load_settings(config_path: str | os.PathLike | None = None, env: dict | None = None) -> Settings:
    """Read legatura.toml (or --config / LEGATURA_CONFIG) and the LEGATURA_* environment."""
    return load_with_origins(config_path, env)[0]


def load_with_origins(config_path: str | os.PathLike | None = None,
                      env: dict | None = None) -> tuple[Settings, dict[str, str]]:
    """The settings and, for every key given, where it came from (the file's path or `env NAME`)."""
    env = os.environ if env is None else env
    explicit = config_path or env.get("LEGATURA_CONFIG")
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    data = _read_file(path, bool(explicit))
    from_env, env_names = sources.from_env(env)
    origins = {**sources.origins_of(data, str(path)), **env_names}
    try:
        settings = Settings(**sources.merge(data, from_env))
    except ValidationError as exc:
        raise ConfigError(sources.explain(exc, origins, Settings)) from None
    _check_mappings(settings, origins)
    if settings.tracking.business_hours:   # the holidays package is imported only when the SLA needs it
        try:
            check.holidays_country(settings.tracking.holidays_country)
        except ValueError as exc:
            raise ConfigError(f"{sources.origin_of('tracking.holidays_country', origins)}: setting "
                              f"tracking.{exc}") from None
    if explicit and path.parent != Path("."):
        settings = _relative_to(settings, path.parent, from_env)
    return settings, origins


def _check_mappings(settings: Settings, origins: dict[str, str]) -> None:
    """Every [mappings.<name>] is checked at start-up: a broken one is a config error, not a quarantined file."""
    if not settings.mappings:
        return
    import re

    from legatura.transforms.channels import PRESETS
    from legatura.transforms.channels.mapping import MappingError, validate

    for name, section in settings.mappings.items():
        source = sources.origin_of(f"mappings.{name}", origins)
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ConfigError(f"{source}: [mappings.{name}]: a mapping's name is also its channel and "
                              "landing/<name>/ folder: use letters, digits, _ and - only")
        if name in PRESETS:
            raise ConfigError(f"{source}: [mappings.{name}]: {name} is a preset's name; call the mapping "
                              "something else (its name is the channel --channel and landing/<name>/ use)")
        try:
            validate(name, section)
        except MappingError as exc:
            raise ConfigError(f"{source}: {exc}") from None


PATH_KEYS = (("warehouse", "path"), ("warehouse", "snapshot"), ("landing", "path"), ("templates", "path"),
             ("prefect", "state_dir"), ("letters", "path"))


def _relative_to(settings: Settings, folder: Path, from_env: dict) -> Settings:
    """Relative paths of a config file elsewhere are relative to that file's folder (env values: to cwd)."""
    updates: dict[str, dict[str, Path]] = {}
    for section, key in PATH_KEYS:
        value = getattr(getattr(settings, section), key)
        if not value.is_absolute() and key not in from_env.get(section, {}):
            updates.setdefault(section, {})[key] = folder / value
    return settings.model_copy(update={
        section: getattr(settings, section).model_copy(update=values) for section, values in updates.items()})
