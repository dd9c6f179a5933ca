"""Response-time tracking over hand-built threads in a real DuckDB warehouse (tests/data/track)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import duckdb
import pytest
from legatura.flows.config import Settings
from legatura.flows.track import TrackSummary, compute_response_times
from legatura.transforms.tracking import CalendarError, describe_seconds, is_auto_reply, working_calendar
from legatura.warehouse import db

THREADS = Path(__file__).parent / "data" / "track" / "threads.sql"
UTC = timezone.utc


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def tracked(tmp_path: Path):
    """A migrated warehouse file holding the hand-built threads, tracked once; yields (con, summary)."""
    con = db.connect(tmp_path / "legatura.duckdb")
    db.migrate(con)
    con.execute(THREADS.read_text(encoding="utf-8"))
    summary = compute_response_times(con, Settings())
    yield con, summary
    con.close()


def response_of(con: duckdb.DuckDBPyConnection, message_id: str) -> tuple | None:
    rows = con.execute(
        "SELECT response_interaction_id, response_kind, responded_at, response_seconds "
        "FROM response_times WHERE message_id = ?", [message_id]).fetchall()
    assert len(rows) == 1, f"{message_id}: {len(rows)} rows in response_times"
    return None if rows[0][0] is None else rows[0]


def answer_of(con: duckdb.DuckDBPyConnection, interaction_id: str) -> tuple:
    rows = con.execute(
        "SELECT answer_interaction_id, answer_channel, answer_source, first_response_seconds, sla_breached "
        "FROM inbound_response_times WHERE interaction_id = ?", [interaction_id]).fetchall()
    assert len(rows) == 1, f"{interaction_id}: {len(rows)} rows in inbound_response_times"
    return rows[0]


# our messages -> their responses

def test_message_response_reply_to_a_reply_counts_for_the_whole_thread(tracked):
    con, _ = tracked
    # Ana answered our follow-up; its References still names the appeal
    assert response_of(con, "a-followup")[:2] == ("email:a-reply", "reply")
    appeal = response_of(con, "a-appeal")
    assert appeal[:3] == ("email:a-reply", "reply", utc("2026-03-04 18:30"))
    assert appeal[3] == 2 * 86400 + 8 * 3600 + 30 * 60


def test_message_response_clock_skew_within_a_day_counts(tracked):
    con, _ = tracked
    # dated 3 minutes before we sent, but it names our Message-ID: a response, never negative
    assert response_of(con, "b-news") == ("email:b-early", "reply", utc("2026-03-02 09:57"), 0)


def test_message_response_clock_skew_beyond_a_day_is_ignored(tracked):
    con, _ = tracked
    assert response_of(con, "b-old") is None


def test_message_response_first_of_two_replies_counts(tracked):
    con, _ = tracked
    assert response_of(con, "c-invite") == ("email:c-first", "reply", utc("2026-03-03 09:15"), 4500)


def test_message_response_sms_answer_inside_the_window(tracked):
    con, _ = tracked
    assert response_of(con, "d-sms-1") == ("twilio:SMd1", "same_channel", utc("2026-03-05 10:00"), 3 * 86400)


def test_message_response_sms_answer_outside_the_window_or_on_another_channel_is_none(tracked):
    con, _ = tracked
    # the text came 8 days later (window 7); the email in between is another channel, unthreaded
    assert response_of(con, "d-sms-2") is None


def test_message_response_sms_window_follows_attribution_days(tracked):
    con, _ = tracked
    compute_response_times(con, Settings(tracking={"attribution_days": 10}))
    assert response_of(con, "d-sms-2")[:2] == ("twilio:SMd2", "same_channel")


def test_message_response_gift_after_an_appeal(tracked):
    con, _ = tracked
    assert response_of(con, "e-appeal") == ("stripe:ch_e1", "gift", utc("2026-03-04 20:00"), 2 * 86400 + 10 * 3600)


def test_message_response_gift_after_a_receipt_or_refunded_is_none(tracked):
    con, _ = tracked
    assert response_of(con, "e-receipt") is None      # transactional: not an appeal
    assert response_of(con, "e-appeal-2") is None     # the gift in its window was refunded in full


def test_message_response_auto_reply_is_skipped(tracked):
    con, _ = tracked
    assert response_of(con, "f-news")[:2] == ("email:f-real", "reply")


def test_response_times_one_row_per_sent_message(tracked):
    con, _ = tracked
    sent = con.execute("SELECT count(*) FROM messages WHERE sent_at IS NOT NULL").fetchall()[0][0]
    rows, distinct = con.execute("SELECT count(*), count(DISTINCT message_id) FROM response_times").fetchall()[0]
    assert rows == distinct == sent
    assert con.execute("SELECT count(*) FROM response_times WHERE message_id = 'z-queued'").fetchall()[0][0] == 0


# their requests -> our answers

def test_request_answer_on_another_channel(tracked):
    con, _ = tracked
    assert answer_of(con, "email:h-question") == ("sms:h-callback", "sms", "interaction", 3 * 3600, False)


def test_request_answer_unanswered_breaches_sla(tracked):
    con, _ = tracked
    answer, _, _, seconds, breached = answer_of(con, "form:g-request")
    assert (answer, seconds, breached) == (None, None, True)


def test_request_answer_late_breaches_sla(tracked):
    con, _ = tracked
    assert answer_of(con, "email:k-question") == ("email:k-answer", "email", "interaction", 30 * 3600, True)


def test_request_answer_clock_skew_of_a_threaded_answer(tracked):
    con, _ = tracked
    # our answer names their Message-ID but is dated 2 minutes before their mail
    assert answer_of(con, "email:b-early") == ("email:b-answer", "email", "interaction", 0, False)


def test_request_answer_auto_replies_neither_await_nor_answer(tracked):
    con, _ = tracked
    assert con.execute(
        "SELECT count(*) FROM inbound_response_times WHERE interaction_id = 'email:f-ooo'").fetchall()[0][0] == 0
    # our autoresponder at 08:01 is no answer; the person's at 15:00 is
    assert answer_of(con, "email:f-real") == ("email:f-answer", "email", "interaction", 7 * 3600, False)


def test_request_answer_newsletter_is_none_and_sent_folder_copy_not_counted_twice(tracked):
    con, _ = tracked
    # the 11:00 newsletter (and its delivery record) is no answer; the reply is the Sent-folder copy
    # of message i-reply, not the message row as well
    assert answer_of(con, "facebook:i-msg") == ("email:i-reply-copy", "email", "interaction", 22 * 3600 + 2, False)
    assert con.execute(
        "SELECT count(*) FROM request_answers WHERE interaction_id = 'facebook:i-msg'").fetchall()[0][0] == 1


def test_request_answer_by_a_sent_message_no_interaction_records(tracked):
    con, _ = tracked
    assert answer_of(con, "twilio:SMj1") == ("j-reply", "sms", "message", 1800, False)


def test_request_answer_not_yet_due_is_open_but_not_breached(tracked):
    con, _ = tracked
    con.execute(
        "INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, awaits_answer) "
        "VALUES ('email:fresh', 7, 'email', 'inbound', 'message', now() - INTERVAL 1 HOUR, true)")
    compute_response_times(con, Settings())
    assert answer_of(con, "email:fresh")[3:] == (None, False)


def test_request_answer_business_hours_skip_weekend_and_romanian_holidays(tracked):
    con, _ = tracked
    # Friday 27 Nov 2026 16:00 in Bucharest; Mon 30 Nov (St Andrew) and Tue 1 Dec (National Day) are
    # public holidays: 8 working hours run 16-17 on Friday and 09-16 on Wednesday 2 December
    con.execute(
        "INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, awaits_answer) "
        "VALUES ('email:friday', 7, 'email', 'inbound', 'message', '2026-11-27 14:00:00+00', true)")
    compute_response_times(con, Settings(tracking={"business_hours": True, "sla_hours": 8}))
    due = con.execute("SELECT sla_due_at FROM inbound_response_times WHERE interaction_id = 'email:friday'").fetchall()
    assert due == [(utc("2026-12-02 14:00"),)]
    # off again: plain hours
    compute_response_times(con, Settings(tracking={"sla_hours": 8}))
    due = con.execute("SELECT sla_due_at FROM inbound_response_times WHERE interaction_id = 'email:friday'").fetchall()
    assert due == [(utc("2026-11-27 22:00"),)]


def test_request_answer_business_hours_follow_the_configured_workday(tracked):
    con, _ = tracked
    # Friday 27 Nov 2026 16:00 local, workday 08:00-18:00: 2 h run on Friday, 6 h on Wednesday 2 Dec
    con.execute(
        "INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, awaits_answer) "
        "VALUES ('email:friday', 7, 'email', 'inbound', 'message', '2026-11-27 14:00:00+00', true)")
    compute_response_times(con, Settings(tracking={"business_hours": True, "sla_hours": 8,
                                                   "workday_start": "08:00", "workday_end": "18:00"}))
    due = con.execute("SELECT sla_due_at FROM inbound_response_times WHERE interaction_id = 'email:friday'").fetchall()
    assert due == [(utc("2026-12-02 12:00"),)]


def test_request_answer_business_hours_within_a_working_day(tracked):
    con, _ = tracked
    # Kiki asked Friday 6 March 11:00 local; 24 working hours = 3 working days -> Wednesday 11:00 local
    compute_response_times(con, Settings(tracking={"business_hours": True}))
    due, breached = con.execute(
        "SELECT sla_due_at, sla_breached FROM inbound_response_times WHERE interaction_id = 'email:k-question'"
    ).fetchall()[0]
    assert due == utc("2026-03-11 09:00")
    assert breached is False   # answered Saturday 17:00 local: well inside three working days


# the morning worklist and the summaries

def test_open_requests_oldest_first_with_who_and_text(tracked):
    con, summary = tracked
    rows = con.execute("SELECT interaction_id, full_name, channel, body, waiting_seconds > 0 FROM open_requests").fetchall()
    assert [r[0] for r in rows] == [
        "email:c-first", "email:c-second", "form:g-request", "twilio:SMd1", "email:b-bogus",
        "email:d-mail", "twilio:SMd2",
    ]
    assert rows[2] == ("form:g-request", "Gina Lazăr", "form", "Cum pot deveni voluntar?", True)
    assert summary.open_requests == len(rows)


def test_track_summary_headline(tracked):
    _, summary = tracked
    assert isinstance(summary, TrackSummary)
    assert (summary.requests, summary.answered, summary.answered_within_sla) == (14, 7, 6)
    assert summary.share_within_sla == pytest.approx(6 / 14, abs=1e-4)
    assert summary.median_first_response_seconds == 7 * 3600   # 0, 1800, 3 h, 7 h, 14.5 h, 22 h, 30 h
    assert (summary.messages_sent, summary.messages_responded) == (14, 7)
    text = str(summary)
    assert "answered within SLA (24 h): 43% (6 of 14 requests)" in text
    assert "median first response: 7 h" in text
    assert "open requests: 7 (7 past the SLA)" in text


def test_summaries_median_and_p90_by_channel_campaign_month(tracked):
    con, _ = tracked
    row = con.execute(
        "SELECT messages_sent, responses, median_response_seconds, p90_response_seconds "
        "FROM message_response_summary WHERE channel = 'email' AND campaign = 'primavara' "
        "AND month = DATE '2026-03-01'").fetchall()
    # a-appeal 2 d 8.5 h, a-followup 8.5 h, e-appeal 2 d 10 h (a gift)
    assert row[0][:2] == (3, 3)
    assert row[0][2] == 2 * 86400 + 8 * 3600 + 30 * 60
    sms = con.execute(
        "SELECT requests, answered, share_within_sla, median_first_response_seconds "
        "FROM request_response_summary WHERE channel = 'sms'").fetchall()
    assert sms == [(3, 1, pytest.approx(1 / 3, abs=1e-4), 1800.0)]


def test_summaries_breakdown_by_channel_campaign_and_month(tracked):
    con, _ = tracked
    rows = {r[:3]: r[3:] for r in con.execute(
        "SELECT direction, breakdown, value, items, responded, share_within_sla, median_seconds "
        "FROM response_time_breakdown").fetchall()}
    assert rows[("our_messages", "campaign", "gala")] == (3, 2, None, pytest.approx((4500 + 3 * 86400) / 2))
    assert rows[("our_messages", "channel", "sms")][:2] == (3, 1)
    assert rows[("our_messages", "month", "2026-03")][:2] == (14, 7)
    assert rows[("their_requests", "channel", "email")][:3] == (9, 5, pytest.approx(4 / 9, abs=1e-4))
    assert ("their_requests", "campaign", "gala") not in rows


def test_compute_response_times_idempotent_and_follows_new_data(tracked):
    con, _ = tracked
    before = con.execute("SELECT * FROM message_responses ORDER BY ALL").fetchall()
    answers = con.execute("SELECT * FROM request_answers ORDER BY ALL").fetchall()
    assert compute_response_times(con, Settings()).rows_changed == 0
    assert con.execute("SELECT * FROM message_responses ORDER BY ALL").fetchall() == before
    assert con.execute("SELECT * FROM request_answers ORDER BY ALL").fetchall() == answers
    # an earlier reply from Carmen turns up in a late mailbox export: it takes over
    con.execute(
        "INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, in_reply_to) "
        "VALUES ('email:c-zeroth', 3, 'email', 'inbound', 'message', '2026-03-03 08:30:00+00', "
        "'c-invite@asociatia-exemplu.ro')")
    assert compute_response_times(con, Settings()).rows_changed == 2   # one row out, one in
    assert response_of(con, "c-invite")[:2] == ("email:c-zeroth", "reply")
    assert con.execute("SELECT count(*) FROM message_responses WHERE message_id = 'c-invite'").fetchall()[0][0] == 1


def test_compute_response_times_writes_sla_hours_for_the_views(tracked):
    con, _ = tracked
    compute_response_times(con, Settings(tracking={"sla_hours": 36}))
    assert con.execute("SELECT value FROM settings WHERE key = 'sla_hours'").fetchall() == [("36",)]
    # Kiki's 30-hour answer is inside a 36-hour SLA
    assert answer_of(con, "email:k-question")[4] is False


# pure helpers

@pytest.mark.parametrize("headers, expected", [
    ({"Auto-Submitted": "auto-replied"}, True),
    ({"auto-submitted": "auto-generated; owner-email=x@example.org"}, True),
    ({"Auto-Submitted": "no"}, False),
    ({"Auto-Submitted": " No "}, False),
    ({"X-Autoreply": "yes"}, True),
    ({"X-Autorespond": "Vacation"}, True),
    ({"X-Autoreply": "no"}, False),
    ({"Precedence": "auto_reply"}, True),
    ({"Precedence": "bulk"}, True),
    ({"Precedence": "junk"}, True),
    ({"Precedence": "list"}, True),
    ({"Precedence": "first-class"}, False),
    ({"Subject": "Out of office", "From": "ana@example.org"}, False),
    ({}, False),
])
def test_is_auto_reply_headers(headers, expected):
    assert is_auto_reply(headers) is expected


def test_is_auto_reply_email_message():
    message = EmailMessage()
    message["From"] = "ana@example.org"
    message["Auto-Submitted"] = "auto-replied"
    assert is_auto_reply(message) is True


def test_working_calendar_skips_weekends_and_holidays_across_dst():
    calendar = working_calendar(date(2026, 3, 27), date(2026, 4, 14), "Europe/Bucharest", "RO")
    days = calendar["day"].to_list()
    assert date(2026, 3, 28) not in days                      # Saturday
    assert date(2026, 4, 10) not in days                      # Orthodox Good Friday
    assert date(2026, 4, 13) not in days                      # Orthodox Easter Monday
    first, after_dst = calendar.row(0, named=True), calendar.row(1, named=True)
    assert first["starts_at"] == utc("2026-03-27 07:00")      # 09:00 EET
    assert after_dst["day"] == date(2026, 3, 30)
    assert after_dst["starts_at"] == utc("2026-03-30 06:00")  # 09:00 EEST
    assert after_dst["worked_before_seconds"] == 8 * 3600


def test_working_calendar_unknown_country_or_zone_says_which_setting():
    with pytest.raises(CalendarError, match="tracking.holidays_country 'XX'"):
        working_calendar(date(2026, 1, 1), date(2026, 1, 9), "Europe/Bucharest", "XX")
    with pytest.raises(CalendarError, match="organisation.timezone 'Europe/Nowhere'"):
        working_calendar(date(2026, 1, 1), date(2026, 1, 9), "Europe/Nowhere", "RO")


def test_compute_response_times_bad_holidays_country_is_a_config_error(tracked):
    from legatura.flows.config import ConfigError

    con, _ = tracked
    with pytest.raises(ConfigError, match="tracking.holidays_country 'XX'"):
        compute_response_times(con, Settings(tracking={"business_hours": True, "holidays_country": "XX"}))
    # nothing half-written: the earlier results stand
    assert response_of(con, "c-invite")[0] == "email:c-first"


def test_describe_seconds():
    assert [describe_seconds(s) for s in (None, 45, 720, 3 * 3600, 3 * 3600 + 1200, 2 * 86400 + 4 * 3600)] == [
        "-", "45 s", "12 min", "3 h", "3 h 20 min", "2 d 4 h"]


# the real flow

@pytest.mark.prefect
def test_track_flow_runs_and_publishes_snapshot(prefect_api, settings, config):
    from legatura.flows.track import track_flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    con.execute(THREADS.read_text(encoding="utf-8"))
    con.close()
    # prefect read its settings when this module imported it, before the fixture set the URL
    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        summary = track_flow(config)
    assert summary.open_requests == 7
    snapshot = duckdb.connect(str(settings.warehouse.snapshot), read_only=True)
    try:
        assert snapshot.execute("SELECT count(*) FROM request_answers").fetchall() == [(7,)]
    finally:
        snapshot.close()
