-- The user a push token currently belongs to: its newest registration, if
-- that one is not removed.
SELECT user_id FROM (
    SELECT user_id, removed_at_ms FROM push_tokens
    WHERE platform = $1 AND token = $2
    ORDER BY registered_at_ms DESC, user_id
    LIMIT 1
) newest
WHERE removed_at_ms IS NULL
