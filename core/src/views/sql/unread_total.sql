-- Unread messages to $1 from everyone.
SELECT count(*) FROM messages m
LEFT JOIN read_state r ON r.user_id = m.to_account AND r.peer = m.from_account
WHERE m.to_account = $1 AND m.counts_unread AND NOT m.recalled
  AND m.seq > COALESCE(r.read_seq, 0)
