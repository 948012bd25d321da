-- Of the messages $2 in conversation $1: each one's recipient, and whether
-- it asked for a read receipt (and still stands).
SELECT msg_key, to_account, need_read_receipt AND NOT recalled
FROM messages
WHERE conversation_id = $1 AND msg_key = ANY($2)
