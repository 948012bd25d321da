-- $1's entries for those of $2 in their friend list.
SELECT friend_id, remark, groups, add_source, add_wording, added_at_ms, custom, 0::bigint
FROM friends WHERE user_id = $1 AND friend_id = ANY($2)
