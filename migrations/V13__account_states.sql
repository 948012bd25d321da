-- The account lifecycle (issue #18), written by the projector from
-- AccountDeleted, AccountKicked and NoSpeakingSet, read by ingest (sends
-- to or from a deleted account, a muted sender) and delivery (logins of a
-- deleted account, UserSigs issued before a kick).
CREATE TABLE account_states (
    user_id                text   NOT NULL,
    -- Set while the account is deleted; a new import clears it.
    deleted_at_ms          bigint,
    -- UserSigs issued before this second (TLS.time) are refused; 0: never kicked.
    kicked_at_ms           bigint NOT NULL DEFAULT 0,
    -- setnospeaking's C2CmsgNospeakingTime as given, and the time it runs to
    -- (0: not muted; the largest bigint: for ever).
    c2c_nospeaking_seconds bigint NOT NULL DEFAULT 0,
    c2c_muted_until_ms     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id)
);
