-- The user's registration of this token, (re)started at the event's time.
INSERT INTO push_tokens (platform, token, user_id, device_id, registered_at_ms, removed_at_ms)
VALUES ($1, $2, $3, $4, $5, NULL)
ON CONFLICT (platform, token, user_id) DO UPDATE
SET device_id = EXCLUDED.device_id, registered_at_ms = EXCLUDED.registered_at_ms,
    removed_at_ms = NULL
WHERE push_tokens.registered_at_ms <= EXCLUDED.registered_at_ms
