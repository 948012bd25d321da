-- A user's pin (Tencent TopFlag) and marks (recentcontact/mark_contact) on
-- one-to-one conversations, written by the projector from ConversationPinned
-- and ConversationMarked. Marks are independent of recent contacts, as
-- Tencent's are: deleting the conversation unpins it but keeps its marks.
CREATE TABLE conversation_marks (
    user_id       text    NOT NULL,
    peer          text    NOT NULL,
    pinned        boolean NOT NULL DEFAULT false,
    -- Tencent's 64 standard mark bits (bit n is 1 << n).
    standard_mark bigint  NOT NULL DEFAULT 0,
    custom_mark   text    NOT NULL DEFAULT '',
    -- When the marks last changed (event time, so a rebuild gives the same rows).
    marked_at_ms  bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, peer)
) PARTITION BY HASH (user_id);
CREATE TABLE conversation_marks_p0 PARTITION OF conversation_marks FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE conversation_marks_p1 PARTITION OF conversation_marks FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE conversation_marks_p2 PARTITION OF conversation_marks FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE conversation_marks_p3 PARTITION OF conversation_marks FOR VALUES WITH (MODULUS 4, REMAINDER 3);
