-- The registered push tokens of one user.
SELECT platform, token FROM push_tokens WHERE user_id = $1 ORDER BY platform, token
