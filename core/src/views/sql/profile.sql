SELECT nickname, avatar_url FROM profiles WHERE user_id = $1
