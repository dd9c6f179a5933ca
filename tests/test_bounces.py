"""Bounces that arrive later, and unsubscribes by mailto, recognised on ingest and applied to what was sent:
messages are sent to a real SMTP server, then the reports about them are ingested like any mailbox."""
from __future__ import annotations

from pathlib import Path

import pytest
from legatura.flows.ingest import ingest_paths
from legatura.flows.sending import SendOptions, deliver
from legatura.transforms import bounces
from legatura.transforms.channels import email

from tests.sending import SmtpServer, queue_emails, statuses, with_delivery

pytestmark = pytest.mark.smtp
DATA = Path(__file__).parent / "data" / "bounces"


@pytest.fixture
def sent(warehouse, settings, tmp_path):
    """Four newsletters sent through a real SMTP server; returns (settings, {message_id: (smtp id, address)})."""
    server = SmtpServer(tmp_path / "smtp").start()
    try:
        s = with_delivery(settings, server.port, soft_bounce_limit=2)
        queue_emails(warehouse, 4)
        deliver(warehouse, s, SendOptions())
        mails = {m["To"].addresses[0].addr_spec: m for m in server.messages()}
    finally:
        server.stop()
    rows = warehouse.execute("SELECT message_id, smtp_message_id, address FROM messages ORDER BY 1").fetchall()
    return s, {m: (smtp_id, address) for m, smtp_id, address in rows}, mails


def landed(tmp_path: Path, template: str, name: str | None = None, **values: str) -> Path:
    text = (DATA / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    path = tmp_path / "landing" / "email" / (name or template.removesuffix(".tmpl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def test_bounces_dsn_and_non_standard_report_bounce_the_sent_messages(warehouse, sent, tmp_path):
    s, messages, _ = sent
    contacts_before = warehouse.execute("SELECT count(*) FROM contacts").fetchall()[0][0]
    dsn = landed(tmp_path, "dsn_null_sender_no_date.eml.tmpl", MESSAGE_ID=messages["m000000"][0],
                 RECIPIENT=messages["m000000"][1])
    qmail = landed(tmp_path, "qmail_odd_postmaster.eml.tmpl", RECIPIENT=messages["m000001"][1])
    summaries = ingest_paths(warehouse, [dsn, qmail], s)
    assert [(f.rows_ingested, f.rows_quarantined) for f in summaries] == [(1, 0), (1, 0)]
    assert warehouse.execute("SELECT message_id, address, severity, matched_by FROM bounce_events ORDER BY 1"
                             ).fetchall() == [("m000000", "donor0@example.org", "hard", "message_id"),
                                              ("m000001", "donor1@example.org", "hard", "recipient")]
    assert statuses(warehouse) == {"bounced": 2, "sent": 2}
    assert warehouse.execute("SELECT address, reason FROM suppressions ORDER BY 1").fetchall() == [
        ("donor0@example.org", "hard_bounce"), ("donor1@example.org", "hard_bounce")]
    # a bounce is neither a reply nor a request; the MTA that sent it is nobody
    rows = warehouse.execute("SELECT kind, direction, awaits_answer, is_auto_reply, contact_id, in_reply_to "
                             "FROM interactions ORDER BY address").fetchall()
    assert [r[:4] for r in rows] == [("bounce", "inbound", False, True)] * 2
    assert [r[4] for r in rows] == [100000, 100001]
    assert rows[0][5] == messages["m000000"][0]
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchall()[0][0] == contacts_before
    assert warehouse.execute("SELECT count(*) FROM contact_identities WHERE identity_value LIKE '%postmaster%' "
                             "OR identity_value LIKE '%daemon%'").fetchall() == [(0,)]
    assert warehouse.execute("SELECT count(*) FROM inbound_response_times").fetchall() == [(0,)]
    # ingesting the same reports again changes nothing
    ingest_paths(warehouse, [dsn, qmail], s)
    assert warehouse.execute("SELECT count(*) FROM bounce_events").fetchall() == [(2,)]


def test_bounces_soft_ones_are_counted_and_suppress_at_the_limit(warehouse, sent, tmp_path):
    s, messages, _ = sent
    address = messages["m000002"][1]
    first = landed(tmp_path, "dsn_delayed.eml.tmpl", "delay1.eml", N="1", RECIPIENT=address)
    ingest_paths(warehouse, [first], s)
    assert warehouse.execute("SELECT severity FROM bounce_events").fetchall() == [("soft",)]
    assert warehouse.execute("SELECT count(*) FROM suppressions").fetchall() == [(0,)]
    second = landed(tmp_path, "dsn_delayed.eml.tmpl", "delay2.eml", N="2", RECIPIENT=address)
    ingest_paths(warehouse, [second], s)
    assert warehouse.execute("SELECT address, reason FROM suppressions").fetchall() == [
        (address, "soft_bounce_limit")]


def test_bounces_unsubscribe_by_mailto_records_the_opt_out(warehouse, sent, tmp_path, settings):
    s, messages, mails = sent
    address = messages["m000002"][1]
    mailto = str(mails[address]["List-Unsubscribe"]).split("<mailto:")[1].rstrip(">")
    token = mailto.split("subject=unsubscribe-")[1]
    ingest_paths(warehouse, [landed(tmp_path, "mailto_unsubscribe.eml.tmpl", RECIPIENT=address, TOKEN=token)], s)
    assert warehouse.execute("SELECT status, source FROM consents WHERE address = ?", [address]).fetchall() == [
        ("opted_out", "unsubscribe:mailto")]
    assert warehouse.execute("SELECT kind, awaits_answer FROM interactions").fetchall() == [("unsubscribe", False)]
    # a forged token is an ordinary message that awaits an answer, and changes no consent
    forged = landed(tmp_path, "mailto_unsubscribe.eml.tmpl", "forged.eml", RECIPIENT=messages["m000003"][1],
                    TOKEN=token[:-4] + "abcd")
    forged.write_bytes(forged.read_bytes().replace(b"CAE+unsub-1", b"CAE+unsub-2"))
    ingest_paths(warehouse, [forged], s)
    assert warehouse.execute("SELECT status FROM consents WHERE address = ?", [messages["m000003"][1]]).fetchall() == [
        ("opted_in",)]
    # the next newsletter to the unsubscribed address is suppressed before it reaches any server
    queue_emails(warehouse, 1, start=50)
    warehouse.execute("UPDATE messages SET address = ? WHERE message_id = 'm000050'", [address])
    summary = deliver(warehouse, with_delivery(settings, 1, connect_tries=1), SendOptions())
    assert summary.suppressed == 1


def test_bounces_null_sender_and_no_time_at_all_is_still_a_bounce(settings):
    raw = (b"From: Mail Delivery System <>\r\nTo: contact@asociatia-exemplu.ro\r\nSubject: Returned mail\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
           b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n")
    result = email.parse(raw, "bounce.eml", settings)
    assert result.quarantine.height == 0
    row = result.frames["interactions"].row(0, named=True)
    assert (row["kind"], row["email"], row["awaits_answer"], row["occurred_at"] is not None) == (
        "bounce", "gone@example.org", False, True)


def test_bounces_candidates_need_a_sign():
    assert not bounces.is_candidate({"subject": "Mulțumim pentru donație"}, "text/plain", None, "ana@example.org")
    assert bounces.is_candidate({"subject": "x"}, "text/plain", None, "Mail Delivery System <>")
    assert bounces.is_candidate({"subject": "x"}, "text/plain", None, "<Postmaster\\@example.com@xxx.com>")
    assert bounces.is_candidate({"subject": "failure notice"}, "text/plain", None, "someone@example.org")
