"""What a template can use: one contact's flat row (warehouse/compose/context.sql) as nested variables."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

SALUTATIONS = {
    # (person with a name, person without, organisation with a liaison, organisation without)
    "ro": ("Dragă {first},", "Bună ziua,", "Bună ziua, {liaison},", "Stimați parteneri de la {org},"),
    "en": ("Dear {first},", "Hello,", "Dear {liaison},", "Dear friends at {org},"),
}


def first_name(full_name: str | None) -> str | None:
    """The given name, capitalised when a source wrote it all lower-case ("stefan radulescu" -> "Stefan")."""
    if not full_name or not full_name.strip():
        return None
    first = full_name.split()[0]
    return first.title() if first.islower() or first.isupper() else first


def salutation(language: str, kind: str, full_name: str | None, liaison: str | None, org: str | None) -> str:
    forms = SALUTATIONS.get(language, SALUTATIONS["en"])
    if kind == "organisation":
        if liaison:
            return forms[2].format(liaison=liaison.strip())
        return forms[3].format(org=(org or full_name or "").strip())
    first = first_name(full_name)
    return forms[0].format(first=first) if first else forms[1]


def _two_sided(value: str | None) -> dict:
    """responsibilities / contributions as {"ngo": ..., "partner": ...} (stored as JSON text)."""
    if not value:
        return {"ngo": None, "partner": None}
    try:
        data = json.loads(value)
    except ValueError:
        return {"ngo": None, "partner": value}
    return data if isinstance(data, dict) else {"ngo": None, "partner": str(data)}


def _gift(struct: dict | None) -> dict | None:
    if not struct:
        return None
    return {"amount": struct["amount"], "currency": struct["currency"], "date": struct["date"],
            "campaign": struct.get("campaign")}


def message_context(row: dict, base: dict) -> dict:
    """The template variables of one message: contact, giving, volunteering, partner, segments, ..."""
    language = row["language"]
    partner = row.get("partner")
    if partner:
        partner = {**partner, "contributions": _two_sided(partner.get("contributions")),
                   "responsibilities": _two_sided(partner.get("responsibilities"))}
    last_shift = row.get("last_shift")
    statement = row.get("statement")
    if statement:
        statement = {**statement, "gifts": [_gift(g) for g in statement.get("gifts") or []]}
    postal = row.get("postal_address")
    return {
        **base,
        "language": language,
        "channel": row["channel"],
        "contact": {
            "id": row["contact_id"],
            "name": row.get("full_name"),
            "first_name": first_name(row.get("full_name")),
            "salutation": salutation(language, row.get("kind") or "person", row.get("full_name"),
                                     (partner or {}).get("liaison"), (partner or {}).get("name")),
            "language": language,
            "kind": row.get("kind") or "person",
            "postal_address": postal.split("\n") if postal else None,
        },
        "giving": {
            "last_gift": _gift(row.get("last_gift")),
            "gift_count": row.get("gift_count") or 0,
            "first_gift_date": row.get("first_gift_date"),
            "total_this_year": row.get("total_this_year") or Decimal("0"),
            "total": row.get("total_all_time") or Decimal("0"),
            "base_currency": row.get("base_currency") or "RON",
        },
        "volunteering": {
            "hours_this_year": row.get("hours_this_year") or Decimal("0"),
            "shift_count": row.get("shift_count") or 0,
            "last_shift": last_shift or None,
            "activity": row.get("main_activity"),
        },
        "partner": partner or None,
        "segments": row.get("segments") or [],
        "gift": _gift(row.get("trigger_gift")),
        "shift": row.get("trigger_shift") or None,
        "statement": statement or None,
        "trigger_ref": row.get("trigger_ref"),
    }


def sample_row(channel: str, language: str) -> dict:
    """A contact with every variable filled: what `legatura check` renders every template with first."""
    gift = {"amount": Decimal("1234.50"), "currency": "RON", "date": date(2026, 11, 15),
            "campaign": "Campania de Crăciun 2026"}
    return {
        "decision_no": 0, "contact_id": 0, "trigger_ref": "sample:1", "channel": channel, "language": language,
        "address": "Str. Exemplu 1\n400000 Cluj-Napoca\nRomânia", "full_name": "Ana Exemplu", "kind": "person",
        "base_currency": "RON", "last_gift": gift, "gift_count": 3, "first_gift_date": date(2024, 3, 15),
        "total_this_year": Decimal("1384.50"), "total_all_time": Decimal("2100.00"),
        "hours_this_year": Decimal("12.5"), "shift_count": 5,
        "last_shift": {"date": date(2026, 11, 7), "activity": "Distribuție alimente", "hours": Decimal("3")},
        "main_activity": "Distribuție alimente",
        "partner": {"id": "ACP-1", "name": "Exemplu SRL", "type": "sponsor", "stage": "active",
                    "objectives": "Pâine zilnică pentru cantina socială",
                    "contributions": '{"ngo": "vizibilitate", "partner": "produse"}',
                    "responsibilities": '{"ngo": "raportează", "partner": "livrează"}',
                    "starts_on": date(2026, 3, 1), "ends_on": date(2027, 2, 28), "liaison": "Ioana Exemplu",
                    "cooperation_mechanism": "întâlnire trimestrială", "benefit_sharing": "vizibilitate publică"},
        "segments": ["donor_active"], "statement": {"year": 2025, "gifts": [gift, gift], "total": Decimal("2469.00"),
                                                    "currency": "RON"},
        "trigger_gift": gift, "trigger_shift": {"date": date(2026, 11, 7), "activity": "Distribuție alimente",
                                                "hours": Decimal("3")},
        "postal_address": "Str. Exemplu 1\n400000 Cluj-Napoca\nRomânia",
    }
