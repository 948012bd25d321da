-- One page of a conversation as `$2` sees it, newest first, between two
-- times (ms, inclusive) and strictly before seq `$5`.
SELECT seq, msg_key, from_account, to_account, msg_random, msg_seq, sent_at_ms,
       body, cloud_custom_data, sender_nickname, sender_avatar_url, recalled,
       -- Read by its recipient: their read position covers it, or they sent
       -- a read receipt for it (Tencent IsPeerRead).
       (receipt_read_at_ms IS NOT NULL OR seq <= COALESCE((
            SELECT r.read_seq FROM read_state r
            WHERE r.user_id = to_account AND r.peer = from_account), 0)) AS peer_read,
       need_read_receipt
FROM messages
WHERE conversation_id = $1
  AND sent_at_ms BETWEEN $3 AND $4
  AND seq < $5
  AND NOT (from_account = $2 AND hidden_from_sender)
  AND NOT (to_account = $2 AND hidden_from_recipient)
ORDER BY seq DESC
LIMIT $6
