SELECT conversation_id, last_seq, last_sent_at_ms FROM conversations
