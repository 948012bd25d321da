-- AccountImported after AccountDeleted: the account exists again.
UPDATE account_states SET deleted_at_ms = NULL WHERE user_id = $1 AND deleted_at_ms IS NOT NULL
