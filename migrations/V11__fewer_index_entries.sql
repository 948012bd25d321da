-- Fewer index entries per message (issue #17).
--
-- messages_by_time: history is read by seq through the primary key (paging
-- back with LastMsgKey, a time window as a filter), and a read mark walks
-- the conversation back from its newest message (mark_read.sql); no query
-- needs (conversation_id, sent_at_ms) any more. The janitor keeps
-- messages_by_age.
DROP INDEX messages_by_time;

-- recent_contacts_by_activity held last_at_ms, which every message changes:
-- each update of a contact wrote a new entry in it and in the primary key
-- (no HOT update possible). A user has at most recent_contacts_max contacts,
-- read through the primary key and sorted (a few dozen rows), so the order
-- needs no index; without it an update changes no indexed column.
DROP INDEX recent_contacts_by_activity;

-- Rows updated on every message (a contact, a conversation's counter, a
-- user's inbox cursor) or on every read: room on each page for the new
-- version, so the update stays on the page and touches no index (HOT).
-- Partitioned tables take no storage parameters; each partition does.
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT inhrelid::regclass FROM pg_inherits
        WHERE inhparent IN ('recent_contacts'::regclass, 'conversations'::regclass,
                            'inbox_cursors'::regclass, 'read_state'::regclass)
    LOOP
        EXECUTE format('ALTER TABLE %s SET (fillfactor = 80)', part);
    END LOOP;
END
$$;
