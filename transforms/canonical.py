"""The canonical frames every channel preset produces, and how they are conformed before loading."""
from __future__ import annotations

import polars as pl

UTC = pl.Datetime("us", "UTC")
AMOUNT = pl.Decimal(18, 2)   # money, exact to the cent: never a float (see transforms/text.py parse_amount)

# who a row is about; the loader resolves these into contact_id (prefix "liaison_" -> liaison_contact_id)
PARTY = {
    "email": pl.String,          # normalised (lower-case, trimmed, valid)
    "phone": pl.String,          # E.164
    "full_name": pl.String,
    "facebook_ref": pl.String,   # a Facebook thread path: the counterpart's only identity
    "contact_kind": pl.String,   # 'person' | 'organisation'
    "language": pl.String,
}
LIAISON = {"liaison_email": pl.String, "liaison_phone": pl.String, "liaison_full_name": pl.String}

TABLES: dict[str, dict[str, pl.DataType]] = {
    "interactions": {
        "interaction_id": pl.String, "channel": pl.String, "direction": pl.String, "kind": pl.String,
        "occurred_at": UTC, "subject": pl.String, "body": pl.String, "external_id": pl.String,
        "thread_ref": pl.String, "in_reply_to": pl.String, "references": pl.List(pl.String),
        "is_auto_reply": pl.Boolean, "awaits_answer": pl.Boolean, "campaign": pl.String,
        "address": pl.String, "source_line": pl.String, **PARTY,
    },
    "donations": {
        "donation_id": pl.String, "amount": AMOUNT, "currency": pl.String, "donated_at": UTC,
        "method": pl.String, "recurring": pl.Boolean, "campaign": pl.String, "source": pl.String,
        "external_id": pl.String, "source_line": pl.String, "postal_address": pl.String, **PARTY,
    },
    "refunds": {
        "refund_id": pl.String, "donation_id": pl.String, "amount": AMOUNT, "currency": pl.String,
        "refunded_at": UTC, "cumulative": pl.Boolean,
    },
    "shifts": {
        "shift_id": pl.String, "started_at": UTC, "hours": pl.Float64, "activity": pl.String,
        "source_line": pl.String, **PARTY,
    },
    "partners": {
        "partner_id": pl.String, "partner_name": pl.String, "partner_type": pl.String, "stage": pl.String,
        "objectives": pl.String, "responsibilities": pl.String, "contributions": pl.String,
        "starts_on": pl.Date, "ends_on": pl.Date, "cooperation_mechanism": pl.String,
        "benefit_sharing": pl.String, "liaison": pl.String, "notes": pl.String, "source_line": pl.String,
        "postal_address": pl.String, **PARTY, **LIAISON,
    },
    "consents": {
        "channel": pl.String, "address": pl.String, "status": pl.String, "recorded_at": UTC,
        "source": pl.String, **PARTY,
    },
    "suppressions": {
        "channel": pl.String, "address": pl.String, "reason": pl.String, "recorded_at": UTC,
        "source": pl.String,
    },
    # postal_address: lines joined by "\n", kept with the record that carried it (letters go there)
    "contacts": {"record_key": pl.String, "tags": pl.List(pl.String), "postal_address": pl.String, **PARTY},
    # records read and valid that by rule load nothing (a withdrawal): kept so their count adds up
    "ignored": {"record_key": pl.String, "reason": pl.String},
}

# the column whose value identifies a row across files (None: derived in the loader)
KEYS = {
    "interactions": "interaction_id", "donations": "donation_id", "refunds": "refund_id",
    "shifts": "shift_id", "partners": "partner_id", "consents": None, "suppressions": None,
    "contacts": "record_key",   # the source's id; the loader hashes the record when a preset gives none
    "ignored": "record_key",
}


# columns the warehouse requires; a preset that leaves them out gets these
DEFAULTS = {"is_auto_reply": False, "awaits_answer": False, "recurring": False, "cumulative": False}


class CanonicalFrameError(Exception):
    """A preset produced a frame that does not fit the canonical layout (a bug in the preset)."""


def conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Add missing canonical columns as nulls, cast to canonical types, keep record_no first."""
    spec = TABLES[table]
    if "record_no" not in frame.columns:
        raise CanonicalFrameError(f"{table} frame lacks record_no")
    unknown = set(frame.columns) - set(spec) - {"record_no"}
    if unknown:
        raise CanonicalFrameError(f"{table} frame has unknown columns {sorted(unknown)}")
    floats = [n for n, t in spec.items() if t == AMOUNT and n in frame.columns and frame.schema[n].is_float()]
    if floats:
        raise CanonicalFrameError(f"{table} frame carries money as a float ({', '.join(floats)}): parse amounts "
                                  "with legatura.transforms.text.parse_amount")
    exprs = [pl.col("record_no").cast(pl.Int64)]
    for name, dtype in spec.items():
        expr = pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype=dtype).alias(name)
        if name in DEFAULTS:
            expr = expr.fill_null(DEFAULTS[name])
        exprs.append(expr)
    return frame.select(exprs)
