-- A device has one token per platform: a new one ends the registrations of
-- the tokens it had before (vendors rotate tokens).
UPDATE push_tokens SET removed_at_ms = $5
WHERE user_id = $1 AND device_id = $2 AND platform = $3 AND token <> $4
  AND removed_at_ms IS NULL AND registered_at_ms <= $5
