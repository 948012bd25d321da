-- Everything a send from $3 to $4 is decided on, in one round trip: the
-- message if this is a retry, the sender's profile, how the two stand, and
-- the two accounts' states (imported, deleted, the sender's mute). Each
-- account's profile and state rows are probed once (issue #17: this runs
-- for every send, and on a large database each probe is a few more pages).
SELECT
    (SELECT sent_at_ms FROM messages WHERE conversation_id = $1 AND msg_key = $2),
    sp.nickname,
    sp.avatar_url,
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $4 AND blocked_id = $3),
    EXISTS (SELECT 1 FROM friends WHERE user_id = $3 AND friend_id = $4),
    EXISTS (SELECT 1 FROM friends WHERE user_id = $4 AND friend_id = $3),
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $3 AND blocked_id = $4),
    COALESCE(sp.imported, false),
    COALESCE(rp.imported, false),
    COALESCE(sa.deleted_at_ms IS NOT NULL, false),
    COALESCE(ra.deleted_at_ms IS NOT NULL, false),
    COALESCE(sa.c2c_muted_until_ms, 0)
FROM (VALUES (1)) AS one (x)
LEFT JOIN profiles       sp ON sp.user_id = $3
LEFT JOIN profiles       rp ON rp.user_id = $4
LEFT JOIN account_states sa ON sa.user_id = $3
LEFT JOIN account_states ra ON ra.user_id = $4
