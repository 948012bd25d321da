-- Issue #19: every profile tag, each friend's remark, groups and custom
-- fields, and friend requests waiting for an answer.

-- Profile tags other than the nickname and avatar (Tag_Profile_IM_Gender,
-- ..., Tag_Profile_Custom_*): tag -> value (a string or a number) as
-- portrait_set last set it. An absent tag reads as Tencent's default.
ALTER TABLE profiles ADD COLUMN fields jsonb NOT NULL DEFAULT '{}';

-- The adder's entry for a friend (Tencent's standard friend fields and
-- Tag_SNS_Custom_* as tag -> value).
ALTER TABLE friends
    ADD COLUMN remark      text   NOT NULL DEFAULT '',
    ADD COLUMN groups      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN add_source  text   NOT NULL DEFAULT '',
    ADD COLUMN add_wording text   NOT NULL DEFAULT '',
    ADD COLUMN custom      jsonb  NOT NULL DEFAULT '{}';

-- (bob, alice) means alice asked bob to be friends and bob has not answered
-- (bob's AllowType is AllowType_Type_NeedConfirm). What alice's entry will
-- hold once bob accepts is kept with it.
CREATE TABLE friend_requests (
    target_id       text    NOT NULL,
    requester_id    text    NOT NULL,
    both_ways       boolean NOT NULL,
    remark          text    NOT NULL,
    groups          text[]  NOT NULL,
    add_source      text    NOT NULL,
    add_wording     text    NOT NULL,
    requested_at_ms bigint  NOT NULL,
    PRIMARY KEY (target_id, requester_id)
) PARTITION BY HASH (target_id);
CREATE TABLE friend_requests_p0 PARTITION OF friend_requests FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE friend_requests_p1 PARTITION OF friend_requests FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE friend_requests_p2 PARTITION OF friend_requests FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE friend_requests_p3 PARTITION OF friend_requests FOR VALUES WITH (MODULUS 4, REMAINDER 3);
-- A user's own requests, sent out (Pendency_Type_SendOut).
CREATE INDEX friend_requests_sent ON friend_requests (requester_id, target_id);
