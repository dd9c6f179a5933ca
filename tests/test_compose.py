"""Compose on a real warehouse built by ingesting exports: consent per address, reasons, caps, idempotency."""
from __future__ import annotations

import shutil
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest_compose import AS_OF, NOW, build_warehouse, compose_settings, contact_of
from legatura.flows.check import CampaignCheckFailed
from legatura.flows.compose import compose_campaign
from legatura.flows.ingest import ingest_paths
from legatura.warehouse import db

LOCAL = ZoneInfo("Europe/Bucharest")
REASONS = {"no_consent", "opted_out", "bounced", "erased", "frequency_cap", "no_address", "template_error",
           "sms_too_long"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compose-base")
    build_warehouse(folder)
    return folder


@pytest.fixture
def env(built, tmp_path):
    """A private copy of the built warehouse: (settings, connection)."""
    settings = compose_settings(tmp_path)
    settings.warehouse.path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built / "warehouse" / "legatura.duckdb", settings.warehouse.path)
    con = db.connect(settings.warehouse.path)
    yield settings, con
    con.close()


def rows_of(con, campaign):
    cols = ["contact_id", "status", "channel", "address", "suppression_reason", "consent_address",
            "consent_source", "send_after", "language", "body_text", "body_html", "error", "campaign_run"]
    return [dict(zip(cols, r, strict=True)) for r in con.execute(
        f"SELECT {', '.join(cols)} FROM messages WHERE campaign = ? ORDER BY contact_id", [campaign]).fetchall()]


def by_contact(con, campaign):
    return {r["contact_id"]: r for r in rows_of(con, campaign)}


def erase_one_and_cap_one(con) -> tuple[int, int]:
    """The erased contact (an erasure record) and the capped one (two marketing messages this week)."""
    erased, capped = contact_of(con, "erased@example.ro"), contact_of(con, "capped@example.ro")
    con.execute("INSERT INTO erasures (contact_id, source) VALUES (?, 'test: request by email')", [erased])
    for days in (1, 3):
        con.execute("INSERT INTO messages (message_id, contact_id, campaign, channel, status, is_marketing, sent_at) "
                    "VALUES (?, ?, 'newsletter', 'email', 'sent', true, ?)",
                    [f"old-{days}", capped, NOW - timedelta(days=days)])
    return erased, capped


def test_compose_each_reason_where_it_belongs(env):
    settings, con = env
    erased, capped = erase_one_and_cap_one(con)
    summary = compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    got = by_contact(con, "appeal")
    reason = {c: r["suppression_reason"] for c, r in got.items()}
    expected = {
        "consented@example.ro": None,
        "bounce@example.ro": "bounced",             # opted in, then cleaned by Mailchimp
        "a.first@example.ro": "opted_out",          # the other address unsubscribed later: it wins
        "d.second@example.ro": None,                # opted in after the other address unsubscribed
        "erased@example.ro": "erased",
        "capped@example.ro": "frequency_cap",       # two marketing messages this week already
        "noname@example.ro": "template_error",      # the template needs a first name
        "+40722000003": "opted_out",                # SMS STOP after START
        "+40722000009": None,                       # SMS START
        "noconsent@example.ro": "no_consent",       # a donor who never opted in
    }
    for address, want in expected.items():
        assert reason[contact_of(con, address)] == want, address
    facebook_only = con.execute("SELECT contact_id FROM contact_identities WHERE identity_type = 'facebook'").fetchall()
    assert facebook_only and all(reason[c] == "no_address" for (c,) in facebook_only)
    assert set(reason.values()) - {None} <= REASONS
    # the mirror goes to the address whose opt-in came after the opt-out, only there
    mirror = got[contact_of(con, "d.second@example.ro")]
    assert (mirror["address"], mirror["consent_address"], mirror["consent_source"]) == (
        "d.second@example.ro", "d.second@example.ro", "mailchimp")
    assert got[contact_of(con, "+40722000009")]["channel"] == "sms"
    assert got[contact_of(con, "+40722000009")]["consent_source"] == "twilio:START"
    assert "appeal/email.ro.html.j2:4" in got[contact_of(con, "noname@example.ro")]["error"]
    assert "contact " in got[contact_of(con, "noname@example.ro")]["error"]
    # counts add up: one row per audience member
    persons = con.execute("SELECT count(*) FROM contacts WHERE kind = 'person'").fetchall()[0][0]
    assert summary.audience == persons == len(got) == summary.queued + summary.suppressed
    assert summary.queued == sum(summary.by_channel.values()) == sum(summary.by_language.values())
    assert summary.suppressed == sum(summary.by_reason.values())
    assert "sms_too_long" not in summary.by_reason
    # queued marketing email: marker for the sender, text part, inlined CSS, nothing suppressed carries a body
    ana = got[contact_of(con, "consented@example.ro")]
    assert "%%UNSUBSCRIBE_URL%%" in ana["body_html"] and "%%UNSUBSCRIBE_URL%%" in ana["body_text"]
    assert 'style="' in ana["body_html"] and "<style" not in ana["body_html"]
    assert all(r["body_html"] is None and r["address"] is None for r in got.values() if r["status"] == "suppressed")


def test_compose_twice_queues_nobody_twice(env):
    settings, con = env
    first = compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    again = compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    assert first.audience > 0 and again.audience == 0 and again.queued == 0
    dupes = con.execute("SELECT count(*) FROM (SELECT campaign_run, contact_id FROM messages "
                        "GROUP BY ALL HAVING count(*) > 1)").fetchall()[0][0]
    assert dupes == 0


def test_compose_transactional_reaches_no_consent_not_opted_out(env):
    settings, con = env
    compose_campaign(con, settings, "notice", AS_OF, now=NOW, workers=1)
    got = by_contact(con, "notice")
    assert got[contact_of(con, "noconsent@example.ro")]["status"] == "queued"
    assert got[contact_of(con, "noconsent@example.ro")]["consent_source"] is None
    assert got[contact_of(con, "a.first@example.ro")]["suppression_reason"] == "opted_out"
    assert got[contact_of(con, "bounce@example.ro")]["suppression_reason"] == "bounced"
    # transactional goes at once, and never counts toward a frequency cap
    assert all(r["send_after"] <= NOW + timedelta(seconds=1) for r in got.values() if r["status"] == "queued")


def test_compose_sms_too_long_refused(env):
    settings, con = env
    summary = compose_campaign(con, settings, "long-sms", AS_OF, now=NOW, workers=1)
    got = by_contact(con, "long-sms")
    assert got[contact_of(con, "+40722000009")]["suppression_reason"] == "sms_too_long"
    assert summary.by_reason.get("sms_too_long") == 1 and summary.queued == 0


def test_compose_best_hour_and_window(env):
    settings, con = env
    compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    got = by_contact(con, "appeal")
    night = got[contact_of(con, "writer@example.ro")]["send_after"].astimezone(LOCAL)
    assert (night.hour, night.minute) == (21, 0) and night > NOW          # writes at 21:00, gets 21:00
    usual = got[contact_of(con, "consented@example.ro")]["send_after"].astimezone(LOCAL)
    # no history: the next opening of the 09:00-18:00 working-day window (Monday 22:00 -> Tuesday 09:00)
    assert (usual.date().isoformat(), usual.hour, usual.minute) == ("2026-12-01", 9, 0)


def test_compose_send_time_fixed_and_now(env):
    settings, con = env
    fixed = settings.model_copy(update={"compose": settings.compose.model_copy(update={"send_time": "07:30"})})
    compose_campaign(con, fixed, "appeal", AS_OF, now=NOW, workers=1)
    times = {r["send_after"].astimezone(LOCAL).strftime("%H:%M") for r in rows_of(con, "appeal") if r["send_after"]}
    assert times == {"07:30"}


def test_compose_triggered_thank_you_once_per_gift(env, tmp_path):
    settings, con = env
    first = compose_campaign(con, settings, "thank-you", AS_OF, now=NOW, workers=1)
    assert first.queued == 1 and first.audience == 1
    row = rows_of(con, "thank-you")[0]
    assert row["campaign_run"] == "thank-you#stripe:ch_3TestNoConsent00000001"
    assert "250,00 lei" in row["body_text"] and "29 noiembrie 2026" in row["body_text"]
    # the trigger fires again, and the same export lands again under another name: nothing new
    assert compose_campaign(con, settings, "thank-you", AS_OF, now=NOW, workers=1).queued == 0
    again = tmp_path / "again"
    again.mkdir()
    shutil.copyfile("tests/data/compose/unified_payments_2026-11-30.csv", again / "unified_payments (1).csv")
    ingest_paths(con, [again], settings)
    assert compose_campaign(con, settings, "thank-you", AS_OF + timedelta(days=1), now=NOW, workers=1).queued == 0
    assert con.execute("SELECT count(*) FROM messages WHERE campaign = 'thank-you'").fetchall()[0][0] == 1


def test_compose_language_from_contact(env):
    settings, con = env
    con.execute("UPDATE contacts SET language = 'en' WHERE email = 'consented@example.ro'")
    con.execute("UPDATE contacts SET language = 'de' WHERE email = 'd.second@example.ro'")
    compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    got = by_contact(con, "appeal")
    assert got[contact_of(con, "consented@example.ro")]["language"] == "en"
    assert "Dear Ana," in got[contact_of(con, "consented@example.ro")]["body_text"]
    assert got[contact_of(con, "d.second@example.ro")]["language"] == "ro"   # no German: the organisation's


def test_compose_letter_for_donor_without_consent(env):
    settings, con = env
    summary = compose_campaign(con, settings, "lybunt-winback", AS_OF, now=NOW, workers=1)
    got = by_contact(con, "lybunt-winback")
    horia = got[contact_of(con, "horia.scrisoare@example.ro")]
    assert (horia["status"], horia["channel"]) == ("queued", "letter")
    assert horia["address"].startswith("Str. Florilor 7, ap. 3\nIași")
    assert got[contact_of(con, "consented@example.ro")]["channel"] == "email"
    letters = (settings.letters.path / "lybunt-winback_2026-11-30.html").read_text()
    assert summary.letters_file.endswith("lybunt-winback_2026-11-30.html")
    assert "@page { size: A4" in letters and "Str. Florilor 7, ap. 3<br>Iași" in letters
    assert letters.count('<section class="page">') == summary.by_channel["letter"]


def test_compose_dry_run_writes_nothing(env):
    settings, con = env
    summary = compose_campaign(con, settings, "appeal", AS_OF, dry_run=True, now=NOW, workers=1)
    assert summary.queued > 0 and summary.sample and "Subject:" in summary.sample
    assert con.execute("SELECT count(*) FROM messages WHERE campaign = 'appeal'").fetchall()[0][0] == 0


def test_compose_refuses_campaign_failing_check(env):
    settings, con = env
    broken = settings.templates.path / "appeal" / "email.en.txt.j2"
    broken.write_text('{% extends "_layouts/email.txt.j2" %}{% block content %}{{ contact.nmae }}{% endblock %}')
    with pytest.raises(CampaignCheckFailed, match=r"email.en.txt.j2.*nmae"):
        compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    assert con.execute("SELECT count(*) FROM messages").fetchall()[0][0] == 0


def test_compose_renders_on_several_processes_alike(env):
    settings, con = env
    compose_campaign(con, settings, "notice", AS_OF, now=NOW, workers=2)
    parallel = {r["contact_id"]: r["body_html"] for r in rows_of(con, "notice")}
    con.execute("DELETE FROM messages")
    from legatura.flows import render_pool

    old, render_pool.CHUNK = render_pool.CHUNK, 3
    try:
        compose_campaign(con, settings, "notice", AS_OF, now=NOW, workers=2)
    finally:
        render_pool.CHUNK = old
    assert {r["contact_id"]: r["body_html"] for r in rows_of(con, "notice")} == parallel


def test_compose_in_parts_queues_as_one_run(env, monkeypatch):
    """On several processes the audience is decided in two parts; every row and count is as one part gives."""
    settings, con = env
    from legatura.flows import compose, compose_outbox

    parts_taken = []

    def counted(con, first_share, columns):
        for rows in compose_outbox.decide_in_parts(con, first_share, columns):
            parts_taken.append(rows.num_rows)
            yield rows
    monkeypatch.setattr(compose, "decide_in_parts", counted)
    erased, capped = erase_one_and_cap_one(con)
    whole = compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    one = rows_of(con, "appeal")
    con.execute("DELETE FROM messages WHERE campaign = 'appeal'")
    from legatura.flows import render_pool

    old, render_pool.CHUNK = render_pool.CHUNK, 2
    try:
        parts = compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=2)
    finally:
        render_pool.CHUNK = old
    assert len(parts_taken) == 3 and all(parts_taken)   # one part alone, then two
    assert rows_of(con, "appeal") == one
    assert (parts.queued, parts.suppressed, parts.by_channel, parts.by_language, parts.by_reason) == (
        whole.queued, whole.suppressed, whole.by_channel, whole.by_language, whole.by_reason)
    assert parts.suppressed and parts.queued
