-- Offline entries whose lifetime ended before $1, at most $2 of them.
DELETE FROM inbox
WHERE (user_id, cursor) IN (
    SELECT user_id, cursor FROM inbox
    WHERE expires_at_ms < $1
    ORDER BY expires_at_ms
    LIMIT $2
)
