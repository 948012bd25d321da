-- The newest inbox cursor of each of $1 (users without an inbox are left out).
SELECT user_id, last_cursor FROM inbox_cursors WHERE user_id = ANY($1)
