-- missive's views. Every row here can be rebuilt from the event log
-- (`missive replay`); nothing is written that the log could not reproduce.
--
-- Large tables are hash-partitioned on the key every query filters by
-- (conversation for history, user for the inbox), 8 ways here; with Citus the
-- same keys become distribution columns (see docs/scaling.md).

-- Projector progress: the next offset to read per topic partition. It changes
-- in the same transaction as the view rows produced from those offsets, so a
-- crash at any point neither loses nor doubles anything (exactly-once views).
CREATE TABLE projector_offsets (
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- One row per conversation: the last sequence number handed out. Sequence
-- numbers are dense (1, 2, 3, ...) and never reset, even when retention
-- removes old messages.
CREATE TABLE conversations (
    conversation_id text   NOT NULL,
    last_seq        bigint NOT NULL,
    last_sent_at_ms bigint NOT NULL,
    PRIMARY KEY (conversation_id)
) PARTITION BY HASH (conversation_id);
CREATE TABLE conversations_p0 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE conversations_p1 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE conversations_p2 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE conversations_p3 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE conversations_p4 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE conversations_p5 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE conversations_p6 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE conversations_p7 PARTITION OF conversations FOR VALUES WITH (MODULUS 8, REMAINDER 7);

-- The roaming store (history): each message of each conversation, by seq.
-- One row serves both parties; a message one side must not see (the sender
-- chose SyncOtherMachine=2, or the recipient blocks the sender) is flagged,
-- and that side reads a placeholder so its seq range stays gap-free.
CREATE TABLE messages (
    conversation_id       text    NOT NULL,
    seq                   bigint  NOT NULL,
    msg_key               text    NOT NULL,
    from_account          text    NOT NULL,
    to_account            text    NOT NULL,
    msg_random            bigint  NOT NULL,
    msg_seq               bigint  NOT NULL,
    sent_at_ms            bigint  NOT NULL,
    body                  jsonb   NOT NULL, -- Tencent MsgBody, ready to serve
    cloud_custom_data     text    NOT NULL,
    sender_nickname       text    NOT NULL,
    sender_avatar_url     text    NOT NULL,
    hidden_from_sender    boolean NOT NULL,
    hidden_from_recipient boolean NOT NULL,
    admin                 boolean NOT NULL,
    event_id              uuid    NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, msg_key)
) PARTITION BY HASH (conversation_id);
CREATE TABLE messages_p0 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE messages_p1 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE messages_p2 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE messages_p3 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE messages_p4 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE messages_p5 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE messages_p6 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE messages_p7 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 7);
CREATE INDEX messages_by_time ON messages (conversation_id, sent_at_ms);

-- Each user's change feed: what their devices must receive, in order, with a
-- dense per-user cursor. A device asks for "everything after cursor N".
CREATE TABLE inbox (
    user_id         text   NOT NULL,
    cursor          bigint NOT NULL,
    kind            text   NOT NULL, -- 'message'
    conversation_id text   NOT NULL,
    seq             bigint NOT NULL,
    msg_key         text   NOT NULL,
    -- After this the entry is no longer offered offline (MsgLifeTime).
    expires_at_ms   bigint NOT NULL,
    PRIMARY KEY (user_id, cursor)
) PARTITION BY HASH (user_id);
CREATE TABLE inbox_p0 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE inbox_p1 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE inbox_p2 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE inbox_p3 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE inbox_p4 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE inbox_p5 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE inbox_p6 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE inbox_p7 PARTITION OF inbox FOR VALUES WITH (MODULUS 8, REMAINDER 7);

CREATE TABLE inbox_cursors (
    user_id     text   NOT NULL,
    last_cursor bigint NOT NULL,
    PRIMARY KEY (user_id)
) PARTITION BY HASH (user_id);
CREATE TABLE inbox_cursors_p0 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE inbox_cursors_p1 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE inbox_cursors_p2 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE inbox_cursors_p3 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE inbox_cursors_p4 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE inbox_cursors_p5 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE inbox_cursors_p6 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE inbox_cursors_p7 PARTITION OF inbox_cursors FOR VALUES WITH (MODULUS 8, REMAINDER 7);

-- Profiles, as the write side reads them to stamp the sender's nickname and
-- avatar on each message.
CREATE TABLE profiles (
    user_id    text   NOT NULL,
    nickname   text   NOT NULL DEFAULT '',
    avatar_url text   NOT NULL DEFAULT '',
    PRIMARY KEY (user_id)
);
