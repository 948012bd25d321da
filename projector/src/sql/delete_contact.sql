-- recentcontact/delete: the contact leaves $1's recent contacts (a later
-- message brings it back), and $1's contact count follows. The rows past the
-- cap $3 (kept until the next trim: views::contacts_trim_above) go with it,
-- so none of them moves up into the cap as it would not have had it been
-- trimmed already.
WITH past_cap AS (
    SELECT peer FROM recent_contacts
    WHERE user_id = $1
    ORDER BY last_at_ms DESC, peer
    OFFSET $3
), gone AS (
    DELETE FROM recent_contacts r
    WHERE r.user_id = $1 AND (r.peer = $2 OR r.peer IN (SELECT peer FROM past_cap))
    RETURNING r.peer
)
UPDATE recent_contact_counts c SET contacts = c.contacts - (SELECT count(*) FROM gone)
WHERE c.user_id = $1 AND EXISTS (SELECT 1 FROM gone)
