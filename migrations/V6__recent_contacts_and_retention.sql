-- Recent contacts: per user, the conversations ordered by last activity.
-- The last message's content, its unread count and the latest messages are
-- read from history (by seq, through the primary key), so a recall, an edit
-- or a read shows at once; the row itself remembers which message is last.
CREATE TABLE recent_contacts (
    user_id         text   NOT NULL,
    peer            text   NOT NULL,
    conversation_id text   NOT NULL,
    last_seq        bigint NOT NULL,
    last_msg_key    text   NOT NULL,
    -- Time of the newest message (event time, so a rebuild gives the same rows).
    last_at_ms      bigint NOT NULL,
    PRIMARY KEY (user_id, peer)
) PARTITION BY HASH (user_id);
CREATE TABLE recent_contacts_p0 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE recent_contacts_p1 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE recent_contacts_p2 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE recent_contacts_p3 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE recent_contacts_p4 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE recent_contacts_p5 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE recent_contacts_p6 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE recent_contacts_p7 PARTITION OF recent_contacts FOR VALUES WITH (MODULUS 8, REMAINDER 7);
CREATE INDEX recent_contacts_by_activity ON recent_contacts (user_id, last_at_ms DESC, peer);

-- The retention janitor deletes history and inbox rows by age, oldest first,
-- in small batches; these indexes make each batch an index range scan.
CREATE INDEX messages_by_age ON messages (sent_at_ms);
CREATE INDEX inbox_by_expiry ON inbox (expires_at_ms);
