"""`legatura send` against a real SMTP server (aiosmtpd in another process): headers, parts, retries,
bounces, a server that is down, and the rate limit."""
from __future__ import annotations

import re
from collections import Counter

import pytest
from legatura.flows.outbox import status_counts
from legatura.flows.sending import SendOptions, deliver
from legatura.transforms.tokens import Signer

from tests.sending import SECRET, SmtpServer, free_port, queue_emails, statuses, with_delivery

pytestmark = pytest.mark.smtp

HOSTILE_NAMES = [
    'Ion "Hacker" Popescu\r\nBcc: victim@evil.example',          # header injection through a name
    "Maria Ștefănescu-Țăranu",                                     # diacritics: an encoded word
    "=?utf-8?q?Admin?= <admin@evil.example>, x",                   # an encoded word and an address in a name
]


@pytest.fixture
def smtp_server(tmp_path):
    servers = []

    def start(*options: str, **kwargs) -> SmtpServer:
        server = SmtpServer(tmp_path / f"smtp{len(servers)}", *options, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_send_delivers_headers_and_both_parts(warehouse, settings, smtp_server):
    server = smtp_server()
    s = with_delivery(settings, server.port, return_path="bounces@asociatia-exemplu.ro", from_name="Asociația Exemplu")
    queue_emails(warehouse, 3, names=HOSTILE_NAMES, subject="Vești\r\nBcc: victim@evil.example {name}")
    summary = deliver(warehouse, s, SendOptions())
    assert summary.count("email", "sent") == 3
    assert statuses(warehouse) == {"sent": 3}
    rows = dict(warehouse.execute("SELECT message_id, smtp_message_id FROM messages").fetchall())
    received = server.received()
    assert sorted(r["message_id"] for r in received) == sorted(rows.values())
    assert {r["mail_from"] for r in received} == {"bounces@asociatia-exemplu.ro"}
    assert [r["rcpt_tos"] for r in sorted(received, key=lambda r: r["message_id"])] != []
    by_id = {m["Message-ID"].strip("<>"): m for m in server.messages()}
    for message_id, smtp_id in rows.items():
        assert re.fullmatch(r"[0-9a-f]{32}@asociatia-exemplu\.ro", smtp_id)
        mail = by_id[smtp_id]
        assert "Bcc" not in mail and mail.get_all("To") and len(mail.get_all("To")) == 1
        assert mail["From"].addresses[0].addr_spec == "contact@asociatia-exemplu.ro"
        assert mail["From"].addresses[0].display_name == "Asociația Exemplu"
        assert mail["Reply-To"] == "contact@asociatia-exemplu.ro"
        assert "\n" not in str(mail["Subject"]) and str(mail["Subject"]).startswith("Vești Bcc: victim")
        https, mailto = re.fullmatch(r"<(https://[^>]+)>,\s*<(mailto:[^>]+)>", str(mail["List-Unsubscribe"])).groups()
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = https.rsplit("/u/", 1)[1]
        assert https.startswith("https://asociatia-exemplu.ro/legatura/u/")
        assert mailto == f"mailto:contact@asociatia-exemplu.ro?subject=unsubscribe-{token}"
        assert Signer(SECRET, "unsubscribe", 60).check(token).message_id == message_id
        assert mail.get_content_type() == "multipart/alternative"
        text, html = mail.get_payload()
        assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        rendered = warehouse.execute("SELECT body_text FROM messages WHERE message_id = ?", [message_id]).fetchall()[0][0]
        # the text part decodes to the rendered text (line ends are CRLF on the wire)
        assert text.get_content().replace("\r\n", "\n") == rendered.replace("\r\n", "\n").replace(
            "%%UNSUBSCRIBE_URL%%", https)
        assert f'href="{https}"' in html.get_content()
    # 7-bit clean, short lines on the wire, no injected header
    for path in sorted(server.keep.glob("*.eml")):
        data = path.read_bytes()
        head, body = data.split(b"\r\n\r\n", 1)
        assert data.isascii() and b"\r\nBcc:" not in head
        assert max(len(line) for line in head.split(b"\r\n")) <= 998      # a URL is never folded
        assert max(len(line) for line in body.split(b"\r\n")) <= 78
    names = {str(m["To"].addresses[0].display_name) for m in server.messages()}
    assert "Maria Ștefănescu-Țăranu" in names
    assert all(len(m["To"].addresses) == 1 for m in server.messages())


def test_send_refuses_invalid_addresses_before_the_server(warehouse, settings, smtp_server):
    server = smtp_server()
    queue_emails(warehouse, 3, marketing=False)
    warehouse.execute("UPDATE messages SET address = 'donor0@example.org\r\nRCPT TO:<x@evil.example>' "
                      "WHERE message_id = 'm000000'")
    warehouse.execute("UPDATE messages SET address = 'nobody@@example' WHERE message_id = 'm000001'")
    warehouse.execute("UPDATE messages SET address = 'ana@exa mple.org' WHERE message_id = 'm000002'")
    deliver(warehouse, with_delivery(settings, server.port), SendOptions())
    rows = warehouse.execute("SELECT status, error FROM messages ORDER BY message_id").fetchall()
    assert [r[0] for r in rows] == ["failed", "failed", "failed"]
    assert all(r[1].startswith("refused before sending: address") for r in rows)
    assert server.received() == []


def test_send_retries_451_then_delivers_once(warehouse, settings, smtp_server):
    server = smtp_server("--temp-fail", "2", "--temp-code", "451")
    queue_emails(warehouse, 5)
    summary = deliver(warehouse, with_delivery(settings, server.port), SendOptions())
    assert statuses(warehouse) == {"sent": 5}
    assert summary.count("email", "retry") == 10
    assert Counter(r["message_id"] for r in server.received()) == Counter(
        dict(warehouse.execute("SELECT smtp_message_id, 1 FROM messages").fetchall()))
    assert warehouse.execute("SELECT min(attempts), max(attempts) FROM messages").fetchall() == [(3, 3)]
    assert warehouse.execute("SELECT outcome, reply_code, count(*) FROM delivery_attempts GROUP BY ALL ORDER BY 1"
                             ).fetchall() == [("retry", 451, 10), ("sent", 250, 5)]


def test_send_retries_421_at_data_end_on_a_new_connection(warehouse, settings, smtp_server):
    server = smtp_server("--temp-fail", "1", "--temp-code", "421")
    queue_emails(warehouse, 4)
    deliver(warehouse, with_delivery(settings, server.port, concurrency=2), SendOptions())
    assert statuses(warehouse) == {"sent": 4}
    assert len(server.received()) == 4


def test_send_gives_up_after_max_attempts_with_backoff(warehouse, settings, smtp_server):
    server = smtp_server("--temp-fail", "100", "--temp-code", "451")
    queue_emails(warehouse, 1)
    s = with_delivery(settings, server.port, max_attempts=3)
    deliver(warehouse, s, SendOptions())
    assert warehouse.execute("SELECT status, attempts, error FROM messages").fetchall() == [
        ("failed", 3, "gave up after 3 attempt(s): 451 4.3.0 Temporary lookup failure, try again later")]
    # with a real backoff the message waits: queued, next attempt in the future, not sent again this run
    warehouse.execute("UPDATE messages SET status = 'queued', attempts = 0, error = NULL")
    deliver(warehouse, with_delivery(settings, server.port, max_attempts=3, retry_base_seconds=60), SendOptions())
    assert warehouse.execute("SELECT status, attempts, next_attempt_at > now() + INTERVAL 50 SECOND "
                             "FROM messages").fetchall() == [("queued", 1, True)]
    assert status_counts(warehouse) == {"queued (later)": 1}


def test_send_550_bounces_and_suppresses_the_address(warehouse, settings, smtp_server):
    server = smtp_server("--reject-domain", "bad.example")
    queue_emails(warehouse, 4)
    queue_emails(warehouse, 2, start=10, domain="bad.example")
    summary = deliver(warehouse, with_delivery(settings, server.port), SendOptions())
    assert (summary.count("email", "sent"), summary.count("email", "bounced")) == (4, 2)
    assert warehouse.execute("SELECT address, status, error FROM messages WHERE status = 'bounced' ORDER BY 1"
                             ).fetchall()[0][2].startswith("bounced: 550 5.1.1")
    assert warehouse.execute("SELECT address, reason FROM suppressions ORDER BY 1").fetchall() == [
        ("donor10@bad.example", "hard_bounce"), ("donor11@bad.example", "hard_bounce")]
    # the next message to that address, marketing or not, never reaches the server
    warehouse.execute("INSERT INTO messages (message_id, contact_id, channel, address, subject, body_text, "
                      "is_marketing, status) VALUES ('t1', 100010, 'email', 'donor10@bad.example', 'Mulțumim', "
                      "'Mulțumim!', false, 'queued')")
    summary = deliver(warehouse, with_delivery(settings, server.port), SendOptions())
    assert summary.suppressed == 1
    assert warehouse.execute("SELECT status, suppression_reason FROM messages WHERE message_id = 't1'"
                             ).fetchall() == [("suppressed", "bounced")]
    assert len(server.received()) == 4


def test_send_with_the_server_down_leaves_everything_queued(warehouse, settings):
    queue_emails(warehouse, 3)
    summary = deliver(warehouse, with_delivery(settings, free_port()), SendOptions())
    assert summary.failure.startswith("SMTP server 127.0.0.1:")
    assert "cannot be reached after 2 tries" in summary.failure and summary.failure.endswith("3 email(s) stay queued")
    assert warehouse.execute("SELECT status, attempts, smtp_message_id FROM messages").fetchall() == [
        ("queued", 0, None)] * 3


def test_send_holds_the_rate_limit(warehouse, settings, smtp_server):
    server = smtp_server(keep=False)
    queue_emails(warehouse, 61, html=False)
    deliver(warehouse, with_delivery(settings, server.port, concurrency=4, rate_per_second=20), SendOptions())
    times = sorted(r["t"] for r in server.received())
    assert len(times) == 61
    # four connections share one pace: 20 a second over the run, within 10 % (as the server saw them)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 18 <= rate <= 22, rate


def test_send_limit_and_campaign(warehouse, settings, smtp_server):
    server = smtp_server(keep=False)
    queue_emails(warehouse, 5, campaign="a")
    queue_emails(warehouse, 5, campaign="b", start=5)
    deliver(warehouse, with_delivery(settings, server.port), SendOptions(limit=3, campaign="b"))
    assert warehouse.execute("SELECT campaign, status, count(*) FROM messages GROUP BY ALL ORDER BY ALL").fetchall() == [
        ("a", "queued", 5), ("b", "queued", 2), ("b", "sent", 3)]


def test_send_waits_for_send_after_and_skips_opted_out(warehouse, settings, smtp_server):
    from datetime import datetime, timedelta, timezone

    server = smtp_server(keep=False)
    queue_emails(warehouse, 2, send_after=datetime.now(timezone.utc) + timedelta(hours=1))
    queue_emails(warehouse, 2, start=2)
    warehouse.execute("INSERT INTO consent_events (event_id, channel, address, status, recorded_at, source) "
                      "VALUES ('x', 'email', 'donor2@example.org', 'opted_out', now(), 'unsubscribe')")
    queue_emails(warehouse, 1, start=4, opted_in=False)
    summary = deliver(warehouse, with_delivery(settings, server.port), SendOptions())
    assert summary.count("email", "sent") == 1
    assert warehouse.execute("SELECT message_id, status, suppression_reason FROM messages ORDER BY 1").fetchall() == [
        ("m000000", "queued", None), ("m000001", "queued", None), ("m000002", "suppressed", "opted_out"),
        ("m000003", "sent", None), ("m000004", "suppressed", "no_consent")]


def test_send_without_a_token_secret_sends_no_marketing(warehouse, settings, smtp_server):
    from pydantic import SecretStr

    server = smtp_server(keep=False)
    queue_emails(warehouse, 2)
    s = with_delivery(settings, server.port)
    s = s.model_copy(update={"tokens": s.tokens.model_copy(update={"secret": SecretStr("")})})
    summary = deliver(warehouse, s, SendOptions())
    assert summary.failure.startswith("No secret to sign links with: tokens.secret (env LEGATURA_TOKENS__SECRET)")
    assert statuses(warehouse) == {"queued": 2} and server.received() == []


@pytest.fixture
def certificate(tmp_path):
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("security, tls", [("starttls", "starttls"), ("tls", "implicit")])
def test_send_over_tls_with_auth_password_from_settings(warehouse, settings, smtp_server, certificate, security, tls):
    from pydantic import SecretStr

    cert, key = certificate
    server = smtp_server("--tls", tls, "--cert", str(cert), "--key", str(key), "--auth", "ngo:s3cret pass")
    queue_emails(warehouse, 2)
    base = with_delivery(settings, server.port, security=security, username="ngo", tls_ca_file=str(cert))
    wrong = base.model_copy(update={"smtp": base.smtp.model_copy(update={"password": SecretStr("guess")})})
    summary = deliver(warehouse, wrong, SendOptions())
    assert summary.failure.startswith(f"SMTP server 127.0.0.1:{server.port} refused the login of 'ngo' (535")
    assert "s3cret" not in summary.failure and "guess" not in summary.failure
    assert statuses(warehouse) == {"queued": 2}
    right = base.model_copy(update={"smtp": base.smtp.model_copy(update={"password": SecretStr("s3cret pass")})})
    deliver(warehouse, right, SendOptions())
    assert statuses(warehouse) == {"sent": 2} and len(server.received()) == 2


def test_send_names_from_real_exports_reach_the_header_intact(warehouse, settings, smtp_server, formats, ingest):
    """Every contact the sample exports create (encoded-word names, diacritics, quotes, odd case) gets a mail
    whose To header decodes back to its name, with one address and no header of its own making."""
    from legatura.transforms.mime import header_text

    server = smtp_server()
    ingest(formats / "email", formats / "forms", formats / "mailchimp")
    warehouse.execute(
        "INSERT INTO messages (message_id, contact_id, campaign, channel, language, address, subject, body_text, "
        "is_marketing, status) SELECT 'r' || contact_id, contact_id, 'thanks', 'email', 'ro', email, "
        "'Mulțumim, ' || coalesce(full_name, ''), 'Mulțumim!', false, 'queued' FROM contacts WHERE email IS NOT NULL")
    names = dict(warehouse.execute("SELECT email, full_name FROM contacts WHERE email IS NOT NULL").fetchall())
    assert len(names) >= 10
    summary = deliver(warehouse, with_delivery(settings, server.port), SendOptions())
    # the exports' own opt-outs and cleaned addresses hold for transactional mail too
    assert summary.suppressed == 3
    mails = server.messages()
    assert len(mails) == len(names) - 3 == summary.count("email", "sent")
    for mail in mails:
        [to] = mail["To"].addresses
        assert to.display_name == header_text(names[to.addr_spec])
        assert set(mail.keys()) >= {"From", "To", "Subject", "Message-ID", "Date"}
        assert not set(mail.keys()) - {"From", "Reply-To", "MIME-Version", "Message-ID", "Date", "To", "Subject",
                                       "Content-Type", "Content-Transfer-Encoding"}


def test_send_no_answer_after_data_is_unknown_and_never_retried(warehouse, settings, smtp_server):
    server = smtp_server("--data-delay", "3", keep=False)
    queue_emails(warehouse, 1)
    s = with_delivery(settings, server.port, timeout_seconds=1)
    summary = deliver(warehouse, s, SendOptions())
    assert summary.count("email", "unknown") == 1
    [(status, error)] = warehouse.execute("SELECT status, error FROM messages").fetchall()
    assert status == "failed" and error.startswith("unknown: the connection was lost after the message was handed")
    deliver(warehouse, s, SendOptions())
    assert warehouse.execute("SELECT attempts FROM messages").fetchall() == [(1,)]
