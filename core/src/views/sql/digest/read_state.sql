SELECT * FROM read_state
