-- Appends inbox entries in one statement: reserves n cursors per user (in
-- user order, so concurrent projectors lock cursor rows in the same order)
-- and hands them out in the arrays' order (log order), so each user's
-- entries get consecutive cursors. Returns each user's last cursor (what a
-- `user:cursor` notification names).
WITH entry AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                         $6::bigint[], $7::text[])
        WITH ORDINALITY AS e(user_id, kind, conversation_id, seq, msg_key, expires_at_ms,
                             reader, place)
), counts AS (
    SELECT user_id, count(*) AS n FROM entry GROUP BY user_id
), reserved AS (
    INSERT INTO inbox_cursors AS c (user_id, last_cursor)
    SELECT user_id, n FROM counts ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE
    SET last_cursor = c.last_cursor + EXCLUDED.last_cursor
    RETURNING user_id, last_cursor
), stored AS (
    INSERT INTO inbox (user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms,
                       reader)
    SELECT e.user_id,
           r.last_cursor - k.n + row_number() OVER (PARTITION BY e.user_id ORDER BY e.place),
           e.kind, e.conversation_id, e.seq, e.msg_key, e.expires_at_ms, e.reader
    FROM entry e
    JOIN counts k USING (user_id)
    JOIN reserved r USING (user_id)
)
SELECT user_id, last_cursor FROM reserved
