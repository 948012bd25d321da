-- Each user's first :contacts_max contacts by activity: the ones it has. The
-- projector keeps a few more until it trims them, at moments that depend on
-- where its batches end (views::contacts_trim_above), so those are not
-- compared.
SELECT user_id, peer, conversation_id, last_seq, last_msg_key, last_at_ms
FROM (
    SELECT c.*, row_number() OVER (PARTITION BY user_id ORDER BY last_at_ms DESC, peer) AS place
    FROM recent_contacts c
) ranked
WHERE place <= :contacts_max
