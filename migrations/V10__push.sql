-- Offline push. `push_tokens` is a view like the others: the projector
-- maintains it from PushTokenRegistered / PushTokenRemoved events, so it can
-- be rebuilt from the log. Those events are keyed by user, so the events of
-- two users about one token may replay in either order; one row per
-- (platform, token, user), each changed only by that user's (ordered)
-- events, keeps a rebuild identical to the live rows. A token belongs to its
-- newest registration (by event time, ties to the smaller user id), and only
-- while that registration is not removed: `live_push_tokens`.
CREATE TABLE push_tokens (
    platform         text   NOT NULL,
    token            text   NOT NULL,
    user_id          text   NOT NULL,
    device_id        text   NOT NULL,
    registered_at_ms bigint NOT NULL,
    removed_at_ms    bigint,
    PRIMARY KEY (platform, token, user_id)
);
CREATE INDEX push_tokens_by_user ON push_tokens (user_id);

CREATE VIEW live_push_tokens AS
SELECT platform, token, user_id, device_id, registered_at_ms
FROM (
    SELECT DISTINCT ON (platform, token) *
    FROM push_tokens
    ORDER BY platform, token, registered_at_ms DESC, user_id
) newest
WHERE removed_at_ms IS NULL;

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
