-- Heartbeat of this instance's sessions ($1 users, $2 their devices, sorted;
-- $3 this instance, $4 now): refreshes the rows their logins wrote. A row
-- another instance holds now (the device logged in there since) is not
-- taken back. Returns the rows refreshed; the caller rewrites a missing one
-- (presence_upsert.sql) if its session is still here.
UPDATE presence p SET heartbeat_at_ms = $4
FROM unnest($1::text[], $2::text[]) AS b(user_id, device_id)
WHERE p.user_id = b.user_id AND p.device_id = b.device_id AND p.instance_id = $3
RETURNING p.user_id, p.device_id
