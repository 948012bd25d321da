UPDATE messages SET recalled = true, body = '[]'::jsonb, cloud_custom_data = ''
WHERE conversation_id = $1 AND msg_key = $2 AND NOT recalled
RETURNING seq, from_account, to_account, hidden_from_recipient
