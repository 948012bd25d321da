-- Everything the sends ($3[i] to $4[i]) are decided on, in one round trip
-- for all of them: per send, the message if it is a retry ($1[i], $2[i]:
-- conversation and MsgKey), the sender's profile, how the two stand, and the
-- two accounts' states (imported, deleted, the sender's mute). Row i answers
-- send i. One statement for the sends that arrive together (issue #17): at
-- 2,000 msg/s a statement's fixed cost (plan start-up, a round trip, a
-- commit) was two thirds of a probe's.
--
-- Every lookup is one primary-key or unique-key probe per send, whatever
-- the statistics say: the LATERAL subqueries are kept from flattening
-- (OFFSET 0), and EXISTS is written as a LATERAL join because PostgreSQL may
-- otherwise plan an EXISTS over several rows as one hash of the whole table.
SELECT
    s.i,
    m.sent_at_ms,
    sp.nickname,
    sp.avatar_url,
    rbs.yes IS NOT NULL,
    slr.yes IS NOT NULL,
    rls.yes IS NOT NULL,
    sbr.yes IS NOT NULL,
    COALESCE(sp.imported, false),
    COALESCE(rp.imported, false),
    COALESCE(sa.deleted_at_ms IS NOT NULL, false),
    COALESCE(ra.deleted_at_ms IS NOT NULL, false),
    COALESCE(sa.c2c_muted_until_ms, 0)
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
    WITH ORDINALITY AS s (conversation_id, msg_key, sender, recipient, i)
LEFT JOIN LATERAL (SELECT sent_at_ms FROM messages
                   WHERE conversation_id = s.conversation_id AND msg_key = s.msg_key OFFSET 0) m ON true
LEFT JOIN LATERAL (SELECT nickname, avatar_url, imported FROM profiles
                   WHERE user_id = s.sender OFFSET 0) sp ON true
LEFT JOIN LATERAL (SELECT imported FROM profiles
                   WHERE user_id = s.recipient OFFSET 0) rp ON true
LEFT JOIN LATERAL (SELECT deleted_at_ms, c2c_muted_until_ms FROM account_states
                   WHERE user_id = s.sender OFFSET 0) sa ON true
LEFT JOIN LATERAL (SELECT deleted_at_ms FROM account_states
                   WHERE user_id = s.recipient OFFSET 0) ra ON true
LEFT JOIN LATERAL (SELECT true AS yes FROM blocks
                   WHERE user_id = s.recipient AND blocked_id = s.sender OFFSET 0) rbs ON true
LEFT JOIN LATERAL (SELECT true AS yes FROM friends
                   WHERE user_id = s.sender AND friend_id = s.recipient OFFSET 0) slr ON true
LEFT JOIN LATERAL (SELECT true AS yes FROM friends
                   WHERE user_id = s.recipient AND friend_id = s.sender OFFSET 0) rls ON true
LEFT JOIN LATERAL (SELECT true AS yes FROM blocks
                   WHERE user_id = s.sender AND blocked_id = s.recipient OFFSET 0) sbr ON true
