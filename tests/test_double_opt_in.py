"""Double opt-in from a form row through the confirmation email at a real SMTP server to the click on the
real web process, and a second sign-up that leaves the address confirmed."""
from __future__ import annotations

import re

import httpx
import pytest
from legatura.flows.config import load_settings
from legatura.flows.ingest import ingest_paths
from legatura.flows.sending import SendOptions, deliver
from legatura.warehouse import db

from tests.sending import SECRET, LinksServer, SmtpServer, queue_emails

pytestmark = [pytest.mark.smtp, pytest.mark.subprocess]

FORM = ("Timestamp,Nume și prenume,Adresa de email,Cum vă putem ajuta?,Sunt de acord să primesc informări (GDPR)\n"
        "{when},Ioana Dumitrescu,Ioana.Dumitrescu@Example.org ,Vreau să aflu noutăți,\"Da, sunt de acord\"\n")


def test_double_opt_in_from_form_row_to_click_and_a_second_sign_up_keeps_it_confirmed(tmp_path):
    smtp = SmtpServer(tmp_path / "smtp").start()
    web = LinksServer(tmp_path, extra_config=f"[forms]\nconfirm = true\n[smtp]\nport = {smtp.port}\n"
                                             "retry_base_seconds = 0\nconnect_tries = 1\n")
    settings = load_settings(web.config, env={"LEGATURA_TOKENS__SECRET": SECRET})
    address = "ioana.dumitrescu@example.org"
    landing = tmp_path / "landing" / "forms"
    landing.mkdir(parents=True)
    first_form = landing / "Formular (Răspunsuri) - 1.csv"
    first_form.write_text(FORM.format(when="01/12/2026 09:00:00"), encoding="utf-8")
    try:
        con = db.connect(web.warehouse)
        db.migrate(con)
        ingest_paths(con, [first_form], settings)
        assert con.execute("SELECT status, source FROM consents WHERE address = ?", [address]).fetchall() == [
            ("pending", "forms")]
        # until the click: no marketing
        queue_emails(con, 1, start=7)
        con.execute("UPDATE messages SET address = ?, contact_id = (SELECT contact_id FROM contact_identities "
                    "WHERE identity_value = ?) WHERE message_id = 'm000007'", [address, address])
        deliver(con, settings, SendOptions())
        assert con.execute("SELECT campaign, status, suppression_reason FROM messages ORDER BY campaign").fetchall() == [
            ("confirm_subscription", "sent", None), ("newsletter", "suppressed", "no_consent")]
        confirmation_id = con.execute("SELECT message_id FROM messages WHERE campaign = 'confirm_subscription'"
                                      ).fetchall()[0][0]
        con.close()

        [mail] = [m for m in smtp.messages() if m["To"].addresses[0].addr_spec == address]
        assert mail["Subject"] == "Confirmați abonarea la veștile Asociația Exemplu"
        assert "List-Unsubscribe" not in mail       # transactional
        text = mail.get_body(("plain",)).get_content()
        link = re.search(r"https://asociatia-exemplu\.ro/legatura(/c/\S+)", text).group(1)
        assert link in mail.get_body(("html",)).get_content()

        web.start()
        try:
            clicked = httpx.get(web.url + link)          # the one click
            assert clicked.status_code == 200 and "Abonare confirmată" in clicked.text
        finally:
            web.stop()
        assert web.query(f"SELECT status, source FROM consents WHERE address = '{address}'") == [
            ("opted_in", "confirmation")]
        assert web.query("SELECT message_id, recorded_at IS NOT NULL FROM consent_events "
                         "WHERE source = 'confirmation'") == [(confirmation_id, True)]

        # signing up again (a later form row) never downgrades the confirmed address, nor asks again
        second_form = landing / "Formular (Răspunsuri) - 2.csv"
        second_form.write_text(FORM.format(when="02/12/2026 10:00:00"), encoding="utf-8")
        con = db.connect(web.warehouse)
        ingest_paths(con, [second_form], settings)
        assert con.execute("SELECT count(*) FROM consent_events WHERE address = ? AND status = 'pending'",
                           [address]).fetchall() == [(2,)]
        assert con.execute("SELECT status, source FROM consents WHERE address = ?", [address]).fetchall() == [
            ("opted_in", "confirmation")]
        assert con.execute("SELECT count(*) FROM messages WHERE campaign = 'confirm_subscription'").fetchall() == [(1,)]
        queue_emails(con, 1, start=8, opted_in=False)
        con.execute("UPDATE messages SET address = ? WHERE message_id = 'm000008'", [address])
        summary = deliver(con, settings, SendOptions())
        assert summary.count("email", "sent") == 1
        con.close()
    finally:
        smtp.stop()
