-- Claims one notification (message x token) before the vendor is called;
-- no row back means it was claimed before (a re-read after a restart or a
-- rebalance) and must not be sent again.
INSERT INTO push_sends (conversation_id, msg_key, platform, token, claimed_at_ms)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING 1
