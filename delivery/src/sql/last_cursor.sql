SELECT last_cursor FROM inbox_cursors WHERE user_id = $1
