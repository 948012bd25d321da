-- Per-message read receipts (issue #19, item 5): a message sent with
-- IsNeedReadReceipt remembers it, and when its recipient reported reading
-- it (MessageReceiptsSent; event time, so a rebuild gives the same rows).
-- The sender's devices learn it through an inbox entry of kind 'receipt'.
ALTER TABLE messages ADD COLUMN need_read_receipt boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN receipt_read_at_ms bigint;
