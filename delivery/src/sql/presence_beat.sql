-- Heartbeat of this instance's sessions ($1 users, $2 their devices, sorted;
-- $3 this instance, $4 now): refreshes the rows that name this instance.
-- Returns the rows refreshed. A row not refreshed (missing because the
-- login's write failed, or naming another instance where the device logged
-- in since) is written again by the caller with presence_upsert.sql if its
-- session is still here: the latest session of a device wins, as with the
-- per-session heartbeat this replaces.
UPDATE presence p SET heartbeat_at_ms = $4
FROM unnest($1::text[], $2::text[]) AS b(user_id, device_id)
WHERE p.user_id = b.user_id AND p.device_id = b.device_id AND p.instance_id = $3
RETURNING p.user_id, p.device_id
