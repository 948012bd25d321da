-- Records how a claimed notification ended.
UPDATE push_sends SET outcome = $5, attempts = $6, finished_at_ms = $7
WHERE conversation_id = $1 AND msg_key = $2 AND platform = $3 AND token = $4
