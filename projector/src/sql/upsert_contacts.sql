-- One row per (user, peer) in the arrays (the caller merges a batch's
-- messages first). The newest seq names the last message; activity time only
-- moves forward. Returns the users who gained a contact (and may now have
-- too many): every CTE sees the rows as they were before the upsert.
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[])
        AS b(user_id, peer, conversation_id, last_seq, last_msg_key, last_at_ms)
), known AS (
    SELECT c.user_id, c.peer FROM recent_contacts c JOIN batch USING (user_id, peer)
), upsert AS (
    INSERT INTO recent_contacts AS c (user_id, peer, conversation_id, last_seq, last_msg_key, last_at_ms)
    SELECT * FROM batch
    ON CONFLICT (user_id, peer) DO UPDATE
    SET last_msg_key = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_msg_key
                            ELSE c.last_msg_key END,
        last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq),
        last_at_ms = GREATEST(c.last_at_ms, EXCLUDED.last_at_ms)
    RETURNING user_id, peer
)
SELECT DISTINCT u.user_id FROM upsert u
WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.user_id = u.user_id AND k.peer = u.peer)
