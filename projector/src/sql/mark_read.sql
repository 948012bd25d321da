-- The read seq only moves forward: an older read time never un-reads.
-- Returns the new read seq when it moved (devices are told), nothing otherwise.
INSERT INTO read_state AS r (user_id, peer, read_seq)
SELECT $1, $2, COALESCE(max(seq), 0) FROM messages
WHERE conversation_id = $3 AND sent_at_ms <= $4
ON CONFLICT (user_id, peer) DO UPDATE
SET read_seq = EXCLUDED.read_seq
WHERE EXCLUDED.read_seq > r.read_seq
RETURNING read_seq
