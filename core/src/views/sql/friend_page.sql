-- $1's friends from the $2-th (by friend id), at most $3, each with how
-- many there are in all; past the end, one row of nulls with the count.
SELECT f.friend_id, f.remark, f.groups, f.add_source, f.add_wording, f.added_at_ms, f.custom, c.n
FROM (SELECT count(*) AS n FROM friends WHERE user_id = $1) c
LEFT JOIN LATERAL (
    SELECT friend_id, remark, groups, add_source, add_wording, added_at_ms, custom
    FROM friends WHERE user_id = $1
    ORDER BY friend_id
    OFFSET $2 LIMIT $3
) f ON true
