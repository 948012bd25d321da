-- $1's pending requests, received ($2) or sent (not $2), oldest first, from
-- the $3-th, at most $4: the other user, the source, the wording and the time.
-- Two branches, one per direction, each bounded by an index (the primary
-- key for received requests, friend_requests_sent for sent ones); `$2`
-- gates them, so a generic plan runs one and never scans the table, as a
-- single `($2 AND ...) OR (NOT $2 AND ...)` filter could.
SELECT requester_id AS other, add_source, add_wording, requested_at_ms
FROM friend_requests WHERE $2 AND target_id = $1
UNION ALL
SELECT target_id, add_source, add_wording, requested_at_ms
FROM friend_requests WHERE NOT $2 AND requester_id = $1
ORDER BY requested_at_ms, other
OFFSET $3 LIMIT $4
