-- Importing again keeps fields the new import leaves empty.
INSERT INTO profiles (user_id, nickname, avatar_url, imported) VALUES ($1, $2, $3, true)
ON CONFLICT (user_id) DO UPDATE
SET nickname   = CASE WHEN EXCLUDED.nickname = '' THEN profiles.nickname ELSE EXCLUDED.nickname END,
    avatar_url = CASE WHEN EXCLUDED.avatar_url = '' THEN profiles.avatar_url ELSE EXCLUDED.avatar_url END,
    imported   = true
