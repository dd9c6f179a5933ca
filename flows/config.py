"""Configuration: one settings object, loaded once from legatura.toml and LEGATURA_* env, passed down."""
from __future__ import annotations

import json
import os
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_FILE = "legatura.toml"


class ConfigError(Exception):
    """The configuration file or environment holds a value legatura cannot use."""


class Organisation(BaseModel):
    name: str = "Asociația Exemplu"
    email: str = "contact@asociatia-exemplu.ro"
    domains: list[str] = ["asociatia-exemplu.ro"]
    phone_numbers: list[str] = ["+40316301234"]
    facebook_page: str = "Asociația Exemplu"
    timezone: str = "Europe/Bucharest"
    language: str = "ro"
    public_url: str = "https://asociatia-exemplu.ro/legatura"


class Warehouse(BaseModel):
    path: Path = Path("warehouse/legatura.duckdb")
    snapshot: Path = Path("warehouse/analytics.duckdb")
    snapshot_min_seconds: float = 0       # under watch/serve: publish the snapshot at most this often
    lock_timeout_seconds: float = 600.0   # how long a writer waits for another writer


class Landing(BaseModel):
    path: Path = Path("landing")
    stable_seconds: float = 1.0           # a landed file must keep its size this long before ingest
    complete_wait_seconds: float = 300.0  # how long watch waits for a cut CSV/JSONL to end in a newline
    max_member_mb: float = 512            # an archive member larger than this is quarantined
    max_compression_ratio: float = 200    # an archive member inflating more than this is quarantined


class Templates(BaseModel):
    path: Path = Path("templates")


class Money(BaseModel):
    base_currency: str = "RON"
    fx: dict[str, float] = {"EUR": 4.97}


class Segments(BaseModel):
    major_donor_threshold: float = 5000
    fiscal_year_start_month: int = Field(1, ge=1, le=12)


class Compose(BaseModel):
    frequency_cap: int = 2
    frequency_window_days: int = 7
    send_time: str = "best"               # best | now | HH:MM (local)
    send_window: str = "09:00-18:00"      # local working-day window when a contact has no best hour


class Smtp(BaseModel):
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: SecretStr = SecretStr("")
    security: str = "none"                # none | starttls | tls
    concurrency: int = 8
    rate_per_second: float = 50
    max_attempts: int = 5
    soft_bounce_limit: int = 3
    from_name: str = ""                   # default: organisation.name
    reply_to: str = ""                    # default: organisation.email
    return_path: str = ""                 # default: organisation.email
    timeout_seconds: float = 30
    retry_base_seconds: float = 60        # backoff after a 4xx / lost connection: base, 2 base, 4 base, ...
    connect_tries: int = 3                # a server that cannot be reached is tried this often ...
    connect_wait_seconds: float = 1       # ... waiting this long, doubling, in between
    batch_size: int = 500                 # messages claimed (and their outcomes written) per warehouse write
    tls_ca_file: str = ""                 # a private CA / self-signed certificate to trust (else the system's)


class Tracking(BaseModel):
    sla_hours: float = 24
    attribution_days: int = 7
    business_hours: bool = False          # count the SLA in working hours only
    holidays_country: str = "RO"
    workday_start: time = time(9, 0)      # working hours when business_hours is on
    workday_end: time = time(17, 0)
    reply_clock_skew_hours: float = 24    # an email reply naming our Message-ID counts even this early


class Tokens(BaseModel):
    secret: SecretStr = SecretStr("")     # env LEGATURA_TOKENS__SECRET; signs unsubscribe links
    unsubscribe_days: int = 60            # how long an unsubscribe / confirmation link stays valid


class Sms(BaseModel):
    base_url: str = ""                    # a Twilio-compatible Messages API, e.g. https://api.twilio.com
    account_sid: str = ""
    from_number: str = ""
    rate_per_second: float = 10
    token: SecretStr = SecretStr("")      # env LEGATURA_SMS__TOKEN; also checks Twilio webhook signatures
    max_attempts: int = 5                 # a gateway answering 5xx / 429 is retried this often
    retry_base_seconds: float = 60        # backoff base (Retry-After wins when it says longer)
    timeout_seconds: float = 30
    price_per_segment: str = ""           # for the summary when the gateway reports no price, e.g. "0.045 EUR"


class Forms(BaseModel):
    confirm: bool = False                 # the forms preset's email consent needs a confirmation click (double opt-in)


class Letters(BaseModel):
    path: Path = Path("outbox/letters")   # one printable HTML file per batch, its recipients list beside it


class Receive(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8787
    public_url: str = ""                  # the URL Twilio and other senders use (a proxy rewrites the host)
    secret: SecretStr = SecretStr("")     # env LEGATURA_RECEIVE__SECRET; signs /events/<channel> requests
    max_connections: int = 64
    request_timeout_seconds: float = 10


class Web(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8788


class Serve(BaseModel):
    ingest_every_minutes: float = 5
    segment_cron: str = "0 2 * * *"
    send_every_minutes: float = 1


class Alerts(BaseModel):
    staff_email: str = ""
    warn_before_hours: float = 4


class Prefect(BaseModel):
    mode: str = "local-server"            # local-server | ephemeral | external (use PREFECT_API_URL)
    state_dir: Path = Path(".legatura")   # the local server's home, pid and log
    startup_timeout_seconds: float = 120
    idle_minutes: float = 30              # the local server stops itself after this long unused (0: never)


class Settings(BaseSettings):
    """Every setting of legatura; see legatura.toml.example for each key."""

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
    prefect: Prefect = Prefect()
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


def _from_env(env: dict) -> dict[str, Any]:
    """LEGATURA_<SECTION>__<KEY>=value as a nested dict; JSON values ([..], {..}) are decoded."""
    nested: dict[str, Any] = {}
    for name, value in env.items():
        if not name.upper().startswith("LEGATURA_") or "__" not in name or name.upper() == "LEGATURA_CONFIG":
            continue
        parts = name[len("LEGATURA_"):].lower().split("__")
        if value.strip()[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(config_path: str | os.PathLike | None = None, env: dict | None = None) -> Settings:
    """Read legatura.toml (or --config / LEGATURA_CONFIG) and the LEGATURA_* environment."""
    env = os.environ if env is None else env
    explicit = config_path or env.get("LEGATURA_CONFIG")
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    elif explicit:
        raise ConfigError(f"config file {path} does not exist (from --config or LEGATURA_CONFIG)")
    for secret_section in ("smtp", "tokens", "sms", "receive"):
        for key in ("password", "secret", "token"):
            if key in data.get(secret_section, {}):
                raise ConfigError(
                    f"{path}: [{secret_section}] {key} must not be in the file; "
                    f"set env LEGATURA_{secret_section.upper()}__{key.upper()} instead"
                )
    from_env = _from_env(env)
    data = _merge(data, from_env)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path if path.exists() else 'environment'}: setting {where}: {first['msg']} "
            f"(file key [{where.rsplit('.', 1)[0]}] or env LEGATURA_{where.upper().replace('.', '__')})"
        ) from exc
    if explicit and path.parent != Path("."):
        settings = _relative_to(settings, path.parent, from_env)
    return settings


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
