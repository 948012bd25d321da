-- What waited for a device while it was offline: a user's inbox entries in
-- ($2, $3] whose offline lifetime lasts past $4, within Tencent's caps: the
-- $5 conversations with the newest entries, and in each the $6 newest
-- messages (recalls and edits of those conversations always pass). The rest
-- stays in history for the client to pull. Messages are looked up by
-- primary key, per entry (see inbox_after.sql).
WITH pending AS (
    SELECT i.cursor, i.kind, i.conversation_id, i.seq, i.msg_key, i.reader,
           row_number() OVER (PARTITION BY i.conversation_id, i.kind = 'message'
                              ORDER BY i.cursor DESC) AS newest_first
    FROM inbox i
    WHERE i.user_id = $1 AND i.cursor > $2 AND i.cursor <= $3 AND i.expires_at_ms > $4
), kept_conversations AS (
    SELECT conversation_id FROM pending
    GROUP BY conversation_id
    ORDER BY max(cursor) DESC
    LIMIT $5
)
SELECT i.cursor, i.kind, i.conversation_id, i.seq, i.msg_key,
       m.from_account, m.to_account, m.msg_random, m.msg_seq, m.sent_at_ms,
       m.body, m.cloud_custom_data, m.sender_nickname, m.sender_avatar_url, i.reader,
       COALESCE(m.recalled, false),
       COALESCE(m.receipt_read_at_ms IS NOT NULL OR m.seq <= (
            SELECT r.read_seq FROM read_state r
            WHERE r.user_id = m.to_account AND r.peer = m.from_account), false),
       COALESCE(m.need_read_receipt, false)
FROM pending i
JOIN kept_conversations USING (conversation_id)
LEFT JOIN LATERAL (
    SELECT * FROM messages m
    WHERE m.conversation_id = i.conversation_id AND m.seq = i.seq
    LIMIT 1
) m ON true
WHERE (i.kind <> 'message' OR i.newest_first <= $6)
  AND (m.seq IS NOT NULL OR i.kind = 'read')
ORDER BY i.cursor
