-- Dedupe records older than anything the worker still pushes (events older
-- than push.max_age_seconds are skipped anyway) are no longer needed.
DELETE FROM push_sends WHERE claimed_at_ms < $1
