-- Reserves n inbox cursors per user ($1 users in sorted order, so
-- concurrent projectors lock cursor rows in the same order; $2 how many
-- each). Returns each user's last cursor after the reservation: the
-- projector hands the cursors out in log order and copies the entries in
-- (copy_inbox.sql), so no statement joins a batch's rows (see
-- reserve_seqs.sql for why that matters).
INSERT INTO inbox_cursors AS c (user_id, last_cursor)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (user_id) DO UPDATE
SET last_cursor = c.last_cursor + EXCLUDED.last_cursor
RETURNING user_id, last_cursor
