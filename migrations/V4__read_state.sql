-- Read state and unread counts. A message counts as unread for its
-- recipient unless it was a history import, dropped by a block, or sent to
-- oneself; recalled messages stop counting.
ALTER TABLE messages ADD COLUMN counts_unread boolean NOT NULL DEFAULT true;
CREATE INDEX messages_unread ON messages (to_account, conversation_id, seq)
    WHERE counts_unread AND NOT recalled;

-- Everything from `peer` up to `read_seq` is read by `user_id`.
CREATE TABLE read_state (
    user_id  text   NOT NULL,
    peer     text   NOT NULL,
    read_seq bigint NOT NULL,
    PRIMARY KEY (user_id, peer)
) PARTITION BY HASH (user_id);
CREATE TABLE read_state_p0 PARTITION OF read_state FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE read_state_p1 PARTITION OF read_state FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE read_state_p2 PARTITION OF read_state FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE read_state_p3 PARTITION OF read_state FOR VALUES WITH (MODULUS 4, REMAINDER 3);
