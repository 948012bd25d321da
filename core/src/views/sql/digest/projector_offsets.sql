SELECT * FROM projector_offsets
