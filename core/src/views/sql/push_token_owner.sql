-- The user a push token is registered to, if any.
SELECT user_id FROM push_tokens WHERE platform = $1 AND token = $2
