-- One row per (user, peer) in the arrays (the caller merges a batch's
-- messages first). The newest seq names the last message; activity time only
-- moves forward. Counts each user's new contacts (recent_contact_counts) and
-- returns the users now past $7 (the cap and its slack:
-- views::contacts_trim_above), to be trimmed to the cap (prune_contacts.sql).
-- A row the upsert inserted has no xmax (an updated one carries this
-- transaction's), so telling new pairs from known ones costs no second probe.
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[])
        AS b(user_id, peer, conversation_id, last_seq, last_msg_key, last_at_ms)
), upsert AS (
    INSERT INTO recent_contacts AS c (user_id, peer, conversation_id, last_seq, last_msg_key, last_at_ms)
    SELECT * FROM batch
    ON CONFLICT (user_id, peer) DO UPDATE
    SET last_msg_key = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_msg_key
                            ELSE c.last_msg_key END,
        last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq),
        last_at_ms = GREATEST(c.last_at_ms, EXCLUDED.last_at_ms)
    RETURNING c.user_id, c.xmax = 0 AS inserted
), gained AS (
    SELECT user_id, count(*) AS n FROM upsert WHERE inserted GROUP BY user_id
), counted AS (
    INSERT INTO recent_contact_counts AS r (user_id, contacts)
    SELECT user_id, n FROM gained ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET contacts = r.contacts + EXCLUDED.contacts
    RETURNING user_id, contacts
)
SELECT user_id FROM counted WHERE contacts > $7
