-- Keeps each user's $2 most recently active contacts (ties broken by peer,
-- so a rebuild keeps the same ones).
DELETE FROM recent_contacts r
USING (
    SELECT user_id, peer
    FROM (
        SELECT user_id, peer,
               row_number() OVER (PARTITION BY user_id ORDER BY last_at_ms DESC, peer) AS rank
        FROM recent_contacts
        WHERE user_id = ANY($1)
    ) ranked
    WHERE rank > $2
) old
WHERE r.user_id = old.user_id AND r.peer = old.peer
