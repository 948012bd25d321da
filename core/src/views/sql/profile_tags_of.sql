SELECT user_id, nickname, avatar_url, fields FROM profiles WHERE user_id = ANY($1) AND imported
