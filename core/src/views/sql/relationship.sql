-- Everything a send from $1 to $2 is checked against, in one round trip.
SELECT
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $2 AND blocked_id = $1) AS recipient_blocks_sender,
    EXISTS (SELECT 1 FROM friends WHERE user_id = $1 AND friend_id = $2)  AS sender_lists_recipient,
    EXISTS (SELECT 1 FROM friends WHERE user_id = $2 AND friend_id = $1)  AS recipient_lists_sender,
    EXISTS (SELECT 1 FROM blocks  WHERE user_id = $1 AND blocked_id = $2) AS sender_blocks_recipient
