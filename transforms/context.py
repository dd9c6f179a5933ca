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


def salutation(language: str, kind: str, full_name: str | None, liaison: str | None, org: str | None,
               first: str | None = None) -> str:
    """`first`: first_name(full_name), when the caller has it already."""
    forms = SALUTATIONS.get(language, SALUTATIONS["en"])
    if kind == "organisation":
        if liaison:
            return forms[2].format(liaison=liaison.strip())
        return forms[3].format(org=(org or full_name or "").strip())
    first = first or first_name(full_name)
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


def _partner(row: dict) -> dict | None:
    partner = row.get("partner")
    if not partner:
        return None
    return {**partner, "contributions": _two_sided(partner.get("contributions")),
            "responsibilities": _two_sided(partner.get("responsibilities"))}


def _contact(row: dict) -> dict:
    language, full, kind = row["language"], row.get("full_name"), row.get("kind") or "person"
    partner = row.get("partner") or {}
    first = first_name(full)
    postal = row.get("postal_address")
    return {
        "id": row["contact_id"],
        "name": full,
        "first_name": first,
        "salutation": salutation(language, kind, full, partner.get("liaison"), partner.get("name"), first),
        "language": language,
        "kind": kind,
        "postal_address": postal.split("\n") if postal else None,
    }


def _giving(row: dict) -> dict:
    return {
        "last_gift": _gift(row.get("last_gift")),
        "gift_count": row.get("gift_count") or 0,
        "first_gift_date": row.get("first_gift_date"),
        "total_this_year": row.get("total_this_year") or Decimal("0"),
        "total": row.get("total_all_time") or Decimal("0"),
        "base_currency": row.get("base_currency") or "RON",
    }


def _volunteering(row: dict) -> dict:
    return {
        "hours_this_year": row.get("hours_this_year") or Decimal("0"),
        "shift_count": row.get("shift_count") or 0,
        "last_shift": row.get("last_shift") or None,
        "activity": row.get("main_activity"),
    }


def _statement(row: dict) -> dict | None:
    statement = row.get("statement")
    if not statement:
        return None
    return {**statement, "gifts": [_gift(g) for g in statement.get("gifts") or []]}


# the template variables built from a row, each with the row columns (warehouse/compose/context.sql) it needs
SECTIONS = {
    "contact": (_contact, ("full_name", "kind", "postal_address", "partner")),
    "giving": (_giving, ("last_gift", "gift_count", "first_gift_date", "total_this_year", "total_all_time",
                         "base_currency")),
    "volunteering": (_volunteering, ("hours_this_year", "shift_count", "last_shift", "main_activity")),
    "partner": (_partner, ("partner",)),
    "segments": (lambda row: row.get("segments") or [], ("segments",)),
    "gift": (lambda row: _gift(row.get("trigger_gift")), ("trigger_gift",)),
    "shift": (lambda row: row.get("trigger_shift") or None, ("trigger_shift",)),
    "statement": (_statement, ("statement",)),
    "trigger_ref": (lambda row: row.get("trigger_ref"), ("trigger_ref",)),
}
ROW_KEYS = ("decision_no", "contact_id", "channel", "language")   # every row has these


def row_columns(sections) -> list[str]:
    """The context row columns that building `sections` (names of SECTIONS) needs."""
    return list(dict.fromkeys([*ROW_KEYS, *(c for name in sections for c in SECTIONS[name][1])]))


def message_context(row: dict, base: dict, sections=tuple(SECTIONS)) -> dict:
    """The template variables of one message: contact, giving, volunteering, partner, segments, ...

    Only `sections` are built (by default all): a campaign whose templates never read `volunteering` does
    not pay for it."""
    ctx = {**base, "language": row["language"], "channel": row["channel"]}
    for name in sections:
        ctx[name] = SECTIONS[name][0](row)
    return ctx


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
