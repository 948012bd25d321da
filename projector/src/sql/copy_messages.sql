-- History rows, by binary COPY (the columns of apply::MESSAGE_COLUMNS, in
-- this order); the seqs were reserved by reserve_seqs.sql.
COPY messages (conversation_id, seq, msg_key, from_account, to_account, msg_random, msg_seq,
               sent_at_ms, body, cloud_custom_data, sender_nickname, sender_avatar_url,
               hidden_from_sender, hidden_from_recipient, admin, event_id, counts_unread,
               need_read_receipt)
FROM STDIN (FORMAT binary)
