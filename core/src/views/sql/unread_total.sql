-- Unread messages to $1 from everyone, within the offline caps: at most $2
-- per conversation, over $1's $3 most recently active conversations.
SELECT COALESCE(sum(u.n), 0)::bigint
FROM (
    SELECT peer, conversation_id FROM recent_contacts
    WHERE user_id = $1
    ORDER BY last_at_ms DESC, peer
    LIMIT $3
) c
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM messages m
        WHERE m.conversation_id = c.conversation_id AND m.to_account = $1
          AND m.counts_unread AND NOT m.recalled
          AND m.seq > COALESCE((SELECT read_seq FROM read_state
                                WHERE user_id = $1 AND peer = c.peer), 0)
        LIMIT $2
    ) capped
) u
