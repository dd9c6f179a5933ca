"""`legatura why`: each campaign decision about a person, in words an NGO can show a regulator."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

REASONS = {
    "no_consent": "no opt-in on any address of the channel(s) offered (marketing needs one)",
    "opted_out": "the person opted out (the latest choice on that channel is an opt-out)",
    "bounced": "every usable address hard-bounced or was cleaned",
    "erased": "an erasure request (GDPR art. 17) covers this person",
    "frequency_cap": "the frequency cap: enough marketing messages in the rolling window already",
    "no_address": "no address on any channel the campaign offers",
    "template_error": "the template could not be rendered for this person",
    "sms_too_long": "the SMS would exceed the campaign's max_sms_segments",
}
CHANNEL_REASONS = {
    "preferred": "their stated preferred channel",
    "last_used": "the channel they last wrote to us on",
    "first_allowed": "the campaign's first channel that consent allows",
}


def _when(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if value else "?"


def explain_rows(contact: dict, rows: list[dict], timezone: str) -> list[str]:
    """Lines explaining every message row of a contact (from warehouse/compose/why.sql)."""
    tz = ZoneInfo(timezone)
    segments = ", ".join(contact.get("segments") or []) or "none"
    lines = [f"contact {contact['contact_id']}: {contact.get('full_name') or '(no name)'} "
             f"(language {contact.get('language') or '?'}); segments now: {segments}"]
    if not rows:
        lines.append("  no campaign has decided anything about this person yet")
    for r in rows:
        purpose = "marketing" if r["is_marketing"] else "transactional"
        trigger = f", triggered by {r['trigger_ref']}" if r["trigger_ref"] else ""
        lines.append(f"- {r['campaign_run']} ({purpose}): {r['status'].upper()}")
        lines.append(f"    audience: {r['audience_segment']}{trigger}")
        if r["status"] == "suppressed":
            reason = r["suppression_reason"]
            lines.append(f"    stopped by: {reason} — {REASONS.get(reason, reason)}")
            if r["channel_reason"] and r["channel_reason"] not in CHANNEL_REASONS:
                lines.append(f"    per channel: {r['channel_reason']}")
            if r["error"]:
                lines.append(f"    detail: {r['error']}")
            continue
        why_channel = CHANNEL_REASONS.get(r["channel_reason"], r["channel_reason"])
        lines.append(f"    channel: {r['channel']} to {_one_line(r['address'])} — {why_channel}; language {r['language']}")
        if r["consent_source"]:
            lines.append(f"    consent: opted in {r['consent_address']} via {r['consent_source']} at "
                         f"{_when(r['consent_recorded_at'], tz)} (the latest choice on that address)")
        elif r["channel"] == "letter":
            lines.append("    consent: a postal letter needs no opt-in; no objection or erasure is recorded")
        else:
            lines.append("    consent: transactional, no opt-in needed; no opt-out, bounce or erasure is recorded")
        lines.append(f"    send after: {_when(r['send_after'], tz)}"
                     + (f"; sent {_when(r['sent_at'], tz)}" if r["sent_at"] else ""))
    return lines


def _one_line(address: str | None) -> str:
    return (address or "?").replace("\n", ", ")
