-- One page of a conversation as `$2` sees it for admin_getroammsg: by message
-- time, newest first (Tencent orders one-to-one history by time, then
-- MsgSeq; imports land at their MsgTimeStamp whatever order they came in),
-- ties by seq; between two times (ms, inclusive) and strictly before the
-- position ($5 time, $6 seq) of the previous page's last message.
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
  AND (sent_at_ms, seq) < ($5, $6)
  AND NOT (from_account = $2 AND hidden_from_sender)
  AND NOT (to_account = $2 AND hidden_from_recipient)
ORDER BY sent_at_ms DESC, seq DESC
LIMIT $7
