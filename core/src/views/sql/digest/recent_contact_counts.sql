-- Counts past the cap (:contacts_max) depend on where the projector's
-- batches end (see recent_contacts.sql): compared up to the cap.
SELECT user_id, LEAST(contacts, :contacts_max) FROM recent_contact_counts
