"""Identity resolution: email or phone, transitive, never by name alone, kept right as files arrive."""
from __future__ import annotations

import random
from pathlib import Path

import polars as pl
from legatura.transforms import identity
from legatura.transforms.identity import resolve

PARTY_SCHEMA = {"rec": pl.Int64, "email": pl.String, "phone": pl.String, "facebook_ref": pl.String,
                "full_name": pl.String, "contact_kind": pl.String, "language": pl.String}
KNOWN_SCHEMA = {"identity_type": pl.String, "identity_value": pl.String, "contact_id": pl.Int64}


def parties(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([(i, *r, None, None) for i, r in enumerate(rows)], schema=PARTY_SCHEMA, orient="row")


def test_resolve_chain_through_phone_is_one_contact():
    batch = parties(("a@x.ro", None, None, "Ana"), ("a@x.ro", "+40722123456", None, None),
                    ("b@y.ro", "+40722123456", None, "Ana M."))
    result = resolve(batch, pl.DataFrame(schema=KNOWN_SCHEMA), next_contact_id=1)
    assert result.record_contacts.get_column("contact_id").to_list() == [1, 1, 1]
    assert result.new_contacts.select("contact_id", "full_name", "email", "phone").rows() == [
        (1, "Ana", "a@x.ro", "+40722123456")]
    assert result.new_identities.height == 3


def test_resolve_same_name_alone_never_merges():
    batch = parties(("andrei.popescu@gmail.com", None, None, "Andrei Popescu"),
                    ("andreipopescu@gmail.com", "+40752111999", None, "Andrei Popescu"),
                    (None, None, "inbox/andreipopescu_1", "Andrei Popescu"))
    result = resolve(batch, pl.DataFrame(schema=KNOWN_SCHEMA), next_contact_id=10)
    assert sorted(result.record_contacts.get_column("contact_id").to_list()) == [10, 11, 12]


def test_resolve_late_record_merges_two_existing_contacts_into_the_oldest():
    known = pl.DataFrame([("email", "a@x.ro", 3), ("phone", "+40722123456", 8)], schema=KNOWN_SCHEMA,
                         orient="row")
    result = resolve(parties(("a@x.ro", "+40722123456", None, None)), known, next_contact_id=20)
    assert result.record_contacts.get_column("contact_id").to_list() == [3]
    assert result.merges.rows() == [(3, 8, "phone:+40722123456")]
    assert result.new_contacts.height == 0


def test_resolve_record_without_identity_names_nobody():
    result = resolve(parties((None, None, None, "Anonim")), pl.DataFrame(schema=KNOWN_SCHEMA), 1)
    assert result.record_contacts.get_column("contact_id").to_list() == [None]
    assert result.new_contacts.height == 0


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


STRIPE_HEADER = "id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email,Customer Description\n"


def test_late_file_merges_contacts_and_their_history_follows(ingest, warehouse, tmp_path):
    ingest(_write(tmp_path / "s1.csv", STRIPE_HEADER
                  + "ch_1,2026-01-05 10:00:00,100.00,0.00,ron,Paid,ana@x.ro,Ana Mărginean\n"), channel="stripe")
    ingest(_write(tmp_path / "v1.csv", "date,email,phone,name,hours,activity\n"
                  "2026-02-01,,0722 123 456,Ana Mărginean,3,Distribuție alimente\n"), channel="volunteers")
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 2
    # same name, no shared identity: listed for review, not merged
    assert warehouse.execute("SELECT count(*) FROM possible_duplicates").fetchone()[0] == 1
    [summary] = ingest(_write(tmp_path / "v2.csv", "date,email,phone,name,hours,activity\n"
                              "2026-03-01, Ana@X.ro ,+40 722 123 456,Ana,2,Strângere de fonduri\n"),
                       channel="volunteers")
    assert summary.contacts_merged == 1
    [(contact_id, email, phone)] = warehouse.execute("SELECT contact_id, email, phone FROM contacts").fetchall()
    assert (email, phone) == ("ana@x.ro", "+40722123456")
    merge = warehouse.execute(
        "SELECT kept_contact_id, shared_identity FROM contact_merges").fetchall()
    assert merge == [(contact_id, "phone:+40722123456")]
    # the gift and both shifts now belong to the one contact
    assert warehouse.execute("SELECT count(DISTINCT contact_id) FROM "
                             "(SELECT contact_id FROM donations UNION ALL SELECT contact_id FROM volunteer_shifts"
                             " UNION ALL SELECT contact_id FROM interactions)").fetchone()[0] == 1
    assert warehouse.execute("SELECT count(*) FROM possible_duplicates").fetchone()[0] == 0
    from legatura.warehouse.db import check_invariants

    assert check_invariants(warehouse) == {}


def test_own_addresses_never_become_contacts(ingest, warehouse, tmp_path):
    ingest(_write(tmp_path / "s.csv", STRIPE_HEADER
                  + "ch_1,2026-01-05 10:00:00,100.00,0.00,ron,Paid,Donatii@Asociatia-Exemplu.ro,Noi\n"),
           channel="stripe")
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    assert warehouse.execute("SELECT count(*) FROM contact_identities").fetchone()[0] == 0


def test_components_of_one_key_per_node_equal_label_propagation():
    """The shortcut for graphs whose every node has one key (a batch of texts) gives propagation's labels."""
    rng = random.Random(3)
    for _ in range(100):
        n = rng.randrange(1, 300)
        keys = max(1, n // rng.choice([1, 2, 5]))
        edges = pl.DataFrame({"node": rng.sample(range(-500, 500), n),
                              "key": [f"phone:{rng.randrange(keys)}" for _ in range(n)]},
                             schema={"node": pl.Int64, "key": pl.String})
        # one edge twice: the same graph, but no longer one key per node, so propagated
        propagated = identity._components(pl.concat([edges, edges.head(1)])).sort("node")
        assert identity._components(edges).sort("node").equals(propagated)
