SELECT * FROM conversation_marks
