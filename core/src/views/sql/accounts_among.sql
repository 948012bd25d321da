SELECT user_id FROM profiles WHERE user_id = ANY($1) AND imported
