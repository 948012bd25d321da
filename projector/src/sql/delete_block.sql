DELETE FROM blocks WHERE user_id = $1 AND blocked_id = $2
