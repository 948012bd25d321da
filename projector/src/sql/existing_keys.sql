-- Which of the batch's messages are stored already (retries). One index
-- probe per message: a LATERAL subquery with LIMIT is planned per row, so
-- PostgreSQL cannot turn this into a hash join that reads every partition
-- of `messages` (which it does for a plain join once the batch is large
-- against the table: the cost would grow with the history stored).
SELECT k.conversation_id, k.msg_key
FROM unnest($1::text[], $2::text[]) AS k(conversation_id, msg_key)
CROSS JOIN LATERAL (
    SELECT 1 FROM messages m
    WHERE m.conversation_id = k.conversation_id AND m.msg_key = k.msg_key
    LIMIT 1
) stored
