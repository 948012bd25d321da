INSERT INTO inbox (user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms, reader)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                     $6::text[], $7::bigint[], $8::text[])
