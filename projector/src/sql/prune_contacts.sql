-- Keeps each user's $2 most recently active contacts (ties broken by peer,
-- so a rebuild keeps the same ones); $1 are the users who just gained one.
-- Per user it reads that user's contacts only (at most the cap and the
-- batch's new ones), then deletes the extra ones one primary-key probe
-- each: `= ANY (ARRAY[...])` is not a hashable join clause, so PostgreSQL
-- cannot hash a whole-table scan instead, which it does for a plain join
-- once the batch is large against the table.
WITH doomed AS MATERIALIZED (
    SELECT grown.user_id, old.peer
    FROM unnest($1::text[]) AS grown(user_id)
    CROSS JOIN LATERAL (
        SELECT x.peer FROM recent_contacts x
        WHERE x.user_id = grown.user_id
        ORDER BY x.last_at_ms DESC, x.peer
        OFFSET $2
    ) old
)
DELETE FROM recent_contacts r
USING doomed d
WHERE r.user_id = ANY (ARRAY[d.user_id]) AND r.peer = ANY (ARRAY[d.peer])
