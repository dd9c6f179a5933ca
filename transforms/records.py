"""Frame work between parsing and the warehouse: who each row is about, record keys, tags per contact."""
from __future__ import annotations

import polars as pl

from .canonical import KEYS, PARTY
from .text import row_hash

# frames whose rows are about nobody in particular (a refund folds into its gift; a suppression is an address)
ABOUT_NOBODY = ("refunds", "suppressions", "ignored")


def _party_frame(frame: pl.DataFrame, prefix: str, offset: int) -> pl.DataFrame:
    """The party columns of one frame (its liaison's with `prefix`), rows numbered `rec` from `offset`."""
    exprs = [
        (pl.col(f"{prefix}{name}") if f"{prefix}{name}" in frame.columns else pl.lit(None, dtype=dtype)).alias(name)
        for name, dtype in PARTY.items()
    ]
    if prefix:  # a partner's liaison is a person
        exprs[list(PARTY).index("contact_kind")] = pl.lit("person").alias("contact_kind")
    return frame.select(exprs).with_row_index("rec", offset=offset).with_columns(pl.col("rec").cast(pl.Int64))


def party_frame(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]]]:
    """Everybody the frames' rows are about, one row each (`rec`), and where each frame's rows are in it."""
    parts, slices, offset = [], {}, 0
    for name, frame in frames.items():
        for prefix in [""] + (["liaison_"] if name == "partners" else []):
            if prefix == "" and name in ABOUT_NOBODY:
                continue
            parts.append(_party_frame(frame, prefix, offset))
            slices[(name, prefix)] = (offset, frame.height)
            offset += frame.height
    return (pl.concat(parts) if parts else _party_frame(pl.DataFrame(), "", 0).clear()), slices


def with_contact_ids(frames: dict[str, pl.DataFrame], slices: dict[tuple[str, str], tuple[int, int]],
                     record_contacts: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Each frame with contact_id (and liaison_contact_id) from the resolution's `rec` -> contact_id."""
    contact_of = record_contacts.sort("rec").get_column("contact_id")
    out = {}
    for name, frame in frames.items():
        for prefix in ("", "liaison_"):
            if (name, prefix) in slices:
                start, height = slices[(name, prefix)]
                frame = frame.with_columns(contact_of.slice(start, height).alias(f"{prefix}contact_id"))
        out[name] = frame
    return out


def with_record_keys(frame: pl.DataFrame, channel: str) -> pl.DataFrame:
    """Contacts-only records without a source id are keyed by a hash of what they say."""
    if frame.get_column("record_key").null_count() == 0:
        return frame
    hashed = row_hash(frame.with_columns(tags=pl.col("tags").list.sort().list.join(",")),
                      ["email", "phone", "facebook_ref", "full_name", "contact_kind", "language", "tags"],
                      f"{channel}:contact:")
    return frame.with_columns(record_key=pl.coalesce(pl.col("record_key"), hashed))


def with_keys(name: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """The frame and the key columns that identify its rows in the warehouse table."""
    if name == "consents":
        frame = frame.with_columns(event_id=pl.concat_str(
            [pl.col("channel"), pl.col("address"), pl.col("status"),
             pl.col("recorded_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.f"), pl.col("source")], separator="|"))
        return frame, ["event_id"]
    if name == "suppressions":
        return frame, ["channel", "address"]
    return frame, [KEYS[name]]


def tags_by_contact(frame: pl.DataFrame) -> pl.DataFrame:
    """Every tag a contacts frame gives each contact, distinct and sorted."""
    return (frame.filter(pl.col("tags").list.len() > 0).drop_nulls("contact_id")
            .group_by("contact_id").agg(pl.col("tags").explode().drop_nulls().unique().sort()))
