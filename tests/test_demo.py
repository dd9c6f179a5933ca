"""The demo: generated exports in every channel's real layout, ingestible as they are, and the whole run."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import mailbox
import re
import time
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import yaml
from legatura.flows.demo import BROKEN_RECORDS, CHANNELS, DemoError, generate_demo_data, run_demo
from legatura.transforms.channels import preset_module

from tests.conftest import assert_accounted

TODAY = date(2026, 11, 20)
FORMATS = Path(__file__).parent / "data" / "formats"


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "landing"
    generate_demo_data(root, seed=7, people=300, today=TODAY)
    return root


def one(landing: Path, pattern: str) -> Path:
    found = sorted(landing.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def sample_header(pattern: str, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[str]:
    path = sorted(FORMATS.glob(pattern))[0]
    return next(csv.reader(io.StringIO(path.read_bytes().decode(encoding)), delimiter=delimiter))


def rows_of(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline=""), delimiter=delimiter))


def test_generate_demo_data_writes_every_channel(tmp_path):
    counts = generate_demo_data(tmp_path / "landing", seed=3, people=120, today=TODAY)
    assert list(counts) == list(CHANNELS)
    assert all(counts[c] > 0 for c in CHANNELS), counts
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == sorted(CHANNELS)


def test_generate_demo_data_is_deterministic_for_a_seed(tmp_path):
    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    generate_demo_data(tmp_path / "a", seed=11, people=80, today=TODAY)
    generate_demo_data(tmp_path / "b", seed=11, people=80, today=TODAY)
    generate_demo_data(tmp_path / "c", seed=12, people=80, today=TODAY)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_generate_demo_data_is_fast_at_the_default_size(tmp_path):
    started = time.perf_counter()
    generate_demo_data(tmp_path / "landing", today=TODAY)
    assert time.perf_counter() - started < 5


def test_generate_demo_data_takes_the_ngo_identity_from_settings(tmp_path):
    from legatura.flows.config import Settings

    settings = Settings(organisation={"name": "Fundația Alt Exemplu", "email": "hello@alt-exemplu.org",
                                      "domains": ["alt-exemplu.org"], "phone_numbers": ["+40215550000"],
                                      "facebook_page": "Fundația Alt Exemplu"})
    generate_demo_data(tmp_path, seed=1, people=60, today=TODAY, settings=settings)
    sms = (tmp_path / "twilio").glob("*.jsonl")
    assert any('"To": "+40215550000"' in p.read_text() for p in sms)
    thread = next((tmp_path / "facebook").rglob("message_1.json"))
    assert json.loads(thread.read_text())["participants"][1]["name"].encode("latin-1").decode() == \
        "Fundația Alt Exemplu"
    assert "@alt-exemplu.org" in one(tmp_path, "email/mbox/*.mbox").read_text()
    assert "donatii@alt-exemplu.org" in one(tmp_path, "paypal/Download.CSV").read_text(encoding="utf-8-sig")
    assert "asociatia-exemplu" not in one(tmp_path, "email/mbox/*.mbox").read_text()


def test_stripe_layout_matches_the_export(landing):
    path = one(landing, "stripe/unified_payments_*.csv")
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    rows = rows_of(path)
    assert rows[0] == sample_header("stripe/*.csv")
    body = rows[1:]
    assert all(len(r) == 31 for r in body)
    good = [r for r in body if r[0]]
    assert all(re.fullmatch(r"ch_3\w{24}", r[0]) and r[28] == "pi_3" + r[0][4:] for r in good)
    created = [r[1] for r in body if r[1] != "########"]
    assert created == sorted(created, reverse=True)                     # newest first
    assert {r[14] for r in body} == {"Paid", "Refunded", "Failed"}
    assert {r[4] for r in body} == {"ron", "eur"}
    assert any(r[14] == "Paid" and 0 < float(r[3]) < float(r[2]) for r in good if r[2] != "#VALUE!")  # partial
    assert sum(r[0] == "" for r in body) == 1
    assert sum(r[1] == "########" for r in body) == 1
    assert sum(r[2] == "#VALUE!" for r in body) == 1


def test_paypal_original_is_bom_all_quoted_crlf(landing):
    path = one(landing, "paypal/Download.CSV")
    raw = path.read_bytes()
    assert raw.startswith(b'\xef\xbb\xbf"Date","Time","TimeZone"')
    lines = raw[3:].split(b"\r\n")
    assert lines[-1] == b"" and all(b"\n" not in line for line in lines)
    assert all(re.fullmatch(rb'"[^"]*"(,"[^"]*")*', line) for line in lines[:-1])   # every field quoted
    rows = rows_of(path, "utf-8-sig")
    assert rows[0] == sample_header("paypal/Download.CSV")
    types = {r[4] for r in rows[1:]}
    assert {"Payment Refund", "General Withdrawal", "Subscription Payment"} <= types
    assert any(re.fullmatch(r"-?\d{1,3}(,\d{3})+\.\d\d", r[7]) for r in rows[1:])   # thousands comma
    assert {r[2] for r in rows[1:]} <= {"EET", "EEST"}
    refund = next(r for r in rows[1:] if r[4] == "Payment Refund")
    assert refund[7].startswith("-") and refund[24] in {r[12] for r in rows[1:]} and refund[40] == "Debit"


def test_paypal_excel_variant_is_cp1250_semicolons_romanian_numbers(landing):
    path = one(landing, "paypal/*salvat din Excel*.csv")
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1250")
    assert "ş" in text or "Ş" in text or "ţ" in text
    assert "ș" not in text and "ț" not in text
    assert b"\r\n" in raw
    rows = rows_of(path, "cp1250", ";")
    assert rows[0] == sample_header("paypal/*Excel*.csv", "cp1250", ";")
    assert any(re.fullmatch(r"-?\d{1,3}(\.\d{3})+,\d\d", r[7]) for r in rows[1:])   # 1.234,50
    assert {"Payment Refund", "General Withdrawal"} <= {r[4] for r in rows[1:]}
    assert sum(r[12] == "" and r[4] == "Subscription Payment" for r in rows[1:]) == 1
    assert sum(r[0].startswith("31/02/") for r in rows[1:]) == 1


def test_mailchimp_export_has_three_files_quoted_like_mailchimp(landing):
    folder = one(landing, "mailchimp/audience_export_*")
    for status in ("subscribed", "unsubscribed", "cleaned"):
        path = one(folder, f"{status}_members_export_*.csv")
        raw = path.read_bytes()
        assert b"\r" not in raw and not raw.startswith(b"\xef\xbb\xbf")
        assert raw.split(b"\n")[0] == sorted(FORMATS.glob(f"mailchimp/*/{status}_*.csv"))[0].read_bytes().split(b"\n")[0]
        assert len(rows_of(path)) > 1
    text = one(folder, "subscribed_*.csv").read_text()
    assert '"""Donator""' in text                                # TAGS: a field of quoted tags
    assert re.search(r',"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",', text)


def test_forms_layout_matches_google_sheets(landing):
    path = one(landing, "forms/*.csv")
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\r\n")
    rows = rows_of(path)
    assert rows[0] == sample_header("forms/*.csv")
    assert any("\n" in r[5] for r in rows[1:])                  # line breaks inside an answer
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", rows[1][0])
    assert any(r[2] == "ion.popescu@gmial" and r[3] == "" for r in rows)
    assert any(r[0].startswith("31/13/") for r in rows)


def test_eventbrite_layout_and_repeated_downloads(landing):
    paths = sorted(landing.glob("eventbrite/*.csv"))
    assert len(paths) == 4 and sum(p.name.endswith("_after-event.csv") for p in paths) == 2
    header = sample_header("eventbrite/*.csv")
    for path in paths:
        assert path.read_bytes().endswith(b"\r\n")
        rows = rows_of(path)
        assert rows[0] == header
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d", r[1]) for r in rows[1:])
        assert all(len(r[8]) == 13 and len(r[0]) == 11 for r in rows[1:])


def test_twilio_is_json_lines_with_keywords_and_a_truncated_last_line(landing):
    paths = sorted(landing.glob("twilio/inbound_sms_*.jsonl"))
    sample_keys = list(json.loads((FORMATS / "twilio" / "inbound_sms_2026.jsonl").read_text().splitlines()[0]))
    bodies = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        for line in lines[:-1]:
            record = json.loads(line)
            keys = [k for k in record if k != "OptOutType"]
            assert keys == sample_keys
            assert all(isinstance(v, str) for v in record.values())
            bodies.append(record["Body"])
        if path == paths[-1]:
            assert lines[-1] and not text.endswith("\n")
            with pytest.raises(json.JSONDecodeError):
                json.loads(lines[-1])
        else:
            assert lines[-1] == ""
    stripped = {b.strip() for b in bodies}
    assert {"STOP", "START"} <= {b.upper() for b in stripped}
    assert any("ă" in b or "ț" in b or "ș" in b for b in bodies)     # raw UTF-8, not escaped


def test_facebook_json_is_ascii_with_mojibake_escapes(landing):
    threads = sorted(landing.glob("facebook/facebook-*/messages/inbox/*/message_1.json"))
    assert len(threads) >= 10
    page = "Asociația Exemplu"
    answered = 0
    for path in threads:
        raw = path.read_bytes()
        assert raw.isascii() and raw.endswith(b"}\n") and raw.startswith(b'{\n  "participants": [')
        thread = json.loads(raw)
        assert list(thread) == ["participants", "messages", "title", "is_still_participant", "thread_path",
                                "magic_words"]
        assert thread["thread_path"] == f"inbox/{path.parent.name}"
        assert re.fullmatch(r"[a-z0-9]+_\d{16}", path.parent.name)
        stamps = [m["timestamp_ms"] for m in thread["messages"]]
        assert stamps == sorted(stamps, reverse=True)               # newest first
        senders = {m["sender_name"].encode("latin-1").decode("utf-8") for m in thread["messages"]}
        answered += page in senders
    assert b"Asocia\\u00c8\\u009bia Exemplu" in threads[0].read_bytes()
    assert any(b"\\u00c8\\u0099" in p.read_bytes() or b"\\u00c4\\u0083" in p.read_bytes() for p in threads)
    assert 0 < answered < len(threads)                            # some threads never get an answer


def test_volunteers_both_header_sets_and_encodings(landing):
    english = one(landing, "volunteers/volunteer_hours_*.csv")
    assert rows_of(english)[0] == ["date", "email", "phone", "name", "hours", "activity"]
    assert english.read_bytes().endswith(b"\r\n")
    assert any(r[4] == "trei" for r in rows_of(english)) and any(r[1] == r[2] == "" for r in rows_of(english))
    cp1250 = one(landing, "volunteers/*Windows-1250*.csv")
    utf8 = one(landing, "volunteers/*UTF-8*.csv")
    assert cp1250.read_bytes().startswith("Data;E-mail;Telefon;Nume şi prenume;Ore;Activitate\r\n".encode("cp1250"))
    assert utf8.read_bytes().startswith("\ufeffData;E-mail;Telefon;Nume și prenume;Ore;Activitate\r\n".encode())
    for path, encoding in ((cp1250, "cp1250"), (utf8, "utf-8-sig")):
        rows = rows_of(path, encoding, ";")
        assert sum(r[0].startswith("30.02.") for r in rows) == 1
        assert any(re.fullmatch(r"\d+,\d", r[4]) for r in rows[1:])
        assert '"Tabără copii; logistică"' in cedilla_free(path.read_bytes().decode(encoding))


def cedilla_free(text: str) -> str:
    return text.replace("ş", "ș").replace("ţ", "ț")


def test_partners_yaml_has_every_field_and_the_agreement_shapes(landing):
    path = one(landing, "partners/*.yaml")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Acorduri de parteneriat")
    agreements = yaml.safe_load(text)
    fields = {"agreement_id", "partner", "type", "contact_email", "liaison", "liaison_email", "liaison_phone",
              "stage", "starts_on", "ends_on", "objectives", "responsibilities", "contributions",
              "cooperation_mechanism", "benefit_sharing"}
    assert all(fields <= set(a) for a in agreements)
    assert all(set(a["responsibilities"]) == {"ngo", "partner"} for a in agreements)
    by_partner: dict[str, list] = {}
    for a in agreements:
        by_partner.setdefault(a["partner"], []).append(a)
    assert any(len(v) == 2 and v[0]["type"] == "sponsor" for v in by_partner.values())          # renewed sponsor
    assert any(a["type"] == "media" and a["starts_on"] and a["ends_on"] is None for a in agreements)
    assert any(a["type"] == "coalition" for a in agreements)
    assert any(a["stage"] == "prospect" and a["starts_on"] is None and a["ends_on"] is None for a in agreements)
    assert any(isinstance(a["ends_on"], date) and 0 <= (a["ends_on"] - TODAY).days <= 60 for a in agreements)
    assert {a["type"] for a in agreements} == {"sponsor", "media", "endorser", "coalition", "licensee", "ngo"}


def test_email_containers_and_encodings(landing):
    mbox_path = one(landing, "email/mbox/*.mbox")
    raw = mbox_path.read_bytes()
    assert b"\r\n" not in raw and raw.startswith(b"From ")
    assert re.match(rb"From \d{19}@xxx \w{3} \w{3} \d\d \d\d:\d\d:\d\d \+0000 \d{4}\nX-GM-THRID: \d{19}\n"
                    rb"X-Gmail-Labels: ", raw)
    assert b"\n>From my German" in raw or b"X-Gmail-Labels: Sent" in raw
    messages = list(mailbox.mbox(mbox_path))
    ids = {m["Message-ID"] for m in messages}
    replies = [m for m in messages if m["In-Reply-To"]]
    assert replies and all(m["In-Reply-To"] in ids for m in replies)
    assert any("Sent" in m["X-Gmail-Labels"] for m in messages)
    maildir = landing / "email" / "maildir" / "donatii"
    assert (maildir / "tmp").is_dir() and list((maildir / "cur").iterdir())
    assert all(re.fullmatch(r"\d{10}\.M\d{6}P\d{4}Q\d+\.mail\.asociatia-exemplu\.ro(:2,R?S)?", p.name)
               for p in maildir.rglob("*") if p.is_file())
    emls = sorted((landing / "email" / "eml").glob("*.eml"))
    assert all(b"\r\n" in p.read_bytes() and b"\n" not in p.read_bytes().replace(b"\r\n", b"") for p in emls)
    latin2 = one(landing, "email/eml/*iso-8859-2.eml")
    message = message_from_bytes(latin2.read_bytes(), policy=policy.default)
    assert message.get_content_charset() == "iso-8859-2"
    assert re.search(rb"\nDate: .* [+-]\d{4} \(EES?T\)\r\n", latin2.read_bytes())
    assert "ş" in message.get_content() or "ţ" in message.get_content()
    broken = one(landing, "email/eml/*fara_adresa_valida*.eml")
    assert b"<ion.popescu@>" in broken.read_bytes()


@pytest.mark.parametrize("channel", CHANNELS)
def test_generated_files_ingest_with_only_the_broken_records_quarantined(landing, channel, ingest):
    try:
        preset_module(channel)
    except ModuleNotFoundError:
        pytest.skip(f"the {channel} preset is not written yet")
    summaries = ingest(landing / channel)
    assert summaries
    failed = [s for s in summaries if s.status == "failed"]
    assert not failed, [s.error for s in failed]
    assert_accounted(summaries)
    assert sum(s.rows_quarantined for s in summaries) == BROKEN_RECORDS.get(channel, 0)
    assert sum(s.rows_ingested for s in summaries) > 0
    again = ingest(landing / channel)
    assert sum(s.rows_ingested for s in again) == 0


def test_run_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DemoError, match="not made by `legatura demo`"):
        run_demo(tmp_path, print)
    assert (tmp_path / "notes.txt").exists()


@pytest.mark.prefect
def test_run_demo_end_to_end(tmp_path, prefect_api):
    lines: list[str] = []
    workdir = tmp_path / "demo"
    result = run_demo(workdir, lines.append, as_of=TODAY)
    assert result.failures == []
    assert (workdir / "legatura.toml").exists() and result.snapshot.exists()
    assert result.quarantined == sum(BROKEN_RECORDS.values())
    assert result.loaded > 1000 and result.merges > 0 and result.organisations >= 6
    for segment in ("donor_active", "donor_first_time", "donor_recurring", "donor_major", "donor_lybunt",
                    "donor_sybunt", "donor_lapsed", "volunteer_new", "volunteer_active", "volunteer_lapsed",
                    "partner_active", "partner_prospect", "partner_renewal_due", "partner_past"):
        assert result.segments.get(segment, 0) > 0, (segment, result.segments)
    assert result.requests > 0 and 0 < result.answered < result.requests
    assert result.median_first_response_seconds and result.median_first_response_seconds > 0
    assert result.reingest_new_rows == 0 and result.reingest_files > 0
    text = "\n".join(lines)
    assert f"duckdb -readonly {result.snapshot}" in text and "quarantine" in text

    # the journeys (run's triggered campaigns) and the two marketing campaigns, each audience accounted for
    assert set(result.campaigns) == {"thank-you", "volunteer-welcome", "lybunt-winback", "volunteer-reengage"}
    assert all(c.audience == c.queued + c.suppressed and c.queued > 0 for c in result.campaigns.values())
    assert {"no_consent", "opted_out"} <= set(result.suppressed_by_reason)
    # every email sent reached the local sink once, as a .eml file a person can open; each queued one went out
    mails = sorted((workdir / "outbox" / "mail").glob("*.eml"))
    assert result.mail_folder == workdir / "outbox" / "mail"
    assert len(mails) == result.mails_received == result.sent["email"] > 0
    parsed = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in mails]
    ids = [m["Message-ID"] for m in parsed]
    assert len(set(ids)) == len(ids)
    assert sorted(i.strip("<>") for i in ids) == sorted(sent_message_ids(result.warehouse))
    marketing = [m for m in parsed if m["List-Unsubscribe"]]
    assert len(marketing) == scalar(result.warehouse, "SELECT count(*) FROM messages WHERE status = 'sent' "
                                    "AND channel = 'email' AND is_marketing") > 0
    assert all(m["List-Unsubscribe"].startswith("<http://127.0.0.1:8788/u/") for m in marketing)
    assert all(m.get_body(("plain",)) is not None for m in parsed)
    # letters printable, SMS waiting for a gateway (none configured), said so
    assert result.sent.get("letter", 0) > 0 and result.letter_files
    assert "SMS stay queued: no gateway configured" in text
    # the chain and the campaigns again in the same folder: nothing loaded, queued or sent twice
    assert (result.rerun_queued, result.rerun_sent) == (0, 0)
    assert "0 messages queued, 0 sent (nothing twice)" in text
    # where to look, and one `why`
    assert f"{result.mail_folder}/*.eml" in text and str(result.letters_folder) in text
    assert result.why_command.startswith(f".venv/bin/legatura --config {result.config} why ")
    assert any("consent: opted in" in line for line in result.why_lines), result.why_lines
    assert (workdir / "tokens.secret").stat().st_mode & 0o077 == 0

    # a rerun starts from a clean folder (its outbox too) and gives the same figures
    again = run_demo(workdir, lines.append, as_of=TODAY)
    assert (again.loaded, again.segments, again.requests) == (result.loaded, result.segments, result.requests)
    assert (again.sent, again.mails_received) == (result.sent, result.mails_received)
    assert len(list((workdir / "outbox" / "mail").glob("*.eml"))) == result.mails_received


def sent_message_ids(warehouse: Path) -> list[str]:
    from legatura.warehouse import db

    con = db.connect(warehouse, read_only=True)
    try:
        return [r[0] for r in con.execute(
            "SELECT smtp_message_id FROM messages WHERE status = 'sent' AND channel = 'email'").fetchall()]
    finally:
        con.close()


def scalar(warehouse: Path, sql: str):
    from legatura.warehouse import db

    con = db.connect(warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()
