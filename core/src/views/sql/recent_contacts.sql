-- $1's recent contacts, its $6 most recently active (the projector keeps a
-- few more until it trims them: views::contacts_trim_above), most recently
-- active first (pinned ones before the rest when $5), from position $3 on
-- (at most $2), each with its last
-- message (absent once retention removed it), its unread count capped at
-- $4 and whether it is pinned. The last message and the read mark
-- are looked up per contact by primary key (LATERAL with LIMIT: never a
-- hash join over a whole table).
SELECT c.peer, c.conversation_id, c.last_seq, c.last_msg_key, c.last_at_ms,
       m.from_account, m.to_account, m.msg_random, m.msg_seq, m.sent_at_ms,
       m.body, m.cloud_custom_data, m.sender_nickname, m.sender_avatar_url, m.recalled,
       (SELECT count(*) FROM (
            SELECT 1 FROM messages u
            WHERE u.conversation_id = c.conversation_id AND u.to_account = $1
              AND u.counts_unread AND NOT u.recalled
              AND u.seq > COALESCE(r.read_seq, 0)
            LIMIT $4) capped) AS unread,
       COALESCE(k.pinned, false) AS pinned,
       COALESCE(m.receipt_read_at_ms IS NOT NULL OR m.seq <= (
            SELECT r.read_seq FROM read_state r
            WHERE r.user_id = m.to_account AND r.peer = m.from_account), false) AS peer_read,
       COALESCE(m.need_read_receipt, false)
FROM (
    SELECT * FROM recent_contacts
    WHERE user_id = $1
    ORDER BY last_at_ms DESC, peer
    LIMIT $6
) c
LEFT JOIN LATERAL (
    SELECT * FROM messages m
    WHERE m.conversation_id = c.conversation_id AND m.seq = c.last_seq
    LIMIT 1
) m ON true
LEFT JOIN LATERAL (
    SELECT r.read_seq FROM read_state r
    WHERE r.user_id = c.user_id AND r.peer = c.peer
    LIMIT 1
) r ON true
LEFT JOIN LATERAL (
    SELECT k.pinned FROM conversation_marks k
    WHERE k.user_id = c.user_id AND k.peer = c.peer
    LIMIT 1
) k ON true
ORDER BY ($5 AND COALESCE(k.pinned, false)) DESC, c.last_at_ms DESC, c.peer
LIMIT $2 OFFSET $3
