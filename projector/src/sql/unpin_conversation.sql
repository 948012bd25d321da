-- A deleted conversation leaves the list unpinned; its marks stay.
UPDATE conversation_marks SET pinned = false WHERE user_id = $1 AND peer = $2 AND pinned
