-- Offline push. `push_tokens` is a view like the others: the projector
-- maintains it from PushTokenRegistered / PushTokenRemoved events, so it can
-- be rebuilt from the log. A token identifies one app install on one vendor,
-- so (platform, token) is the key: re-registering it for another user moves it.
CREATE TABLE push_tokens (
    platform         text   NOT NULL,
    token            text   NOT NULL,
    user_id          text   NOT NULL,
    device_id        text   NOT NULL,
    registered_at_ms bigint NOT NULL,
    PRIMARY KEY (platform, token)
);
CREATE INDEX push_tokens_by_user ON push_tokens (user_id);

-- The push worker's dedupe record, not a view: one row per notification it
-- has claimed (message × token), written before the vendor is called, so a
-- restart or a rebalance that re-reads an event never notifies twice.
CREATE TABLE push_sends (
    conversation_id text   NOT NULL,
    msg_key         text   NOT NULL,
    platform        text   NOT NULL,
    token           text   NOT NULL,
    claimed_at_ms   bigint NOT NULL,
    -- claimed (vendor not answered yet), sent, invalid_token, failed
    outcome         text   NOT NULL DEFAULT 'claimed',
    attempts        int    NOT NULL DEFAULT 0,
    finished_at_ms  bigint,
    PRIMARY KEY (conversation_id, msg_key, platform, token)
);
-- For pruning old claims.
CREATE INDEX push_sends_by_time ON push_sends (claimed_at_ms);
