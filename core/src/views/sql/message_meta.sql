SELECT from_account, to_account, recalled FROM messages WHERE conversation_id = $1 AND msg_key = $2
