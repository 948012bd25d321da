-- Read reports reach devices through the inbox like recalls and edits: the
-- reader's other devices clear their unread count, the peer's devices show a
-- read receipt. `seq` holds the read seq; `reader` who read (NULL for other kinds).
ALTER TABLE inbox ADD COLUMN reader text;
