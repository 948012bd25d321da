SELECT * FROM account_states
