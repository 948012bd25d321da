-- AccountKicked at $2 (ms): UserSigs issued before that second are refused.
INSERT INTO account_states (user_id, kicked_at_ms) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET kicked_at_ms = GREATEST(account_states.kicked_at_ms, $2)
