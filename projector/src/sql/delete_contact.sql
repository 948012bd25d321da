-- recentcontact/delete: the contact leaves $1's recent contacts (a later
-- message brings it back), and $1's contact count follows.
WITH gone AS (
    DELETE FROM recent_contacts WHERE user_id = $1 AND peer = $2
    RETURNING user_id
)
UPDATE recent_contact_counts c SET contacts = c.contacts - 1
FROM gone WHERE c.user_id = gone.user_id
