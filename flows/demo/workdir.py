"""The demo's working folder: made (or cleared) only where a demo made it, its legatura.toml, its token
secret, its templates, and an environment in which no LEGATURA_* setting of the user's applies."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.errors import LegaturaError

MARKER = ".legatura-demo"
WEB_PORT = 8788                                          # `legatura web`'s default: the links in the demo mail


class DemoError(LegaturaError):
    """The demo cannot run in the folder it was given."""


DEMO_CONFIG = """\
# legatura demo: a self-contained working folder written by `legatura demo` (a rerun rewrites it).
# Use it with any command from inside this folder (`cd {folder} && legatura segment --as-of {as_of}`)
# or from anywhere with `legatura --config {config} ...`. Every key is also settable as env
# LEGATURA_<SECTION>__<KEY>; secrets (SMTP password, token secret, SMS token) come from env only.

[organisation]
name = {name}
email = {email}                    # From: of our mail and staff alerts
domains = {domains}                # mail from/to these is the NGO's own: decides direction
phone_numbers = {phones}           # the NGO's own SMS numbers
facebook_page = {page}             # sender name of the page in Facebook exports
timezone = {tz}                    # naive timestamps are local to this
language = {language}              # default message language
public_url = "http://127.0.0.1:{web_port}"   # base of unsubscribe links: `legatura web` on this machine

[warehouse]
path = "warehouse/legatura.duckdb"        # the live warehouse (one writer at a time)
snapshot = "warehouse/analytics.duckdb"   # read-only copy for analysts, replaced after each run

[landing]
path = "landing"                          # landing/<channel>/ is the inbox

[templates]
path = "templates"                        # one folder per campaign

[letters]
path = "outbox/letters"                   # printable letters, one HTML file per batch

[money]
base_currency = "RON"
fx = {{ EUR = {eur} }}                      # units of base currency per unit

[segments]
major_donor_threshold = {major:g}         # in base currency, last 12 months, net
fiscal_year_start_month = 1

[compose]
frequency_cap = 2                         # marketing messages per contact ...
frequency_window_days = 7                 # ... per rolling window, across channels
send_time = "now"                         # the demo sends at once; the default "best" waits for each contact's hour

[smtp]
host = "127.0.0.1"
port = 2525                               # while the demo runs, its own SMTP sink (a free port); nothing leaves
security = "none"                         # this machine: the mail is kept in outbox/mail/*.eml

[web]
port = {web_port}                             # `legatura web` serves the unsubscribe links of the demo's mail

[tracking]
sla_hours = {sla:g}                           # an inbound request should be answered within this
attribution_days = 7
"""


def prepare_workdir(workdir: Path) -> Path:
    """Create the demo folder, or clear what an earlier demo generated there; refuse any other folder."""
    workdir = workdir.resolve()
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        raise DemoError(f"{workdir} exists and was not made by `legatura demo` (no {MARKER} file); "
                        "remove it or run the demo in another folder")
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("landing", "warehouse", "templates", "outbox"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    for name in ("legatura.toml", "tokens.secret"):
        (workdir / name).unlink(missing_ok=True)
    (workdir / MARKER).write_text("made by `legatura demo`; rerunning the demo clears this folder\n")
    return workdir


def write_demo_config(workdir: Path, as_of: date) -> Path:
    """legatura.toml for the demo folder: every documented key, paths relative to the folder."""
    from legatura.flows.config import Money, Organisation, Segments, Tracking

    org, money, segments, tracking = Organisation(), Money(), Segments(), Tracking()
    q = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731  (a JSON string is a TOML basic string)
    path = workdir / "legatura.toml"
    path.write_text(DEMO_CONFIG.format(
        folder=workdir.name, config=path, as_of=as_of, name=q(org.name), email=q(org.email),
        domains=q(org.domains), phones=q(org.phone_numbers), page=q(org.facebook_page), tz=q(org.timezone),
        language=q(org.language), web_port=WEB_PORT, eur=money.fx.get("EUR", 4.97),
        major=segments.major_donor_threshold, sla=tracking.sla_hours,
    ), encoding="utf-8")
    return path


def write_token_secret(workdir: Path) -> tuple[str, Path]:
    """A random secret for this demo's links, kept (owner-only) so `legatura web` can check them later."""
    secret = secrets.token_urlsafe(32)
    path = workdir / "tokens.secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret, path


def demo_settings(workdir: Path, config: Path) -> Settings:
    """Load the demo's legatura.toml, with its paths inside the demo folder whatever the environment says."""
    from legatura.flows.config import load_settings

    with demo_environment(0, ""):
        settings = load_settings(config)
    return settings


@contextlib.contextmanager
def demo_environment(smtp_port: int, secret: str) -> Iterator[None]:
    """While the demo's flows run (they load the demo's legatura.toml themselves), no LEGATURA_* setting of
    the environment applies: no path may lead outside the demo folder, no SMTP server or SMS gateway of the
    user's may get the demo's generated people. Only the sink's port and the demo's token secret are set."""
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.upper().startswith("LEGATURA_")}
    if smtp_port:
        os.environ.update(LEGATURA_SMTP__HOST="127.0.0.1", LEGATURA_SMTP__PORT=str(smtp_port),
                          LEGATURA_TOKENS__SECRET=secret)
    try:
        yield
    finally:
        for name in [n for n in os.environ if n.upper().startswith("LEGATURA_")]:
            del os.environ[name]
        os.environ.update(saved)


def copy_templates(workdir: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "templates"
    if source.is_dir():
        shutil.copytree(source, workdir / "templates")
    else:
        (workdir / "templates").mkdir()
