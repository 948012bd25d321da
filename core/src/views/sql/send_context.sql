-- Everything a send from $3 to $4 is decided on, in one round trip: the
-- message if this is a retry, the sender's profile, and how the two stand.
SELECT
    (SELECT sent_at_ms FROM messages WHERE conversation_id = $1 AND msg_key = $2),
    (SELECT nickname   FROM profiles WHERE user_id = $3),
    (SELECT avatar_url FROM profiles WHERE user_id = $3),
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $4 AND blocked_id = $3),
    EXISTS (SELECT 1 FROM friends WHERE user_id = $3 AND friend_id = $4),
    EXISTS (SELECT 1 FROM friends WHERE user_id = $4 AND friend_id = $3),
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $3 AND blocked_id = $4)
