-- Unread messages from $2 to $1, counted as Tencent's offline caps say: at
-- most $4 per conversation, and only if the conversation is among $1's $5
-- most recently active (its recent contacts).
WITH top AS (
    SELECT peer, conversation_id FROM recent_contacts
    WHERE user_id = $1
    ORDER BY last_at_ms DESC, peer
    LIMIT $5
)
SELECT count(*) FROM (
    SELECT 1 FROM messages m
    JOIN top ON top.conversation_id = m.conversation_id AND top.peer = $2
    WHERE m.conversation_id = $3 AND m.to_account = $1 AND m.counts_unread AND NOT m.recalled
      AND m.seq > COALESCE((SELECT read_seq FROM read_state WHERE user_id = $1 AND peer = $2), 0)
    LIMIT $4
) capped
