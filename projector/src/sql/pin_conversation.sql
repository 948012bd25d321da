-- ConversationPinned: $1 pins ($3) or unpins their conversation with $2.
INSERT INTO conversation_marks AS k (user_id, peer, pinned)
VALUES ($1, $2, $3)
ON CONFLICT (user_id, peer) DO UPDATE SET pinned = EXCLUDED.pinned
