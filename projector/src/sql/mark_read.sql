-- The read seq only moves forward: an older read time never un-reads.
INSERT INTO read_state (user_id, peer, read_seq)
SELECT $1, $2, COALESCE(max(seq), 0) FROM messages
WHERE conversation_id = $3 AND sent_at_ms <= $4
ON CONFLICT (user_id, peer) DO UPDATE
SET read_seq = GREATEST(read_state.read_seq, EXCLUDED.read_seq)
