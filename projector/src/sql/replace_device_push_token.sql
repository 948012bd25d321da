-- A device has one token per platform: a new one replaces the one it had
-- (vendors rotate tokens). Same user, so same partition: ordered.
DELETE FROM push_tokens
WHERE user_id = $1 AND device_id = $2 AND platform = $3 AND token <> $4
  AND registered_at_ms <= $5
