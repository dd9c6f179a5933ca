"""Helpers for the delivery tests and the bench: a real SMTP server in another process, queued messages."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import httpx

SINK = Path(__file__).with_name("smtp_sink.py")
SECRET = "test-secret-0123456789abcdef0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """aiosmtpd in its own process (tests/smtp_sink.py); what it accepted is read back from its log."""

    def __init__(self, folder: Path, *options: str, port: int | None = None, keep: bool = True):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log = folder / "received.jsonl"
        self.keep = folder / "kept"
        self.keeping = keep
        self.options = options
        self.process: subprocess.Popen | None = None

    def start(self) -> "SmtpServer":
        self.process = subprocess.Popen(
            [sys.executable, str(SINK), "--port", str(self.port), "--log", str(self.log), *(["--keep", str(self.keep)] if self.keeping else []),
             *self.options], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("ready"), line
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def received(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def messages(self):
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(self.keep.glob("*.eml"))]


def with_delivery(settings, port: int, **smtp):
    """Settings pointing at the test server, fast retries, a token secret."""
    smtp_values = {"host": "127.0.0.1", "port": port, "retry_base_seconds": 0, "connect_tries": 2,
                   "connect_wait_seconds": 0.05, "rate_per_second": 0, "timeout_seconds": 10, **smtp}
    return settings.model_copy(update={
        "smtp": settings.smtp.model_copy(update=smtp_values),
        "tokens": settings.tokens.model_copy(update={"secret": SECRET_VALUE}),
    })


def _secret():
    from pydantic import SecretStr

    return SecretStr(SECRET)


SECRET_VALUE = _secret()


def queue_emails(con, count: int, *, campaign: str = "newsletter", marketing: bool = True, start: int = 0,
                 domain: str = "example.org", names: list[str] | None = None, body_kb: float = 0,
                 html: bool = True, subject: str = "Vești de la noi, {name}", opted_in: bool = True,
                 send_after: datetime | None = None) -> list[str]:
    """Queued email rows as compose writes them (contacts, opt-ins and messages), set-based."""
    now = datetime.now(timezone.utc)
    filler = ("Mulțumim pentru sprijinul vostru în școala din Bistrița. " * int(body_kb * 1024 / 56 + 1)
              if body_kb else "")
    contacts, consents, messages = [], [], []
    for i in range(start, start + count):
        name = names[i - start] if names else f"Ana Popescu {i}"
        address = f"donor{i}@{domain}"
        contacts.append((100000 + i, name, address, "ro"))
        consents.append((f"test:{address}", "email", address, "opted_in", now - timedelta(days=30), "test"))
        text = f"Dragă {name},\nmulțumim!\n{filler}\nDezabonare: %%UNSUBSCRIBE_URL%%\n"
        body_html = (f"<p>Dragă {name},</p><p>mulțumim!</p><p>{filler}</p>"
                     f"<p><a href=\"%%UNSUBSCRIBE_URL%%\">Dezabonare</a></p>") if html else None
        messages.append((f"m{i:06d}", 100000 + i, campaign, "email", "ro", address, subject.format(name=name),
                         text, body_html, marketing, "queued", send_after))
    import pyarrow as pa

    con.register("new_contacts", pa.Table.from_pylist(
        [dict(zip(("contact_id", "full_name", "email", "language"), c)) for c in contacts]))
    con.execute("INSERT INTO contacts (contact_id, full_name, email, language) SELECT * FROM new_contacts")
    con.execute("INSERT INTO contact_identities (identity_type, identity_value, contact_id) "
                "SELECT 'email', email, contact_id FROM new_contacts")
    con.unregister("new_contacts")
    if opted_in:
        con.register("new_consents", pa.Table.from_pylist(
            [dict(zip(("event_id", "channel", "address", "status", "recorded_at", "source"), c)) for c in consents]))
        con.execute("INSERT INTO consent_events (event_id, channel, address, status, recorded_at, source) "
                    "SELECT * FROM new_consents")
        con.unregister("new_consents")
    columns = ("message_id", "contact_id", "campaign", "channel", "language", "address", "subject", "body_text",
               "body_html", "is_marketing", "status", "send_after")
    con.register("new_messages", pa.Table.from_pylist([dict(zip(columns, m)) for m in messages]).cast(
        pa.schema([(c, pa.timestamp("us", tz="UTC") if c == "send_after" else
                    (pa.int64() if c == "contact_id" else pa.bool_() if c == "is_marketing" else pa.string()))
                   for c in columns])))
    con.execute(f"INSERT INTO messages ({', '.join(columns)}) SELECT * FROM new_messages")
    con.unregister("new_messages")
    return [m[0] for m in messages]


def statuses(con) -> dict[str, int]:
    return dict(con.execute("SELECT status, count(*) FROM messages GROUP BY 1").fetchall())


LINKS_APP = """
import sys
import uvicorn
from starlette.applications import Starlette
from legatura.flows.config import load_settings
from legatura.flows.links import routes
app = Starlette(routes=routes(load_settings(sys.argv[1])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


class LinksServer:
    """flows/links.py's routes in a minimal Starlette app under uvicorn on 127.0.0.1, in another process."""

    def __init__(self, folder: Path, extra_config: str = ""):
        self.folder = folder
        self.config = folder / "legatura.toml"
        self.config.write_text('[warehouse]\npath = "w/legatura.duckdb"\nsnapshot = "w/analytics.duckdb"\n'
                               '[organisation]\nlanguage = "ro"\n' + extra_config, encoding="utf-8")
        self.warehouse = folder / "w" / "legatura.duckdb"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> "LinksServer":
        env = {**os.environ, "LEGATURA_TOKENS__SECRET": SECRET}
        self.process = subprocess.Popen([sys.executable, "-c", LINKS_APP, str(self.config), str(self.port)], env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.url + "/u/x", timeout=1)
                return self
            except httpx.TransportError:
                assert time.monotonic() < deadline and self.process.poll() is None, "the web app did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def query(self, sql: str):
        from legatura.warehouse import db

        con = db.connect(self.warehouse)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
