SELECT * FROM friend_requests
