-- Reserves `n` sequence numbers per conversation in one statement; returns
-- the new last seq, so the batch's seqs are last-n+1 ..= last.
INSERT INTO conversations (conversation_id, last_seq, last_sent_at_ms)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
ON CONFLICT (conversation_id) DO UPDATE
SET last_seq = conversations.last_seq + EXCLUDED.last_seq,
    last_sent_at_ms = GREATEST(conversations.last_sent_at_ms, EXCLUDED.last_sent_at_ms)
RETURNING conversation_id, last_seq
