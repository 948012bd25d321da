-- The push tokens that are currently the user's: their registration is not
-- removed and no one registered the token after them (see live_push_tokens).
SELECT t.platform, t.token FROM push_tokens t
WHERE t.user_id = $1 AND t.removed_at_ms IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM push_tokens o
    WHERE o.platform = t.platform AND o.token = t.token
      AND (o.registered_at_ms > t.registered_at_ms
           OR (o.registered_at_ms = t.registered_at_ms AND o.user_id < t.user_id)))
ORDER BY t.platform, t.token
