-- AccountDeleted, at its place among the messages (after those before it in
-- the log, so a rebuild clears the same): the account's inbox, read marks,
-- recent contacts and conversation pins and marks go. Messages stay in the
-- history of its peers.
WITH entries AS (
    DELETE FROM inbox WHERE user_id = $1
), reads AS (
    DELETE FROM read_state WHERE user_id = $1
), marks AS (
    DELETE FROM conversation_marks WHERE user_id = $1
), contacts AS (
    DELETE FROM recent_contacts WHERE user_id = $1
)
DELETE FROM recent_contact_counts WHERE user_id = $1
