-- Keeps each user's $2 most recently active contacts (ties broken by peer,
-- so a rebuild keeps the same ones). Only users over the limit are touched;
-- usually none is. (A join on unnest, not `= ANY($1)`: with a long array
-- the planner would spend far longer pruning partitions than the query runs.)
WITH over AS (
    SELECT c.user_id FROM recent_contacts c
    JOIN unnest($1::text[]) AS grown(user_id) USING (user_id)
    GROUP BY c.user_id
    HAVING count(*) > $2
)
DELETE FROM recent_contacts r
USING over, LATERAL (
    SELECT x.peer FROM recent_contacts x
    WHERE x.user_id = over.user_id
    ORDER BY x.last_at_ms DESC, x.peer
    OFFSET $2
) old
WHERE r.user_id = over.user_id AND r.peer = old.peer
