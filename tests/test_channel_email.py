"""The email preset: .eml, Maildir and mbox files to interactions; nasty mail loaded or quarantined."""
from __future__ import annotations

import statistics
from datetime import datetime, timezone
from pathlib import Path

import pytest
from legatura.transforms.channels import email

from tests.conftest import DATA, assert_accounted, copy_sample

NASTY = DATA / "email"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def parse_file(path: Path, settings):
    return email.parse(path.read_bytes(), str(path), settings)


def only_row(result) -> dict:
    [row] = result.frames["interactions"].to_dicts()
    return row


def message(*headers: str, body: str = "Bună ziua.") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


# --- detect ---------------------------------------------------------------------------------

def test_detect_recognises_eml_mbox_and_maildir_files(formats):
    for path in (formats / "email").rglob("*"):
        if path.is_file() and path.name != ".keep":
            assert email.detect(path.name, path.read_bytes()[:65536]), path
            assert email.detect("no-extension", path.read_bytes()[:65536]), path


def test_detect_leaves_other_exports_alone(formats):
    for path in [formats / "stripe" / "unified_payments_2026-11-12.csv",
                 formats / "twilio" / "inbound_sms_2026.jsonl",
                 *(formats / "paypal").glob("*.csv"), *(formats / "forms").glob("*.csv")]:
        assert not email.detect(path.name, path.read_bytes()[:65536]), path


# --- the shared samples ---------------------------------------------------------------------

def test_parse_quoted_printable_eml_decodes_romanian_subject_name_and_body(formats, settings):
    row = only_row(parse_file(formats / "email/eml/01_intrebare_donator_quoted-printable.eml", settings))
    assert row["interaction_id"] == "email:CAHx3k9vQ2mT7wLp0Zr4sYb8nE1uJd6fG5aKc2hV9oXq7iMw3Rt@mail.gmail.com"
    assert row["external_id"] == "CAHx3k9vQ2mT7wLp0Zr4sYb8nE1uJd6fG5aKc2hV9oXq7iMw3Rt@mail.gmail.com"
    assert (row["direction"], row["kind"], row["awaits_answer"]) == ("inbound", "message", True)
    assert row["subject"] == "Certificat pentru donația din octombrie"
    assert (row["email"], row["full_name"]) == ("ana.marginean@gmail.com", "Ana Mărginean")
    assert row["occurred_at"] == utc(2026, 11, 3, 7, 14, 27)
    assert "cardul și aș avea nevoie de un certificat de donație pentru declarația fiscală (formularul" \
        in row["body"]


def test_parse_iso_8859_2_eml_folds_cedillas_and_ignores_date_comment(formats, settings):
    row = only_row(parse_file(formats / "email/eml/04_intrebare_iso-8859-2.eml", settings))
    assert row["subject"] == "Colaborare școală - strângere de haine"
    assert "Vă scriu în numele școlii noastre din Bacău" in row["body"]
    assert row["body"].endswith("prof. Gheorghiță Ștefănescu")
    # the display name is UTF-8 as the sender wrote it: kept as written
    assert row["full_name"] == "Gheorghiță Ştefănescu"
    assert row["occurred_at"] == utc(2026, 10, 9, 8, 30)   # 11:30 +0300 (EEST)


def test_parse_reply_is_outbound_to_the_person_and_threads_on_the_question(formats, settings):
    row = only_row(parse_file(formats / "email/eml/02_raspuns_asociatie_in-reply-to.eml", settings))
    question = "CAHx3k9vQ2mT7wLp0Zr4sYb8nE1uJd6fG5aKc2hV9oXq7iMw3Rt@mail.gmail.com"
    assert (row["direction"], row["awaits_answer"], row["is_auto_reply"]) == ("outbound", False, False)
    assert (row["email"], row["full_name"], row["address"]) == (
        "ana.marginean@gmail.com", "Ana Mărginean", "ana.marginean@gmail.com")
    assert (row["in_reply_to"], row["references"], row["thread_ref"]) == (question, [question], question)


def test_parse_multipart_alternative_takes_the_plain_part_and_b_encoded_subject(formats, settings):
    row = only_row(parse_file(formats / "email/eml/03_raspuns_la_newsletter_multipart.eml", settings))
    assert row["subject"] == "Re: Newsletter octombrie 2026: tabăra de vară"
    assert row["body"].startswith("Bună ziua,\n\nAm citit newsletterul") and "<" not in row["body"]
    assert row["full_name"] == "Ioana Țurcanu"
    assert row["thread_ref"] == "0.1.7A.3F2.1DB2F4C5E9A8B60.0@mail239.atl121.mcsv.net"


def test_parse_quarantines_from_without_valid_address(formats, settings):
    result = parse_file(formats / "email/eml/05_fara_adresa_valida_in_From.eml", settings)
    assert result.records_read == 1 and result.frames["interactions"].height == 0
    [bad] = result.quarantine.to_dicts()
    assert bad["reason"] == "From header 'Ion Popescu <ion.popescu@>' has no valid email address"
    assert bad["line_or_key"] == "CAB7mZq0vX2nR5tY8wA1cE4gI7kM0oQ3sU6xZ9bD2fH5jL8n@mail.gmail.com"
    assert "From: Ion Popescu <ion.popescu@>" in bad["raw"]


def test_parse_gmail_mbox_splits_unquotes_and_keeps_utc_times(formats, settings):
    result = parse_file(formats / "email/mbox/All mail Including Spam and Trash.mbox", settings)
    rows = result.frames["interactions"].to_dicts()
    assert result.records_read == 3 and result.quarantine.height == 0
    assert [r["source_line"] for r in rows] == ["1", "22", "46"]
    assert [r["direction"] for r in rows] == ["inbound", "outbound", "inbound"]
    assert [r["occurred_at"] for r in rows] == [
        utc(2026, 10, 30, 16, 2, 11), utc(2026, 10, 31, 8, 45), utc(2026, 11, 5, 18, 12, 44)]
    assert "\nFrom my German bank account" in rows[0]["body"]       # mboxrd `>From ` undone
    # the staff reply copies contact@ in Cc: the counterpart is the donor in To
    assert (rows[1]["email"], rows[1]["full_name"]) == ("radu.georgescu@gmx.net", "Radu Georgescu")
    assert rows[1]["thread_ref"] == rows[0]["thread_ref"] == rows[0]["external_id"]
    assert rows[1]["body"].startswith("Bună ziua, Radu,\n\nDa, puteți dona lunar prin SEPA, în EUR.")
    assert (rows[2]["subject"], rows[2]["full_name"]) == ("Voluntariat în weekend", "Ștefan Rădulescu")
    assert rows[2]["body"].startswith("Salut!\n\nPot veni și sâmbăta asta")


def test_parse_maildir_message_file(formats, settings):
    [path] = (formats / "email/maildir/donatii/new").iterdir()
    row = only_row(parse_file(path, settings))
    assert (row["email"], row["subject"]) == ("elena.constantinescu@gmail.com", "Nu am primit confirmarea plății")
    assert row["body"] == ("Bună ziua,\n\nAm donat ieri prin PayPal și mi s-a luat suma de două ori. "
                           "Puteți verifica?\n\nElena")


# --- times ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("date", "expected"), [
    ("Fri, 09 Oct 2026 11:30:00 +0300 (EEST)", utc(2026, 10, 9, 8, 30)),
    ("9 Oct 2026 11:30:00 +0300", utc(2026, 10, 9, 8, 30)),            # no weekday
    ("Fri, 9 Oct 2026 11:30 EEST", utc(2026, 10, 9, 8, 30)),            # zone name, no seconds
    ("Fri, 09 Oct 2026 11:30:00 GMT", utc(2026, 10, 9, 11, 30)),
    ("Fri, 09 Oct 2026 11:30:00 -0000", utc(2026, 10, 9, 11, 30)),
    ("Fri, 09 Oct 26 11:30:00 +0200", utc(2026, 10, 9, 9, 30)),         # two-digit year
    ("Fri, 09 Oct 2026 11:30:00", utc(2026, 10, 9, 8, 30)),             # naive: Europe/Bucharest (EEST)
    ("Tue, 15 Dec 2026 11:30:00", utc(2026, 12, 15, 9, 30)),            # naive in winter (EET)
])
def test_parse_date_header_variants_to_utc(settings, date, expected):
    raw = message(f"Date: {date}", "Message-ID: <d@x.ro>", "From: a@example.org", "To: contact@asociatia-exemplu.ro")
    assert only_row(email.parse(raw, "d.eml", settings))["occurred_at"] == expected


def test_parse_unreadable_date_falls_back_to_maildir_delivery_time(settings):
    raw = message("Date: sometime last week", "Message-ID: <d@x.ro>", "From: a@example.org")
    row = only_row(email.parse(raw, "maildir/new/1794376683.M118054P5120Q3.host", settings))
    assert row["occurred_at"] == utc(2026, 11, 11, 5, 58, 3)
    [bad] = email.parse(raw, "inbox/d.eml", settings).quarantine.to_dicts()
    assert bad["reason"] == "Date header 'sometime last week' is not a valid date"


def test_parse_missing_date_and_message_id_uses_received_time_and_a_hash_key(settings):
    result = parse_file(NASTY / "no_date_no_message_id.eml", settings)
    row = only_row(result)
    assert row["occurred_at"] == utc(2026, 10, 15, 5, 15)
    assert row["interaction_id"].startswith("email:sha1-") and row["external_id"] is None
    assert row["thread_ref"] == row["interaction_id"].removeprefix("email:")
    [bad] = parse_file(NASTY / "no_date_at_all.eml", settings).quarantine.to_dicts()
    assert (bad["line_or_key"], bad["reason"]) == (
        "no-date-2@mail.example.org", "no Date header and no other time (mbox separator, Received) to use")


# --- nasty mail -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "subject", "body"), [
    ("broken_boundary.eml", "Donatie pentru tabara", "Vreau sa donez pentru tabara copiilor."),
    ("wrong_charset_label.eml", "Intrebare", "Bună ziua, aș vrea să ajut la strângerea de fonduri."),
    ("unknown_charset.eml", "Mulțumesc pentru donație", "Mulțumesc pentru donație, școala noastră vă așteaptă."),
    ("raw_8bit_headers.eml", "Întrebare despre școală", "Bună ziua!"),
    ("nested_multipart.eml", "Lista voluntari", "Bună ziua,\n\nVă trimit lista voluntarilor din Bacău.\n\nȘtefan"),
    ("html_only.eml", "Gala", "Bună ziua,\nNe vedem la gală & licitație!\nMihai"),
])
def test_parse_malformed_mail_loads_as_far_as_it_can(settings, name, subject, body):
    row = only_row(parse_file(NASTY / name, settings))
    assert (row["subject"], row["body"]) == (subject, body)


def test_parse_raw_8bit_and_iso_encoded_display_names(settings):
    assert only_row(parse_file(NASTY / "raw_8bit_headers.eml", settings))["full_name"] == "Sânziana Mureșan"
    assert only_row(parse_file(NASTY / "nested_multipart.eml", settings))["full_name"] == "Ștefan Rădulescu"


def test_parse_auto_reply_does_not_await_an_answer(settings):
    row = only_row(parse_file(NASTY / "auto_reply.eml", settings))
    assert (row["direction"], row["kind"], row["is_auto_reply"], row["awaits_answer"]) == (
        "inbound", "auto_reply", True, False)
    assert row["email"] == "ioana.turcanu@outlook.com"


def test_parse_bounce_is_about_the_failed_recipient_not_the_mailer_daemon(settings):
    row = only_row(parse_file(NASTY / "bounce.eml", settings))
    assert (row["direction"], row["kind"], row["is_auto_reply"], row["awaits_answer"]) == (
        "inbound", "bounce", True, False)
    assert (row["email"], row["address"], row["full_name"]) == (
        "adresa.gresita@example.net", "adresa.gresita@example.net", None)
    assert row["body"].startswith("This is the mail system at host mx.example.net.")


def test_parse_read_receipt_is_automatic_but_not_a_bounce(settings):
    raw = message("Date: Mon, 26 Oct 2026 13:00:00 +0200", "Message-ID: <mdn@x.ro>",
                  "From: Ana <ana.marginean@gmail.com>", "To: contact@asociatia-exemplu.ro",
                  'Content-Type: multipart/report; report-type=disposition-notification; boundary="r"',
                  body="--r\r\nContent-Type: text/plain\r\n\r\nMesajul a fost citit.\r\n--r--")
    row = only_row(email.parse(raw, "mdn.eml", settings))
    assert (row["kind"], row["is_auto_reply"], row["awaits_answer"], row["email"]) == (
        "auto_reply", True, False, "ana.marginean@gmail.com")
    assert row["body"] == "Mesajul a fost citit."


def test_parse_8bit_ids_and_obsolete_from_header_syntax(settings):
    raw = ("From : Ana <ana.marginean@gmail.com>\r\nDate: Mon, 26 Oct 2026 13:00:00 +0200\r\n"
           "Message-ID: <ș-1@x.ro>\r\nReferences: <root-ț@x.ro>\r\n\r\nText\r\n").encode("utf-8")
    row = only_row(email.parse(raw, "odd.eml", settings))
    assert (row["external_id"], row["thread_ref"], row["email"]) == ("ș-1@x.ro", "root-ț@x.ro", "ana.marginean@gmail.com")


def test_parse_thunderbird_mbox_quoting_fallbacks_and_broken_messages(settings):
    result = parse_file(NASTY / "thunderbird_mixed.mbox", settings)
    rows = {r["external_id"]: r for r in result.frames["interactions"].to_dicts()}
    assert result.records_read == 6 and len(rows) == 4
    # mboxrd: one `>` removed per quoted line; an unquoted body line "From the ..." splits nothing
    assert rows["tb-1@mail.example.org"]["body"] == (
        "Salut,\nFrom my German bank account the transfer left yesterday.\n>From the bank: reference 123.\n"
        "From the board's point of view, is that fine?")
    # no Date: the separator's time, which has no offset, is local (EET after 25 October)
    assert rows["tb-2@mail.example.org"]["occurred_at"] == utc(2026, 10, 26, 10, 30)
    internal = rows["tb-4@asociatia-exemplu.ro"]
    assert (internal["direction"], internal["kind"], internal["email"], internal["awaits_answer"]) == (
        "outbound", "internal", None, False)
    reply = rows["tb-5@asociatia-exemplu.ro"]
    assert (reply["direction"], reply["email"]) == ("outbound", "radu.georgescu@gmx.net")   # the Cc
    assert (reply["thread_ref"], reply["in_reply_to"], reply["references"]) == (
        "tb-0@mail.example.org", "tb-1@mail.example.org", ["tb-0@mail.example.org", "tb-1@mail.example.org"])
    assert [r["source_line"] for r in result.frames["interactions"].to_dicts()] == ["1", "13", "29", "38"]
    assert result.quarantine.select("line_or_key", "reason").rows() == [
        ("21", "no From header: the sender is unknown"),
        ("50", "not a mail message: no header lines at its start"),
    ]


def test_parse_same_message_with_crlf_or_lf_gets_the_same_key(settings):
    in_mbox = parse_file(NASTY / "duplicate/inbox.mbox", settings).frames["interactions"]
    as_eml = [only_row(parse_file(NASTY / f"duplicate/{n}.eml", settings)) for n in ("A", "B")]
    assert in_mbox["interaction_id"].to_list() == [r["interaction_id"] for r in as_eml]
    assert as_eml[1]["interaction_id"].startswith("email:sha1-")
    assert in_mbox["body"].to_list() == [r["body"] for r in as_eml]


def test_parse_truncates_the_raw_text_of_a_large_quarantined_message(settings):
    raw = message("Date: Mon, 26 Oct 2026 13:00:00 +0200", "From: nobody", body="x" * 50_000)
    [bad] = email.parse(raw, "big.eml", settings).quarantine.to_dicts()
    assert bad["reason"] == "From header 'nobody' has no valid email address"
    assert len(bad["raw"]) < 11_000 and bad["raw"].endswith(f"[... truncated: {len(raw)} bytes in all]")


def test_parse_quarantined_legacy_text_stays_readable(settings):
    raw = "From: nobody\r\nSubject: x\r\n\r\nşcoală\r\n".encode("iso-8859-2")
    [bad] = email.parse(raw, "x.eml", settings).quarantine.to_dicts()
    assert (bad["line_or_key"], bad["raw"]) == ("1", "From: nobody\r\nSubject: x\r\n\r\nșcoală\r\n")


def test_parse_own_addresses_follow_the_settings(settings):
    settings.organisation.domains = ["ong.example"]
    settings.organisation.email = "office@other.example"
    raw = message("Date: Mon, 26 Oct 2026 13:00:00 +0200", "Message-ID: <o@x>",
                  "From: Office <Office@Other.example>", "To: ana@example.org, coleg@ong.example")
    row = only_row(email.parse(raw, "o.eml", settings))
    assert (row["direction"], row["email"]) == ("outbound", "ana@example.org")


def test_parse_empty_file_is_not_a_message(settings):
    with pytest.raises(email.NotAnEmailFile, match="the file is empty"):
        email.parse(b"\r\n", "empty.eml", settings)


# --- into the warehouse ---------------------------------------------------------------------

def test_ingest_email_samples_counts_contacts_and_first_responses(ingest, warehouse, formats):
    summaries = ingest(formats / "email")
    assert len(summaries) == 9 and {s.channel for s in summaries} == {"email"}   # tmp/.keep skipped
    assert sum(s.rows_read for s in summaries) == 11
    assert sum(s.rows_quarantined for s in summaries) == 1
    assert sum(s.rows_ingested for s in summaries) == 10
    assert warehouse.execute("""
        SELECT count(*) FROM ingested_files
        WHERE rows_read <> rows_ingested + rows_duplicate + rows_quarantined""").fetchone()[0] == 0
    counts = dict(warehouse.execute(
        "SELECT direction, count(*) FROM interactions WHERE channel = 'email' GROUP BY direction").fetchall())
    assert counts == {"inbound": 7, "outbound": 3}
    [quarantined] = warehouse.execute("SELECT source_file, line_or_key, reason FROM quarantine").fetchall()
    assert quarantined[0].endswith("05_fara_adresa_valida_in_From.eml")
    assert "has no valid email address" in quarantined[2]

    people = dict(warehouse.execute("SELECT email, full_name FROM contacts").fetchall())
    assert people == {
        "ana.marginean@gmail.com": "Ana Mărginean", "ioana.turcanu@outlook.com": "Ioana Țurcanu",
        "g.stefanescu@scoala-exemplu.ro": "Gheorghiță Ştefănescu", "cristina.balan@gmail.com": "Cristina Bălan",
        "elena.constantinescu@gmail.com": "Elena Constantinescu", "radu.georgescu@gmx.net": "Radu Georgescu",
        "stefan.radulescu@yahoo.com": "Ștefan Rădulescu",
    }
    assert warehouse.execute(
        "SELECT count(*) FROM interactions WHERE contact_id IS NULL").fetchone()[0] == 0
    # the data answers the README's response figures: first later outbound email to the same contact
    answered = [r[0] for r in warehouse.execute("""
        SELECT epoch(min(o.occurred_at) - i.occurred_at)
        FROM interactions i JOIN interactions o
          ON o.contact_id = i.contact_id AND o.direction = 'outbound' AND o.occurred_at > i.occurred_at
        WHERE i.direction = 'inbound' AND i.awaits_answer
        GROUP BY i.interaction_id, i.occurred_at""").fetchall()]
    assert len(answered) == 3 and statistics.median(answered) == 60169


def test_ingest_email_again_adds_nothing_and_overlapping_mbox_counts_duplicates(ingest, warehouse, formats, tmp_path):
    ingest(formats / "email")
    before = warehouse.execute("SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM contacts)").fetchone()
    again = ingest(formats / "email")
    assert {s.status for s in again} == {"unchanged"}
    mbox = formats / "email/mbox/All mail Including Spam and Trash.mbox"
    newer = tmp_path / "takeout-2" / "All mail Including Spam and Trash.mbox"
    newer.parent.mkdir()
    newer.write_bytes(mbox.read_bytes() + (NASTY / "duplicate/inbox.mbox").read_bytes())
    [overlap] = ingest(newer)
    assert (overlap.rows_read, overlap.rows_ingested, overlap.rows_duplicate, overlap.rows_quarantined) == (5, 2, 3, 0)
    after = warehouse.execute("SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM contacts)").fetchone()
    assert after == (before[0] + 2, before[1])     # Elena is already a contact (Maildir)


def test_ingest_same_message_from_mbox_and_eml_once(ingest, warehouse, tmp_path):
    folder = copy_sample(NASTY / "duplicate", tmp_path)
    [mbox] = ingest(folder / "inbox.mbox")
    assert (mbox.rows_ingested, mbox.rows_duplicate) == (2, 0)
    for name in ("A.eml", "B.eml"):
        [eml] = ingest(folder / name)
        assert (eml.rows_read, eml.rows_ingested, eml.rows_duplicate) == (1, 0, 1)
    assert warehouse.execute("SELECT count(*) FROM interactions").fetchone()[0] == 2


def test_ingest_nasty_mail_loads_or_quarantines_every_message(ingest, warehouse):
    summaries = ingest(NASTY, channel="email")
    assert_accounted(summaries)
    assert sum(s.rows_quarantined for s in summaries) == 3    # no date at all; no From; binary garbage
    assert sum(s.rows_duplicate for s in summaries) == 2      # duplicate/A.eml and B.eml after inbox.mbox
    kinds = dict(warehouse.execute("SELECT kind, count(*) FROM interactions GROUP BY kind").fetchall())
    assert (kinds["bounce"], kinds["auto_reply"], kinds["internal"]) == (1, 1, 1)
    raw = warehouse.execute("SELECT raw FROM quarantine WHERE line_or_key = '50'").fetchone()[0]
    assert "binary garbage" in raw


def test_ingest_empty_email_file_is_quarantined_whole(ingest, warehouse, tmp_path):
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    [summary] = ingest(empty)
    assert (summary.status, summary.rows_quarantined) == ("failed", 1)
    assert "the file is empty" in warehouse.execute("SELECT reason FROM quarantine").fetchone()[0]


def test_ingest_email_and_stripe_resolve_to_one_person(ingest, warehouse, formats):
    ingest(formats / "stripe" / "unified_payments_2026-11-12.csv", channel="stripe")
    ingest(formats / "email" / "eml")
    ids = warehouse.execute("""
        SELECT DISTINCT contact_id FROM (
            SELECT contact_id FROM interactions WHERE address = 'ana.marginean@gmail.com'
            UNION ALL
            SELECT d.contact_id FROM donations d JOIN contacts c USING (contact_id)
            WHERE c.email = 'ana.marginean@gmail.com')""").fetchall()
    assert len(ids) == 1
