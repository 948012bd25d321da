-- How $1 stands with each of the users in $2, in their order, in one round trip.
SELECT
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = t.id AND blocked_id = $1),
    EXISTS (SELECT 1 FROM friends WHERE user_id = $1   AND friend_id = t.id),
    EXISTS (SELECT 1 FROM friends WHERE user_id = t.id AND friend_id = $1),
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $1   AND blocked_id = t.id)
FROM unnest($2::text[]) WITH ORDINALITY AS t(id, n)
ORDER BY t.n
