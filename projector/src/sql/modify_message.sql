UPDATE messages
SET body = COALESCE($3, body),
    cloud_custom_data = COALESCE($4, cloud_custom_data),
    edited = true
WHERE conversation_id = $1 AND msg_key = $2 AND NOT recalled
RETURNING seq, from_account, to_account, hidden_from_recipient
