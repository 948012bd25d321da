-- ClearRamble: every message of conversation $1 stored so far leaves $2's
-- history (applied in log order, so later messages stay); the peer's side is
-- untouched.
UPDATE messages
SET hidden_from_sender = hidden_from_sender OR from_account = $2,
    hidden_from_recipient = hidden_from_recipient OR to_account = $2
WHERE conversation_id = $1
  AND ((from_account = $2 AND NOT hidden_from_sender)
       OR (to_account = $2 AND NOT hidden_from_recipient))
