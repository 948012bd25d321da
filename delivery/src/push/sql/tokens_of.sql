-- The push tokens that are currently the users' in $1: their registration is
-- not removed and no one registered the token after them (see
-- live_push_tokens). One read for every offline recipient of a chunk, an
-- index lookup per user: `OFFSET 0` keeps the lateral subquery from being
-- flattened into a join that PostgreSQL may run as a scan of every token.
SELECT u.id, t.platform, t.token
FROM unnest($1::text[]) AS u(id)
CROSS JOIN LATERAL (
    SELECT t.platform, t.token FROM push_tokens t
    WHERE t.user_id = u.id AND t.removed_at_ms IS NULL
      AND NOT EXISTS (
        SELECT 1 FROM push_tokens o
        WHERE o.platform = t.platform AND o.token = t.token
          AND (o.registered_at_ms > t.registered_at_ms
               OR (o.registered_at_ms = t.registered_at_ms AND o.user_id < t.user_id)))
    OFFSET 0
) t
ORDER BY u.id, t.platform, t.token
