-- Accounts, friends and blocks: the views the write side reads for its
-- permission checks. Times come from the events, so a rebuild gives the
-- same rows.

-- A row in profiles with imported = true is an account (Tencent
-- account_import); messages may still name users never imported.
ALTER TABLE profiles ADD COLUMN imported boolean NOT NULL DEFAULT false;

-- One row per direction: (alice, bob) means bob is in alice's friend list.
CREATE TABLE friends (
    user_id     text   NOT NULL,
    friend_id   text   NOT NULL,
    added_at_ms bigint NOT NULL,
    PRIMARY KEY (user_id, friend_id)
) PARTITION BY HASH (user_id);
CREATE TABLE friends_p0 PARTITION OF friends FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE friends_p1 PARTITION OF friends FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE friends_p2 PARTITION OF friends FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE friends_p3 PARTITION OF friends FOR VALUES WITH (MODULUS 4, REMAINDER 3);

-- (bob, mallory) means bob blocks mallory: mallory's messages to bob are not delivered.
CREATE TABLE blocks (
    user_id     text   NOT NULL,
    blocked_id  text   NOT NULL,
    added_at_ms bigint NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) PARTITION BY HASH (user_id);
CREATE TABLE blocks_p0 PARTITION OF blocks FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE blocks_p1 PARTITION OF blocks FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE blocks_p2 PARTITION OF blocks FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE blocks_p3 PARTITION OF blocks FOR VALUES WITH (MODULUS 4, REMAINDER 3);
CREATE INDEX blocks_by_time ON blocks (user_id, added_at_ms, blocked_id);
