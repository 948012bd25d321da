-- Inbox entries of a small batch in one statement (copy_inbox.sql and
-- reserve_cursors.sql do it in two for a large one): reserves each user's
-- cursors (users in sorted order, so concurrent projectors lock cursor rows
-- in the same order) and numbers each user's entries in the order of the
-- arrays. Returns each entry's place in the arrays (1-based) and its
-- cursor. The join below is bounded by the batch (apply::COPY_MIN_ROWS),
-- so the nested loop a generic plan may choose stays small (see
-- reserve_seqs.sql).
WITH entries AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                         $6::bigint[], $7::text[])
        WITH ORDINALITY AS e(user_id, kind, conversation_id, seq, msg_key, expires_at_ms, reader, place)
), reserved AS (
    INSERT INTO inbox_cursors AS c (user_id, last_cursor)
    SELECT user_id, count(*) FROM entries GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET last_cursor = c.last_cursor + EXCLUDED.last_cursor
    RETURNING user_id, last_cursor
), numbered AS (
    SELECT e.*,
           r.last_cursor - count(*) OVER (PARTITION BY e.user_id)
               + row_number() OVER (PARTITION BY e.user_id ORDER BY e.place) AS cursor
    FROM entries e JOIN reserved r ON r.user_id = e.user_id
), inserted AS (
    INSERT INTO inbox (user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms, reader)
    SELECT user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms, reader FROM numbered
)
SELECT place, cursor FROM numbered
