-- Offline entries whose lifetime ended before $1, at most $2 of them, each
-- deleted through the primary key (see expire_messages.sql).
DELETE FROM inbox i
USING (
    SELECT user_id, cursor FROM inbox
    WHERE expires_at_ms < $1
    ORDER BY expires_at_ms
    LIMIT $2
) old
WHERE i.user_id = ANY (ARRAY[old.user_id]) AND i.cursor = ANY (ARRAY[old.cursor])
