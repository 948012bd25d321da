-- Stores a batch's new messages in one statement (one round trip): leaves
-- out those already stored (retries: one index probe each, a LATERAL with
-- LIMIT is never hashed into a whole-table scan), reserves n sequence
-- numbers per conversation (in conversation order, so concurrent projectors
-- lock counters in the same order), hands them out in log order (the
-- arrays' order) and inserts the rows. Returns each stored message's place
-- in the arrays (1-based) and its seq; a message absent was a retry.
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                         $6::bigint[], $7::bigint[], $8::jsonb[], $9::text[], $10::text[],
                         $11::text[], $12::bool[], $13::bool[], $14::bool[], $15::uuid[],
                         $16::bool[])
        WITH ORDINALITY AS b(conversation_id, msg_key, from_account, to_account, msg_random,
                             msg_seq, sent_at_ms, body, cloud_custom_data, sender_nickname,
                             sender_avatar_url, hidden_from_sender, hidden_from_recipient,
                             admin, event_id, counts_unread, place)
), fresh AS (
    SELECT b.* FROM batch b
    LEFT JOIN LATERAL (
        SELECT true AS stored FROM messages m
        WHERE m.conversation_id = b.conversation_id AND m.msg_key = b.msg_key
        LIMIT 1
    ) s ON true
    WHERE s.stored IS NULL
), counts AS (
    SELECT conversation_id, count(*) AS n, max(sent_at_ms) AS last_sent_at_ms
    FROM fresh GROUP BY conversation_id
), reserved AS (
    INSERT INTO conversations AS c (conversation_id, last_seq, last_sent_at_ms)
    SELECT conversation_id, n, last_sent_at_ms FROM counts ORDER BY conversation_id
    ON CONFLICT (conversation_id) DO UPDATE
    SET last_seq = c.last_seq + EXCLUDED.last_seq,
        last_sent_at_ms = GREATEST(c.last_sent_at_ms, EXCLUDED.last_sent_at_ms)
    RETURNING conversation_id, last_seq
), numbered AS (
    SELECT f.*, r.last_seq - k.n
                + row_number() OVER (PARTITION BY f.conversation_id ORDER BY f.place) AS seq
    FROM fresh f
    JOIN counts k USING (conversation_id)
    JOIN reserved r USING (conversation_id)
), stored AS (
    INSERT INTO messages (conversation_id, seq, msg_key, from_account, to_account, msg_random,
                          msg_seq, sent_at_ms, body, cloud_custom_data, sender_nickname,
                          sender_avatar_url, hidden_from_sender, hidden_from_recipient, admin,
                          event_id, counts_unread)
    SELECT conversation_id, seq, msg_key, from_account, to_account, msg_random,
           msg_seq, sent_at_ms, body, cloud_custom_data, sender_nickname,
           sender_avatar_url, hidden_from_sender, hidden_from_recipient, admin,
           event_id, counts_unread
    FROM numbered
)
SELECT place, seq FROM numbered
