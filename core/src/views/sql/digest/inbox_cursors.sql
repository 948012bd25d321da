SELECT * FROM inbox_cursors
