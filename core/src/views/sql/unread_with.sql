-- Unread messages from $2 to $1.
SELECT count(*) FROM messages m
WHERE m.conversation_id = $3 AND m.to_account = $1 AND m.counts_unread AND NOT m.recalled
  AND m.seq > COALESCE((SELECT read_seq FROM read_state WHERE user_id = $1 AND peer = $2), 0)
