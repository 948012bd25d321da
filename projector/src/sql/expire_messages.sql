-- Retention: the oldest history rows sent before $1, at most $2 of them.
-- Sequence counters (conversations.last_seq) are never touched. Each row is
-- deleted through the primary key (`= ANY (ARRAY[...])` is not a hashable
-- join clause, so this never becomes a hash join over the whole table).
DELETE FROM messages m
USING (
    SELECT conversation_id, seq FROM messages
    WHERE sent_at_ms < $1
    ORDER BY sent_at_ms
    LIMIT $2
) old
WHERE m.conversation_id = ANY (ARRAY[old.conversation_id]) AND m.seq = ANY (ARRAY[old.seq])
