-- Only this instance's row: a newer session of the device elsewhere stays.
DELETE FROM presence WHERE user_id = $1 AND device_id = $2 AND instance_id = $3
