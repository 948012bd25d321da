-- One row per (user, peer) in the arrays (the caller merges a batch's
-- messages first). The newest seq names the last message; activity time only
-- moves forward. Returns the users who gained a contact (and may now have
-- too many): the probe sees the rows as they were before the upsert (one
-- snapshot per statement), one index probe per pair (LATERAL with LIMIT:
-- never a hash join over the whole table, see existing_keys.sql).
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
)
SELECT DISTINCT b.user_id FROM batch b
LEFT JOIN LATERAL (
    SELECT true AS known FROM recent_contacts c
    WHERE c.user_id = b.user_id AND c.peer = b.peer
    LIMIT 1
) k ON true
WHERE k.known IS NULL
