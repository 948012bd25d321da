-- $1's marked conversations (a standard or custom mark set), by peer, from
-- position $3 on (at most $2).
SELECT peer, standard_mark, custom_mark, marked_at_ms
FROM conversation_marks
WHERE user_id = $1 AND (standard_mark <> 0 OR custom_mark <> '')
ORDER BY peer
LIMIT $2 OFFSET $3
