-- Claims notifications (message x token, the arrays $1..$4 side by side)
-- before the vendor is called. The rows back are the ones claimed now: a
-- notification claimed before (a re-read after a restart or a rebalance)
-- comes back in none and is not sent again, nor is the second of a pair
-- repeated in the arrays (an event the log holds twice).
INSERT INTO push_sends (conversation_id, msg_key, platform, token, claimed_at_ms)
SELECT c, k, p, t, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS n(c, k, p, t)
ON CONFLICT DO NOTHING
RETURNING conversation_id, msg_key, platform, token
