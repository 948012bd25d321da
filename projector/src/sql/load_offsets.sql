SELECT partition, next_offset FROM projector_offsets WHERE topic = $1
