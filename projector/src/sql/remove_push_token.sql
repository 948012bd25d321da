-- Ends this user's registration of the token (a later registration, by them
-- or anyone, is untouched).
UPDATE push_tokens SET removed_at_ms = $4
WHERE platform = $1 AND token = $2 AND user_id = $3
  AND removed_at_ms IS NULL AND registered_at_ms <= $4
