-- Recalled messages stay in history as tombstones (same seq, empty body),
-- so a client's seq range never gains a hole.
ALTER TABLE messages ADD COLUMN recalled boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN edited boolean NOT NULL DEFAULT false;
