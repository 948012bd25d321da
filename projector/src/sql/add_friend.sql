-- $2 joins $1's list with $1's entry for it; a request from $1 to $2 is
-- fulfilled by it. An existing entry is kept as it is.
WITH fulfilled AS (
    DELETE FROM friend_requests WHERE target_id = $2 AND requester_id = $1
)
INSERT INTO friends (user_id, friend_id, added_at_ms, remark, groups, add_source, add_wording, custom)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (user_id, friend_id) DO NOTHING
