SELECT * FROM messages
