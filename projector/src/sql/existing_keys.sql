SELECT m.conversation_id, m.msg_key
FROM messages m
JOIN unnest($1::text[], $2::text[]) AS k(conversation_id, msg_key)
  ON m.conversation_id = k.conversation_id AND m.msg_key = k.msg_key
