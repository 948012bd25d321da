-- The lifecycle state of the known accounts among $1 (imported or with a
-- state row). One primary-key probe per account in each table (LATERAL with
-- LIMIT: a generic plan never hashes a whole table for a short list).
SELECT u.user_id,
       COALESCE(p.imported, false),
       s.deleted_at_ms IS NOT NULL,
       COALESCE(s.kicked_at_ms, 0),
       COALESCE(s.c2c_nospeaking_seconds, 0),
       COALESCE(s.c2c_muted_until_ms, 0)
FROM unnest($1::text[]) AS u(user_id)
LEFT JOIN LATERAL (
    SELECT p.user_id, p.imported FROM profiles p WHERE p.user_id = u.user_id LIMIT 1
) p ON true
LEFT JOIN LATERAL (
    SELECT s.user_id, s.deleted_at_ms, s.kicked_at_ms, s.c2c_nospeaking_seconds,
           s.c2c_muted_until_ms
    FROM account_states s WHERE s.user_id = u.user_id LIMIT 1
) s ON true
WHERE p.user_id IS NOT NULL OR s.user_id IS NOT NULL
