-- The read seq only moves forward: an older read time never un-reads.
-- Returns the new read seq when it moved (devices are told), nothing otherwise.
-- The newest message sent by the read time, walking the conversation back
-- from its end (a read usually covers the newest, so this reads one row,
-- not the whole conversation as max(seq) over a time range would).
INSERT INTO read_state AS r (user_id, peer, read_seq)
SELECT $1, $2, COALESCE((
    SELECT seq FROM messages
    WHERE conversation_id = $3 AND sent_at_ms <= $4
    ORDER BY seq DESC
    LIMIT 1
), 0)
ON CONFLICT (user_id, peer) DO UPDATE
SET read_seq = EXCLUDED.read_seq
WHERE EXCLUDED.read_seq > r.read_seq
RETURNING read_seq
