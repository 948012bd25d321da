-- Requests between $1 and $2, either way: answered, or ended by a block.
DELETE FROM friend_requests
WHERE (target_id = $1 AND requester_id = $2) OR (target_id = $2 AND requester_id = $1)
