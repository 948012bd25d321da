-- The requests to $1 pending from each of $2.
SELECT requester_id, both_ways, remark, groups, add_source, add_wording, requested_at_ms
FROM friend_requests WHERE target_id = $1 AND requester_id = ANY($2)
