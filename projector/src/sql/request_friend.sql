-- $1 asks $2; a newer request replaces an older one.
INSERT INTO friend_requests (target_id, requester_id, both_ways, remark, groups, add_source, add_wording, requested_at_ms)
VALUES ($2, $1, $3, $4, $5, $6, $7, $8)
ON CONFLICT (target_id, requester_id) DO UPDATE
SET both_ways = EXCLUDED.both_ways,
    remark = EXCLUDED.remark,
    groups = EXCLUDED.groups,
    add_source = EXCLUDED.add_source,
    add_wording = EXCLUDED.add_wording,
    requested_at_ms = EXCLUDED.requested_at_ms
