-- History rows of a small batch, from arrays in one statement (the columns
-- of copy_messages.sql, in its order): unlike a COPY it needs no round trip
-- of its own, so it is pipelined with the batch's other statements.
INSERT INTO messages (conversation_id, seq, msg_key, from_account, to_account, msg_random, msg_seq,
                      sent_at_ms, body, cloud_custom_data, sender_nickname, sender_avatar_url,
                      hidden_from_sender, hidden_from_recipient, admin, event_id, counts_unread,
                      need_read_receipt)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                     $7::bigint[], $8::bigint[], $9::jsonb[], $10::text[], $11::text[],
                     $12::text[], $13::boolean[], $14::boolean[], $15::boolean[], $16::uuid[],
                     $17::boolean[], $18::boolean[])
