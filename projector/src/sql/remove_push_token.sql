-- Removes the token only while it is still this user's registration from
-- before the removal (a token re-registered since, or moved to another user,
-- stays).
DELETE FROM push_tokens
WHERE platform = $1 AND token = $2 AND user_id = $3 AND registered_at_ms <= $4
