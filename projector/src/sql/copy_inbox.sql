-- Inbox entries, by binary COPY (the columns of apply::INBOX_COLUMNS, in
-- this order); the cursors were reserved by reserve_cursors.sql.
COPY inbox (user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms, reader)
FROM STDIN (FORMAT binary)
