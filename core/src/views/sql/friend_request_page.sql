-- $1's pending requests, received ($2) or sent (not $2), oldest first, from
-- the $3-th, at most $4: the other user, the source, the wording and the time.
SELECT CASE WHEN $2 THEN requester_id ELSE target_id END, add_source, add_wording, requested_at_ms
FROM friend_requests
WHERE ($2 AND target_id = $1) OR (NOT $2 AND requester_id = $1)
ORDER BY requested_at_ms, 1
OFFSET $3 LIMIT $4
