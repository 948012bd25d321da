-- ConversationMarked: bits $3 set, then bits $4 cleared; the custom mark
-- replaced by $5 unless it is NULL; at $6 (event time).
INSERT INTO conversation_marks AS k (user_id, peer, standard_mark, custom_mark, marked_at_ms)
VALUES ($1, $2, $3::bigint & ~$4::bigint, COALESCE($5::text, ''), $6)
ON CONFLICT (user_id, peer) DO UPDATE
SET standard_mark = (k.standard_mark | $3::bigint) & ~$4::bigint,
    custom_mark   = COALESCE($5::text, k.custom_mark),
    marked_at_ms  = $6
