-- A heartbeat whose row is missing (presence_beat.sql did not find it):
-- written again as if at login, unless another instance's row is there
-- now (the device logged in there since: the latest login wins).
INSERT INTO presence (user_id, device_id, instance_id, platform, connected_at_ms, heartbeat_at_ms)
VALUES ($1, $2, $3, $4, $5, $5)
ON CONFLICT (user_id, device_id) DO NOTHING
