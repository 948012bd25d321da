SELECT * FROM recent_contacts
