"""The facebook preset: page message threads, mojibake repaired, the counterpart known by its thread."""
from __future__ import annotations

from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels import facebook

DATA = Path(__file__).parent / "data" / "facebook"
EXPORT = "facebook/facebook-asociatiaexemplu-2026-11-10-Pq7LmZ02"
THREAD = "messages/inbox/andreipopescu_1111111111111111/message_1.json"
FIRST = DATA / "facebook-asociatiaexemplu-2026-11-20-AAAA"
LATER = DATA / "facebook-asociatiaexemplu-2026-12-01-BBBB"


def test_facebook_repair_mojibake_keeps_real_text():
    assert facebook.repair_mojibake("Mul\u00c8\u009bumesc \u00f0\u009f\u0099\u008f") == "Mulțumesc 🙏"
    assert facebook.repair_mojibake("Mulțumesc") == "Mulțumesc"      # already text: left as it is
    assert facebook.repair_mojibake("café") == "café"                # latin-1 that is no UTF-8: kept
    assert facebook.repair_mojibake({"a": ["\u00c4\u0083", 3]}) == {"a": ["ă", 3]}


def test_facebook_parse_thread_with_emoji_and_attachments():
    raw = (FIRST / THREAD).read_bytes()
    assert facebook.detect("message_1.json", raw[:4096])
    result = facebook.parse(raw, str(FIRST / THREAD), Settings())
    rows = result.frames["interactions"].sort("occurred_at")
    assert (result.records_read, rows.height, result.rows_quarantined) == (5, 4, 1)
    assert rows["body"].to_list() == [
        "Mulțumesc pentru tot ce faceți! 🙏 ȘTiț", "[photo]", "Cu drag! Vă așteptăm sâmbătă 😊💚", "[attachment]"]
    assert rows["direction"].to_list() == ["inbound", "inbound", "outbound", "inbound"]
    assert rows["awaits_answer"].to_list() == [True, True, False, True]
    assert set(rows["thread_ref"]) == set(rows["facebook_ref"]) == {"inbox/andreipopescu_1111111111111111"}
    assert set(rows["full_name"]) == {"Andrei Popescu"}
    assert str(rows["occurred_at"][0]) == "2026-11-06 21:20:00+00:00"
    assert all(i.startswith("facebook:") for i in rows["interaction_id"])
    [missing] = result.quarantine.to_dicts()
    assert missing["line_or_key"] == "inbox/andreipopescu_1111111111111111#3"
    assert missing["reason"] == "message without a numeric timestamp_ms"


def test_facebook_page_name_matched_after_folding():
    raw = (FIRST / THREAD).read_bytes()
    page = Settings(organisation={"facebook_page": "ASOCIAŢIA EXEMPLU "})   # cedilla, capitals, a space
    rows = facebook.parse(raw, "message_1.json", page).frames["interactions"]
    assert rows.filter(rows["direction"] == "outbound").height == 1


def test_facebook_not_a_thread_raises_named_error():
    raw = (DATA / "not_a_thread" / "messages" / "message_1.json").read_bytes()
    assert not facebook.detect("message_1.json", raw)
    try:
        facebook.parse(raw, "message_1.json", Settings())
    except facebook.NotAFacebookThread as exc:
        assert "expected a JSON object with 'participants' and 'messages'" in str(exc)
    else:
        raise AssertionError("no NotAFacebookThread")


def test_facebook_sample_export_folder(ingest, warehouse, formats):
    summaries = ingest(formats / EXPORT)
    assert [s.channel for s in summaries] == ["facebook"] * 3
    assert sum(s.rows_read for s in summaries) == sum(s.rows_ingested for s in summaries) == 7
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 3
    body = warehouse.execute(
        "SELECT body FROM interactions WHERE direction = 'outbound' AND thread_ref LIKE '%snzianamurean%'"
    ).fetchone()[0]
    assert body == "Bună ziua! Da, vă așteptăm la ora 10, pe str. Memorandumului 12. Mulțumim! 💚"
    # the page is never a contact
    assert warehouse.execute("SELECT count(*) FROM contacts WHERE full_name LIKE 'Asocia%'").fetchone()[0] == 0


def test_facebook_later_download_adds_only_new_messages(ingest, warehouse):
    [first] = ingest(FIRST)
    assert (first.rows_read, first.rows_ingested, first.rows_quarantined) == (5, 4, 1)
    [later] = ingest(LATER)
    assert (later.rows_read, later.rows_ingested, later.rows_duplicate, later.rows_quarantined) == (6, 1, 4, 1)
    assert warehouse.execute("SELECT count(*) FROM interactions").fetchone()[0] == 5
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1


def test_facebook_same_name_is_not_the_stripe_donor(ingest, warehouse, formats):
    ingest(formats / "stripe" / "unified_payments_2026-11-12.csv", channel="stripe")
    ingest(formats / EXPORT)
    andreis = warehouse.execute(
        "SELECT c.email, i.identity_type FROM contacts c JOIN contact_identities i USING (contact_id) "
        "WHERE c.full_name ILIKE 'andrei popescu' ORDER BY 2").fetchall()
    assert andreis == [("andrei.popescu@gmail.com", "email"), (None, "facebook")]
    assert warehouse.execute("SELECT count(*) FROM contact_merges").fetchone()[0] == 0


def test_facebook_file_that_is_no_thread_is_quarantined_whole(ingest, warehouse):
    [summary] = ingest(DATA / "not_a_thread", channel="facebook")
    assert (summary.status, summary.rows_read, summary.rows_quarantined) == ("failed", 1, 1)
    reason = warehouse.execute("SELECT reason FROM quarantine").fetchone()[0]
    assert reason.startswith("file could not be read") and "not a Facebook messages thread" in reason
