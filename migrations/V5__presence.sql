-- Which devices are online, on which delivery instance. Unlike the views,
-- this is live state, not rebuilt from the log: a session writes its row at
-- login, refreshes it on a heartbeat, and deletes it when it ends. A row
-- whose heartbeat is older than the TTL (an instance that died) counts as
-- offline.
CREATE TABLE presence (
    user_id         text   NOT NULL,
    device_id       text   NOT NULL,
    instance_id     text   NOT NULL,
    platform        text   NOT NULL,
    connected_at_ms bigint NOT NULL,
    heartbeat_at_ms bigint NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
