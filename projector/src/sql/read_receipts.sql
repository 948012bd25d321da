-- MessageReceiptsSent: $2 read the messages $3 of conversation $1 that asked
-- for a receipt, at $4. Returns each message marked now (not before), for
-- the sender's inbox entry.
UPDATE messages
SET receipt_read_at_ms = $4
WHERE conversation_id = $1 AND msg_key = ANY($3) AND to_account = $2
  AND need_read_receipt AND receipt_read_at_ms IS NULL
RETURNING seq, msg_key
