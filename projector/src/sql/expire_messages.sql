-- Retention: the oldest history rows sent before $1, at most $2 of them.
-- Sequence counters (conversations.last_seq) are never touched.
DELETE FROM messages
WHERE (conversation_id, seq) IN (
    SELECT conversation_id, seq FROM messages
    WHERE sent_at_ms < $1
    ORDER BY sent_at_ms
    LIMIT $2
)
