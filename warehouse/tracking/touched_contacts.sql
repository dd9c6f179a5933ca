-- grain: one row per contact whose response times the changes since the last tracking run can move
with new_interactions as (
    select contact_id, channel, direction, external_id, message_id
    from interactions
    where ingested_at > (select interactions_until from tracking_since)
),

new_outbound as (
    select * from new_interactions where direction = 'outbound'
),

touched as (
    -- a new interaction: its contact's requests, answers and responses
    select contact_id from new_interactions
    union all
    -- a new delivery record or Sent-folder copy of our message decides whether that message answered
    select m.contact_id from new_outbound i join messages m on m.message_id = i.message_id
    union all
    select m.contact_id from new_outbound i join messages m on m.smtp_message_id = i.external_id
    where i.channel = 'email'
    union all
    -- a merge moved the merged contact's rows to the kept one
    select kept_contact_id from contact_merges where merged_at > (select merges_until from tracking_since)
    union all
    -- a message composed, sent, moved to another contact or removed: its contact before and after
    select contact_id from tracking_changed_messages
    union all
    select previous_contact_id from tracking_changed_messages
    union all
    -- whoever's interactions name a changed message (it may now be marketing, or recorded)
    select i.contact_id from interactions i join tracking_changed_messages c on i.message_id = c.message_id
    union all
    select i.contact_id from interactions i join tracking_changed_messages c on i.external_id = c.smtp_message_id
    where i.channel = 'email'
    union all
    select i.contact_id from interactions i
    join tracking_changed_messages c on i.external_id = c.previous_smtp_message_id
    where i.channel = 'email'
    union all
    -- a gift added, refunded or moved
    select contact_id from tracking_changed_donations
    union all
    select previous_contact_id from tracking_changed_donations
)

select distinct contact_id from touched where contact_id is not null
