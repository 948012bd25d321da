-- Live devices of the given users.
SELECT user_id, platform FROM presence
WHERE user_id = ANY($1) AND heartbeat_at_ms > $2
ORDER BY user_id, connected_at_ms
