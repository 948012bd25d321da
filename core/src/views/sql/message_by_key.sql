SELECT seq, sent_at_ms FROM messages WHERE conversation_id = $1 AND msg_key = $2
