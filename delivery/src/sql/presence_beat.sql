-- Heartbeat of this instance's sessions ($1 users, $2 their devices, sorted;
-- $3 this instance, $4 now): refreshes the rows that name this instance.
-- Returns the rows refreshed; the caller restores a missing one
-- (presence_restore.sql) if its session is still here. A row naming another
-- instance (the device logged in there since) is left to it.
UPDATE presence p SET heartbeat_at_ms = $4
FROM unnest($1::text[], $2::text[]) AS b(user_id, device_id)
WHERE p.user_id = b.user_id AND p.device_id = b.device_id AND p.instance_id = $3
RETURNING p.user_id, p.device_id
