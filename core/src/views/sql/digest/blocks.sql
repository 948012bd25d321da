SELECT * FROM blocks
