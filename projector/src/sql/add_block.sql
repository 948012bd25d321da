INSERT INTO blocks (user_id, blocked_id, added_at_ms) VALUES ($1, $2, $3)
ON CONFLICT (user_id, blocked_id) DO NOTHING
