-- Fenced: moves only from the offset this projector believes is stored. If
-- another instance moved it (a rebalance we have not seen yet), nothing is
-- updated and the whole transaction is rolled back.
UPDATE projector_offsets SET next_offset = $4
WHERE topic = $1 AND partition = $2 AND next_offset = $3
