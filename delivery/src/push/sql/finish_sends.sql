-- Records how claimed notifications ended (the arrays side by side: message,
-- token, outcome, attempts). One primary-key probe per notification:
-- `= ANY (ARRAY[...])` is not a hashable join clause, so PostgreSQL cannot
-- hash a whole-table scan of push_sends instead, which it picks while the
-- table's statistics still say it is small.
UPDATE push_sends s
SET outcome = f.outcome, attempts = f.attempts, finished_at_ms = $7
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
    AS f(c, k, p, t, outcome, attempts)
WHERE s.conversation_id = ANY (ARRAY[f.c]) AND s.msg_key = ANY (ARRAY[f.k])
  AND s.platform = ANY (ARRAY[f.p]) AND s.token = ANY (ARRAY[f.t])
