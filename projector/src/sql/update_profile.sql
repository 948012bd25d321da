-- $4: the other tags set (tag -> value), each replacing its value.
INSERT INTO profiles (user_id, nickname, avatar_url, fields)
VALUES ($1, COALESCE($2, ''), COALESCE($3, ''), $4)
ON CONFLICT (user_id) DO UPDATE
SET nickname   = COALESCE($2, profiles.nickname),
    avatar_url = COALESCE($3, profiles.avatar_url),
    fields     = profiles.fields || $4
