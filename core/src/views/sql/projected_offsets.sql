-- The projector's progress on a topic: the next offset to read per partition.
SELECT partition, next_offset FROM projector_offsets WHERE topic = $1
