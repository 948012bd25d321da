-- Prefills a freshly migrated database with `prefill.messages` messages
-- between `prefill.users` users (`u0` ... `u<n-1>`, the load's names), as the
-- projector would have stored them: dense seqs per conversation matching
-- conversations.last_seq, one inbox entry per party with dense cursors
-- matching inbox_cursors, recent contacts capped at `prefill.contacts_max`,
-- read marks on half of them, friends and a few blocks. Each user writes to
-- `prefill.peers` users after it (so talks with about twice as many), pairs
-- picked by a cheap deterministic spread; times end now (inside retention),
-- one message a millisecond. Settings
-- instead of bind parameters: this runs as one multi-statement script.
CREATE TEMP TABLE prefill_m ON COMMIT DROP AS
SELECT k, a_id AS from_account, b_id AS to_account,
       CASE WHEN a_id COLLATE "C" < b_id THEN a_id || ':' || b_id ELSE b_id || ':' || a_id END
           AS conversation_id,
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint
           - current_setting('prefill.messages')::bigint + k AS sent_at_ms
FROM (
    SELECT k, 'u' || a AS a_id,
           'u' || ((a + 1 + abs(hashint8(k)) % peers) % u) AS b_id
    FROM (
        SELECT k, (k * 2654435761) % u AS a, u, peers
        FROM generate_series(0, current_setting('prefill.messages')::bigint - 1) k,
             (SELECT current_setting('prefill.users')::bigint AS u,
                     least(current_setting('prefill.peers')::bigint,
                           current_setting('prefill.users')::bigint - 1) AS peers) p
    ) s
) s;

CREATE TEMP TABLE prefill_seq ON COMMIT DROP AS
SELECT k, row_number() OVER (PARTITION BY conversation_id ORDER BY k) AS seq
FROM prefill_m;

INSERT INTO profiles (user_id, nickname, avatar_url, imported)
SELECT 'u' || i, 'user ' || i, '', true
FROM generate_series(0, current_setting('prefill.users')::bigint - 1) i
ON CONFLICT DO NOTHING;

INSERT INTO messages (conversation_id, seq, msg_key, from_account, to_account, msg_random,
                      msg_seq, sent_at_ms, body, cloud_custom_data, sender_nickname,
                      sender_avatar_url, hidden_from_sender, hidden_from_recipient, admin,
                      event_id, counts_unread)
SELECT m.conversation_id, s.seq, k || '_' || k || '_prefill', m.from_account, m.to_account,
       k, k, m.sent_at_ms,
       jsonb_build_array(jsonb_build_object('MsgType', 'TIMTextElem',
           'MsgContent', jsonb_build_object('Text', rpad(k::text || ' ', 100, 'x')))),
       '', '', '', false, false, true, gen_random_uuid(), true
FROM prefill_m m JOIN prefill_seq s USING (k)
ORDER BY k;

INSERT INTO conversations (conversation_id, last_seq, last_sent_at_ms)
SELECT conversation_id, count(*), max(sent_at_ms) FROM prefill_m GROUP BY conversation_id;

-- The recipient's entry, then the sender's own (its other devices).
CREATE TEMP TABLE prefill_inbox ON COMMIT DROP AS
SELECT e.user_id, row_number() OVER (PARTITION BY e.user_id ORDER BY e.k, e.side) AS cursor,
       e.conversation_id, s.seq, e.k, e.sent_at_ms
FROM (
    SELECT k, 0 AS side, to_account AS user_id, conversation_id, sent_at_ms FROM prefill_m
    UNION ALL
    SELECT k, 1, from_account, conversation_id, sent_at_ms FROM prefill_m
) e JOIN prefill_seq s USING (k);

INSERT INTO inbox (user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms, reader)
SELECT user_id, cursor, 'message', conversation_id, seq, k || '_' || k || '_prefill',
       sent_at_ms + 604800000, NULL
FROM prefill_inbox ORDER BY k;

INSERT INTO inbox_cursors (user_id, last_cursor)
SELECT user_id, max(cursor) FROM prefill_inbox GROUP BY user_id;

-- Each side's newest message per peer, the newest `contacts_max` peers kept.
INSERT INTO recent_contacts (user_id, peer, conversation_id, last_seq, last_msg_key, last_at_ms)
SELECT user_id, peer, conversation_id, seq, k || '_' || k || '_prefill', sent_at_ms
FROM (
    SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY sent_at_ms DESC, peer COLLATE "C") AS rank
    FROM (
        SELECT DISTINCT ON (user_id, peer) user_id, peer, conversation_id, seq, k, sent_at_ms
        FROM (
            SELECT from_account AS user_id, to_account AS peer, conversation_id, k, sent_at_ms
            FROM prefill_m
            UNION ALL
            SELECT to_account, from_account, conversation_id, k, sent_at_ms FROM prefill_m
        ) sides JOIN prefill_seq USING (k)
        ORDER BY user_id, peer, k DESC
    ) newest
) ranked
WHERE rank <= current_setting('prefill.contacts_max')::bigint;

-- Half of the contacts have read everything up to their last message.
INSERT INTO read_state (user_id, peer, read_seq)
SELECT user_id, peer, last_seq FROM recent_contacts WHERE hashtext(user_id || peer) % 2 = 0;

-- One contact in ten is marked, half of those pinned (Tencent mark_contact,
-- TopFlag).
INSERT INTO conversation_marks (user_id, peer, pinned, standard_mark, custom_mark, marked_at_ms)
SELECT user_id, peer, abs(hashtext(user_id || peer)) % 20 = 3, 1, '', last_at_ms FROM recent_contacts
WHERE abs(hashtext(user_id || peer)) % 10 = 3;

-- A third of the pairs are friends; one contact in fifty was blocked since
-- (after the messages above, so their decisions stand).
INSERT INTO friends (user_id, friend_id, added_at_ms)
SELECT user_id, peer, last_at_ms FROM recent_contacts
WHERE abs(hashtext(least(user_id, peer) || greatest(user_id, peer))) % 3 = 0
ON CONFLICT DO NOTHING;

INSERT INTO blocks (user_id, blocked_id, added_at_ms)
SELECT user_id, peer, last_at_ms + 1 FROM recent_contacts
WHERE abs(hashtext(peer || user_id)) % 50 = 1;

-- One user in twenty has an account state: kicked once, and one in a
-- hundred muted for a while that has passed (neither stops a send now).
INSERT INTO account_states (user_id, kicked_at_ms, c2c_nospeaking_seconds, c2c_muted_until_ms)
SELECT 'u' || i, 1, CASE WHEN i % 100 = 0 THEN 60 ELSE 0 END, CASE WHEN i % 100 = 0 THEN 1 ELSE 0 END
FROM generate_series(0, current_setting('prefill.users')::bigint - 1) i
WHERE i % 20 = 0
ON CONFLICT DO NOTHING;
