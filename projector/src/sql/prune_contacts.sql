-- Trims the users $1 (past the cap and its slack, from upsert_contacts.sql:
-- views::contacts_trim_above) to their $2
-- most recently active contacts (ties broken by peer, so a rebuild keeps the
-- same ones), and records that each now has exactly $2. Per user it reads
-- that user's contacts only, then deletes the extra ones one primary-key
-- probe each: `= ANY (ARRAY[...])` is not a hashable join clause, so
-- PostgreSQL cannot hash a whole-table scan instead, which it does for a
-- plain join once the batch is large against the table.
WITH doomed AS MATERIALIZED (
    SELECT over.user_id, old.peer
    FROM unnest($1::text[]) AS over(user_id)
    CROSS JOIN LATERAL (
        SELECT x.peer FROM recent_contacts x
        WHERE x.user_id = over.user_id
        ORDER BY x.last_at_ms DESC, x.peer
        OFFSET $2
    ) old
), trimmed AS (
    DELETE FROM recent_contacts r
    USING doomed d
    WHERE r.user_id = ANY (ARRAY[d.user_id]) AND r.peer = ANY (ARRAY[d.peer])
)
UPDATE recent_contact_counts SET contacts = $2
WHERE user_id = ANY ($1::text[]) AND contacts > $2
