SELECT * FROM push_tokens
