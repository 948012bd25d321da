-- friend_update: a null leaves the field as it was; $5's tags replace theirs.
UPDATE friends
SET remark = COALESCE($3, remark),
    groups = COALESCE($4, groups),
    custom = custom || $5
WHERE user_id = $1 AND friend_id = $2
