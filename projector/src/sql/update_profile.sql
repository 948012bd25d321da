INSERT INTO profiles (user_id, nickname, avatar_url)
VALUES ($1, COALESCE($2, ''), COALESCE($3, ''))
ON CONFLICT (user_id) DO UPDATE
SET nickname   = COALESCE($2, profiles.nickname),
    avatar_url = COALESCE($3, profiles.avatar_url)
