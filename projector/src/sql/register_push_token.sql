-- A token belongs to the newest registration (by event time, so the result
-- does not depend on the order partitions are replayed in): re-registering it
-- for another user or device moves it.
INSERT INTO push_tokens (platform, token, user_id, device_id, registered_at_ms)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (platform, token) DO UPDATE
SET user_id = EXCLUDED.user_id, device_id = EXCLUDED.device_id,
    registered_at_ms = EXCLUDED.registered_at_ms
WHERE push_tokens.registered_at_ms <= EXCLUDED.registered_at_ms
