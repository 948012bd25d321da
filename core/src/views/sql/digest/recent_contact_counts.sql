SELECT * FROM recent_contact_counts
