-- A user's inbox after a cursor, with the messages it points to. Entries that
-- arrived before the device logged in are offered only while their offline
-- lifetime lasts; later ones were pushed live and are always served.
-- Each entry's message is looked up by primary key (a LATERAL subquery with
-- LIMIT is planned per row: never a hash join over all of `messages`).
SELECT i.cursor, i.kind, i.conversation_id, i.seq, i.msg_key,
       m.from_account, m.to_account, m.msg_random, m.msg_seq, m.sent_at_ms,
       m.body, m.cloud_custom_data, m.sender_nickname, m.sender_avatar_url, i.reader,
       COALESCE(m.recalled, false),
       COALESCE(m.receipt_read_at_ms IS NOT NULL OR m.seq <= (
            SELECT r.read_seq FROM read_state r
            WHERE r.user_id = m.to_account AND r.peer = m.from_account), false),
       COALESCE(m.need_read_receipt, false)
FROM inbox i
LEFT JOIN LATERAL (
    SELECT * FROM messages m
    WHERE m.conversation_id = i.conversation_id AND m.seq = i.seq
    LIMIT 1
) m ON true
WHERE i.user_id = $1
  AND i.cursor > $2
  AND (i.expires_at_ms > $3 OR i.cursor > $4)
  -- Entries about messages retention has removed are skipped.
  AND (m.seq IS NOT NULL OR i.kind = 'read')
ORDER BY i.cursor
LIMIT $5
