-- NoSpeakingSet: the one-to-one mute as ingest decided it.
INSERT INTO account_states (user_id, c2c_nospeaking_seconds, c2c_muted_until_ms) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET c2c_nospeaking_seconds = $2, c2c_muted_until_ms = $3
