INSERT INTO inbox (user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                     $6::text[], $7::bigint[])
