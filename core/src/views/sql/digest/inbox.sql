SELECT user_id, conversation_id,
       row_number() OVER (PARTITION BY user_id, conversation_id ORDER BY cursor) AS place,
       kind, seq, msg_key, expires_at_ms, reader
FROM inbox
