-- The rows the *_matches views read for the contacts in tracking_scope. A contact's matches read
-- only its own rows but for two look-ups: whether an outbound interaction of theirs names a
-- marketing message (anyone's), and whether one of their sent messages is recorded by an outbound
-- interaction (anyone's, or no one's); those rows come too, and the results they give other
-- contacts are discarded (scope_keys.sql). New interactions without a contact still get deadlines.

-- grain: one row per message of a contact in scope
CREATE OR REPLACE TEMP TABLE scoped_own_messages AS
select m.* from tracking_messages m semi join tracking_scope s using (contact_id);

-- grain: one row per interaction of a contact in scope, new without a contact, or recording one of
-- their messages; their rows are found over narrow columns first, then fetched whole in one scan
CREATE OR REPLACE TEMP TABLE scoped_interactions AS
with wanted as (
    select i.rowid as source_row from interactions i semi join tracking_scope s using (contact_id)
    union
    select rowid from interactions
    where contact_id is null and ingested_at > (select interactions_until from tracking_since)
    union
    select i.rowid from interactions i semi join scoped_own_messages m on i.message_id = m.message_id
    where i.direction = 'outbound'
    union
    select i.rowid from interactions i semi join scoped_own_messages m on i.external_id = m.smtp_message_id
    where i.direction = 'outbound' and i.channel = 'email'
)

select i.* exclude (source_row) from tracking_interactions i semi join wanted w using (source_row);

-- grain: one row per message of a contact in scope, or named by an outbound interaction of theirs
-- (by message_id, the messages' key: those of their own messages are here already; or by Message-ID)
CREATE OR REPLACE TEMP TABLE scoped_messages AS
with named as (
    select message_id, external_id, channel
    from scoped_interactions
    where direction = 'outbound' and contact_id in (select contact_id from tracking_scope)
),

named_ids as (
    select message_id from named where message_id is not null
    except
    select message_id from scoped_own_messages
),

named_smtp_ids as (
    select external_id from named where channel = 'email' and external_id is not null
)

select * from scoped_own_messages
union
select m.* from tracking_messages m semi join named_ids n using (message_id)
union
select m.* from tracking_messages m semi join named_smtp_ids n on m.smtp_message_id = n.external_id;

-- grain: one row per gift of a contact in scope
CREATE OR REPLACE TEMP TABLE scoped_donations AS
select d.* from tracking_donations d semi join tracking_scope s using (contact_id);

-- grain: one row per message whose response is recomputed (of a contact in scope, or removed)
CREATE OR REPLACE TEMP TABLE tracking_message_keys AS
select message_id from scoped_own_messages
union
select message_id from tracking_changed_messages where removed;

-- grain: one row per interaction whose answer and deadline are recomputed
CREATE OR REPLACE TEMP TABLE tracking_request_keys AS
select interaction_id from scoped_interactions where contact_id in (select contact_id from tracking_scope)
union
select interaction_id from scoped_interactions where contact_id is null
   and interaction_id in (select interaction_id from interactions
                          where ingested_at > (select interactions_until from tracking_since));

-- the *_matches views now read only these rows
CREATE OR REPLACE TEMP VIEW tracking_messages AS FROM scoped_messages;
CREATE OR REPLACE TEMP VIEW tracking_interactions AS FROM scoped_interactions;
CREATE OR REPLACE TEMP VIEW tracking_donations AS FROM scoped_donations;
