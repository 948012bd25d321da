INSERT INTO friends (user_id, friend_id, added_at_ms) VALUES ($1, $2, $3)
ON CONFLICT (user_id, friend_id) DO NOTHING
