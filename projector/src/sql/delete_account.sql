-- AccountDeleted, among the relationship changes: the account is marked
-- deleted and loses its profile, its relationships and friend requests both
-- ways and its push tokens. (Its inbox, read marks and recent contacts are cleared at the
-- event's place among the messages: clear_account_inbox.sql.) $2: the event's time.
WITH state AS (
    INSERT INTO account_states (user_id, deleted_at_ms) VALUES ($1, $2)
    ON CONFLICT (user_id) DO UPDATE SET deleted_at_ms = $2
), profile AS (
    DELETE FROM profiles WHERE user_id = $1
), friends_of AS (
    DELETE FROM friends WHERE user_id = $1 OR friend_id = $1
), blocks_of AS (
    DELETE FROM blocks WHERE user_id = $1 OR blocked_id = $1
), requests_of AS (
    DELETE FROM friend_requests WHERE target_id = $1 OR requester_id = $1
)
DELETE FROM push_tokens WHERE user_id = $1
