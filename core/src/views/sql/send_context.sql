-- Everything a send from $3 to $4 is decided on, in one round trip: the
-- message if this is a retry, the sender's profile, how the two stand, and
-- the two accounts' states (imported, deleted, the sender's mute).
SELECT
    (SELECT sent_at_ms FROM messages WHERE conversation_id = $1 AND msg_key = $2),
    (SELECT nickname   FROM profiles WHERE user_id = $3),
    (SELECT avatar_url FROM profiles WHERE user_id = $3),
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $4 AND blocked_id = $3),
    EXISTS (SELECT 1 FROM friends WHERE user_id = $3 AND friend_id = $4),
    EXISTS (SELECT 1 FROM friends WHERE user_id = $4 AND friend_id = $3),
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $3 AND blocked_id = $4),
    EXISTS (SELECT 1 FROM profiles WHERE user_id = $3 AND imported),
    EXISTS (SELECT 1 FROM profiles WHERE user_id = $4 AND imported),
    EXISTS (SELECT 1 FROM account_states WHERE user_id = $3 AND deleted_at_ms IS NOT NULL),
    EXISTS (SELECT 1 FROM account_states WHERE user_id = $4 AND deleted_at_ms IS NOT NULL),
    COALESCE((SELECT c2c_muted_until_ms FROM account_states WHERE user_id = $3), 0)
