SELECT * FROM profiles
