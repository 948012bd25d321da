-- The lifecycle state of the known accounts among $1 (imported or with a state row).
SELECT u.user_id,
       COALESCE(p.imported, false),
       s.deleted_at_ms IS NOT NULL,
       COALESCE(s.kicked_at_ms, 0),
       COALESCE(s.c2c_nospeaking_seconds, 0),
       COALESCE(s.c2c_muted_until_ms, 0)
FROM unnest($1::text[]) AS u(user_id)
LEFT JOIN profiles p ON p.user_id = u.user_id
LEFT JOIN account_states s ON s.user_id = u.user_id
WHERE p.user_id IS NOT NULL OR s.user_id IS NOT NULL
