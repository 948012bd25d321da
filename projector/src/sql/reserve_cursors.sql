INSERT INTO inbox_cursors (user_id, last_cursor)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (user_id) DO UPDATE
SET last_cursor = inbox_cursors.last_cursor + EXCLUDED.last_cursor
RETURNING user_id, last_cursor
