-- `(user, device, platform)` of every push token currently registered to one
-- of the users (the rule of live_push_tokens, read through the user index).
SELECT t.user_id, t.device_id, t.platform FROM push_tokens t
WHERE t.user_id = ANY($1) AND t.removed_at_ms IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM push_tokens o
    WHERE o.platform = t.platform AND o.token = t.token
      AND (o.registered_at_ms > t.registered_at_ms
           OR (o.registered_at_ms = t.registered_at_ms AND o.user_id < t.user_id)))
ORDER BY t.user_id, t.device_id, t.platform
