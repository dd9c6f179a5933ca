"""Identity resolution: records sharing a normalised email or phone are one person, transitively."""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

KEY_COLUMNS = {"email": "email", "phone": "phone", "facebook_ref": "facebook"}


@dataclass
class Resolution:
    """What one batch of records does to the contact graph."""

    record_contacts: pl.DataFrame   # rec, contact_id (null: the record names nobody)
    new_contacts: pl.DataFrame      # contact_id, full_name, email, phone, language, kind
    new_identities: pl.DataFrame    # identity_type, identity_value, contact_id
    merges: pl.DataFrame            # kept_contact_id, merged_contact_id, shared_identity
    contact_updates: pl.DataFrame   # contact_id, full_name, email, phone, language, kind (fill blanks)


def drop_own_identities(parties: pl.DataFrame, own_domains: set[str], own_phones: set[str],
                        own_page: str | None) -> pl.DataFrame:
    """The NGO's own addresses, numbers and page are never a contact's identity."""
    # the part after the last '@' is one of the domains (no list per address: this runs over every record)
    own_email = pl.any_horizontal([pl.col("email").str.ends_with(f"@{d}") for d in own_domains if "@" not in d]
                                  or [pl.lit(False)])
    return parties.with_columns(
        email=pl.when(own_email).then(None).otherwise(pl.col("email")),
        phone=pl.when(pl.col("phone").is_in(list(own_phones))).then(None).otherwise(pl.col("phone")),
        full_name=pl.when(pl.col("full_name") == (own_page or "\x00")).then(None).otherwise(pl.col("full_name")),
    )


def _key() -> pl.Expr:
    return pl.concat_str([pl.col("identity_type"), pl.lit(":"), pl.col("identity_value")]).alias("key")


def identity_edges(parties: pl.DataFrame, id_column: str = "rec") -> pl.DataFrame:
    """(id, identity_type, identity_value, key) for every identity a record carries; key is 'type:value'."""
    parts = [
        parties.select(pl.col(id_column), pl.lit(kind).alias("identity_type"), pl.col(col).alias("identity_value"))
        for col, kind in KEY_COLUMNS.items()
    ]
    return pl.concat(parts).drop_nulls("identity_value").with_columns(_key()).unique([id_column, "key"])


FIELDS = {"full_name": "full_name", "email": "email", "phone": "phone", "language": "language",
          "contact_kind": "kind"}   # party column -> contact column, first non-null value wins


def party_combos(parties: pl.DataFrame) -> pl.DataFrame:
    """Records grouped by their (email, phone, facebook_ref): a big export repeats its donors.

    One row per combination in order of first appearance (`combo`), with its records (`recs`) and, per
    contact field, its first non-null value and the record that gave it (`<field>_rec`).
    """
    return parties.group_by(list(KEY_COLUMNS), maintain_order=True).agg(
        recs=pl.col("rec"),
        **{field: pl.col(field).drop_nulls().first() for field in FIELDS if field not in KEY_COLUMNS},
        # (email and phone are the group's keys: their value is the combination's own)
        **{f"{field}_rec": pl.col("rec").filter(pl.col(field).is_not_null()).first() for field in FIELDS},
    ).with_row_index("combo").with_columns(pl.col("combo").cast(pl.Int64))


def identity_keys(combos: pl.DataFrame) -> pl.DataFrame:
    """Every distinct (identity_type, identity_value) of the records' combinations (`party_combos`)."""
    return pl.concat([
        combos.select(pl.col(col).alias("identity_value")).drop_nulls().unique()
        .select(pl.lit(kind).alias("identity_type"), "identity_value")
        for col, kind in KEY_COLUMNS.items()
    ])


def _components(edges: pl.DataFrame) -> pl.DataFrame:
    """Connected components of a bipartite node/key graph by min-label propagation: node -> label."""
    if edges.get_column("node").is_unique().all():
        # each node has one key (a batch of texts: one phone each): a component is the nodes of one key
        return edges.with_columns(label=pl.col("node").min().over("key")).select("node", "label")
    labels = edges.select("node").unique().with_columns(label=pl.col("node"))
    while True:
        key_label = edges.join(labels, on="node").group_by("key").agg(pl.col("label").min())
        new = (
            edges.join(key_label, on="key").group_by("node").agg(pl.col("label").min())
        )
        merged = labels.join(new, on="node", suffix="_new").with_columns(
            label=pl.min_horizontal("label", "label_new")
        ).select("node", "label")
        # labels only ever decrease: an unchanged sum means nothing moved
        if merged.get_column("label").sum() == labels.get_column("label").sum():
            return merged
        labels = merged


def resolve(parties: pl.DataFrame, existing: pl.DataFrame, next_contact_id: int,
            combos: pl.DataFrame | None = None) -> Resolution:
    """Resolve a batch of party records against the identities already in the warehouse.

    parties: rec, email, phone, facebook_ref, full_name, contact_kind, language (own identities dropped).
    existing: identity_type, identity_value, contact_id for the batch's identities already known.
    combos: `party_combos(parties)` when the caller has it. Records with the same (email, phone,
    facebook_ref) are resolved once: the work follows the distinct people, not the rows.
    """
    combos = party_combos(parties) if combos is None else combos
    result = _resolve_combos(identity_edges(combos, "combo"), existing, next_contact_id)
    combo_contacts = combos.join(result["combo_contacts"], on="combo", how="left")
    record_contacts = (combo_contacts.select("recs", "contact_id").explode("recs")
                       .select(rec=pl.col("recs"), contact_id=pl.col("contact_id")).sort("rec"))
    # each field's first non-null value over the contact's records, in record order
    first_values = (
        combo_contacts.drop_nulls("contact_id")
        .group_by("contact_id")
        .agg(first_rec=pl.col("recs").list.first().min(),
             **{column: pl.col(field).sort_by(f"{field}_rec", nulls_last=True).first()
                for field, column in FIELDS.items()})
        .sort("first_rec").drop("first_rec")
    )
    new_ids = result["new_ids"]
    return Resolution(
        record_contacts=record_contacts,
        new_contacts=first_values.join(new_ids, on="contact_id", how="semi").with_columns(
            kind=pl.col("kind").fill_null("person")),
        new_identities=result["new_identities"],
        merges=result["merges"],
        contact_updates=first_values.join(new_ids, on="contact_id", how="anti"),
    )


def _resolve_combos(edges: pl.DataFrame, existing: pl.DataFrame, next_contact_id: int) -> dict:
    """Components over (identity combination, key) edges plus the existing contacts' keys."""
    combos = edges.select("combo").unique()
    known = existing.with_columns(_key())
    # nodes: combinations (>= 0) and existing contacts (-contact_id - 1), both linked to their keys
    combo_edges = edges.select(node=pl.col("combo"), key=pl.col("key"))
    contact_edges = known.select(node=-pl.col("contact_id") - 1, key=pl.col("key"))
    graph = pl.concat([combo_edges, contact_edges]).unique()
    if graph.height == 0:
        return {
            "combo_contacts": pl.DataFrame(schema={"combo": pl.Int64, "contact_id": pl.Int64}),
            "new_ids": pl.DataFrame(schema={"contact_id": pl.Int64}),
            "new_identities": pl.DataFrame(schema={"identity_type": pl.String, "identity_value": pl.String,
                                                   "contact_id": pl.Int64}),
            "merges": pl.DataFrame(schema={"kept_contact_id": pl.Int64, "merged_contact_id": pl.Int64,
                                           "shared_identity": pl.String}),
        }
    labels = _components(graph.with_columns(pl.col("node").cast(pl.Int64)))
    contact_nodes = labels.filter(pl.col("node") < 0).with_columns(contact_id=-pl.col("node") - 1)
    # the oldest (smallest id) existing contact of a component is kept
    kept = contact_nodes.group_by("label").agg(kept_contact_id=pl.col("contact_id").min())
    fresh_labels = (
        labels.filter(pl.col("node") >= 0).select("label").unique()
        .join(kept, on="label", how="anti").sort("label")
        .with_row_index("n").with_columns(kept_contact_id=pl.col("n").cast(pl.Int64) + next_contact_id)
        .select("label", "kept_contact_id")
    )
    label_contact = pl.concat([kept, fresh_labels])
    combo_contacts = (
        combos.join(labels.rename({"node": "combo"}), on="combo", how="left")
        .join(label_contact, on="label", how="left")
        .select("combo", contact_id=pl.col("kept_contact_id"))
    )
    merged = contact_nodes.join(kept, on="label").filter(pl.col("contact_id") != pl.col("kept_contact_id"))
    merges = (
        merged.join(contact_edges.with_columns(contact_id=-pl.col("node") - 1), on="contact_id")
        .group_by("kept_contact_id", "contact_id").agg(shared_identity=pl.col("key").min())
        .select("kept_contact_id", merged_contact_id=pl.col("contact_id"), shared_identity=pl.col("shared_identity"))
        .sort("kept_contact_id", "merged_contact_id")
    )
    new_identity_edges = edges.join(known.select("key"), on="key", how="anti")
    new_identities = (
        new_identity_edges.join(combo_contacts, on="combo")
        .unique("key", keep="first")
        .select("identity_type", "identity_value", "contact_id")
    )
    return {
        "combo_contacts": combo_contacts,
        "new_ids": fresh_labels.select(contact_id="kept_contact_id"),
        "new_identities": new_identities,
        "merges": merges,
    }
