-- Login; the latest session of a device wins.
INSERT INTO presence (user_id, device_id, instance_id, platform, connected_at_ms, heartbeat_at_ms)
VALUES ($1, $2, $3, $4, $5, $5)
ON CONFLICT (user_id, device_id) DO UPDATE
SET instance_id = EXCLUDED.instance_id, platform = EXCLUDED.platform,
    heartbeat_at_ms = EXCLUDED.heartbeat_at_ms,
    connected_at_ms = CASE WHEN presence.instance_id = EXCLUDED.instance_id
                           THEN presence.connected_at_ms ELSE EXCLUDED.connected_at_ms END
