-- A user's blocklist, oldest block first, from position $2.
SELECT blocked_id, added_at_ms FROM blocks
WHERE user_id = $1
ORDER BY added_at_ms, blocked_id
OFFSET $2 LIMIT $3
