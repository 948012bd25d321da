SELECT * FROM friends
