"""Writing who a batch's records are about: merges of contacts, new contacts and identities, filled blanks, tags."""
from __future__ import annotations

import polars as pl
from legatura.transforms import identity
from legatura.transforms.records import tags_by_contact

# tables whose contact_id columns follow a merge
CONTACT_COLUMNS = [
    ("interactions", "contact_id"), ("donations", "contact_id"), ("volunteer_shifts", "contact_id"),
    ("partners", "contact_id"), ("partners", "liaison_contact_id"), ("messages", "contact_id"),
    ("segment_history", "contact_id"), ("contact_identities", "contact_id"), ("contacts", "organisation_id"),
    ("contact_records", "contact_id"),
]


def apply_merges(con, merges: pl.DataFrame, source: str) -> None:
    """Merge contacts the batch showed to be one: the kept one takes over every row of the merged one."""
    if merges.height == 0:
        return
    con.register("batch_merges", merges.to_arrow())
    # the kept contact takes what it lacks from the merged one
    fill_contact_blanks(con, """
        SELECT b.kept_contact_id AS contact_id, first(c.full_name) AS full_name, first(c.email) AS email,
               first(c.phone) AS phone, first(c.language) AS language, NULL AS kind
        FROM batch_merges b JOIN contacts c ON c.contact_id = b.merged_contact_id
        GROUP BY b.kept_contact_id""")
    con.execute("""
        INSERT INTO contact_merges (kept_contact_id, merged_contact_id, shared_identity, source_file, merged_contact_name)
        SELECT b.kept_contact_id, b.merged_contact_id, b.shared_identity, ?, c.full_name
        FROM batch_merges b LEFT JOIN contacts c ON c.contact_id = b.merged_contact_id""", [source])
    con.execute("""
        DELETE FROM segment_membership s USING batch_merges b
        WHERE s.contact_id = b.merged_contact_id
          AND EXISTS (SELECT 1 FROM segment_membership k
                      WHERE k.contact_id = b.kept_contact_id AND k.segment = s.segment)""")
    con.execute("""
        UPDATE segment_membership SET contact_id = b.kept_contact_id FROM batch_merges b
        WHERE segment_membership.contact_id = b.merged_contact_id""")
    for table, column in CONTACT_COLUMNS:
        con.execute(f"""
            UPDATE {table} SET {column} = b.kept_contact_id FROM batch_merges b
            WHERE {table}.{column} = b.merged_contact_id""")
    con.execute("DELETE FROM contacts WHERE contact_id IN (SELECT merged_contact_id FROM batch_merges)")
    con.unregister("batch_merges")


def apply_contacts(con, resolution: identity.Resolution, source: str, default_language: str) -> None:
    """Insert the batch's new contacts and identities and fill known contacts' blanks."""
    if resolution.new_contacts.height:
        con.register("batch_contacts", resolution.new_contacts.to_arrow())
        # a contact's language is the organisation's until a source says otherwise
        con.execute("""
            INSERT INTO contacts (contact_id, full_name, email, phone, language, kind, first_source)
            SELECT contact_id, full_name, email, phone, coalesce(language, ?), kind, ?
            FROM batch_contacts""", [default_language, source])
        con.unregister("batch_contacts")
    if resolution.contact_updates.height:
        con.register("batch_updates", resolution.contact_updates.to_arrow())
        fill_contact_blanks(con, "SELECT contact_id, full_name, email, phone, language, kind FROM batch_updates")
        con.unregister("batch_updates")
    if resolution.new_identities.height:
        con.register("batch_identities", resolution.new_identities.to_arrow())
        con.execute("""
            INSERT INTO contact_identities (identity_type, identity_value, contact_id, source_file)
            SELECT identity_type, identity_value, contact_id, ? FROM batch_identities""", [source])
        con.unregister("batch_identities")


def fill_contact_blanks(con, source_sql: str) -> None:
    """Give contacts what they lack (name, email, phone, language) from `source_sql`'s rows of the same
    contact_id; a contact seen as an organisation becomes one. What a contact has is never overwritten."""
    con.execute(f"""
        UPDATE contacts SET
            full_name = coalesce(contacts.full_name, u.full_name),
            email = coalesce(contacts.email, u.email),
            phone = coalesce(contacts.phone, u.phone),
            language = coalesce(contacts.language, u.language),
            kind = CASE WHEN u.kind = 'organisation' THEN 'organisation' ELSE contacts.kind END,
            updated_at = now()
        FROM ({source_sql}) u
        WHERE contacts.contact_id = u.contact_id
          AND (contacts.full_name IS NULL AND u.full_name IS NOT NULL
               OR contacts.email IS NULL AND u.email IS NOT NULL
               OR contacts.phone IS NULL AND u.phone IS NOT NULL
               OR contacts.language IS NULL AND u.language IS NOT NULL
               OR u.kind = 'organisation' AND contacts.kind <> 'organisation')""")


def apply_contact_tags(con, frame: pl.DataFrame) -> None:
    """Add the tags a contacts frame gives to its contacts' tags."""
    tagged = tags_by_contact(frame)
    if tagged.height == 0:
        return
    con.register("batch_tags", tagged.to_arrow())
    con.execute("""
        UPDATE contacts SET tags = list_sort(list_distinct(list_concat(coalesce(contacts.tags, []), t.tags)))
        FROM batch_tags t WHERE contacts.contact_id = t.contact_id""")
    con.unregister("batch_tags")
