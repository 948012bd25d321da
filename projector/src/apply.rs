//! Applies a batch of events to the views inside one transaction: a handful
//! of statements per batch (UNNEST arrays), never one per row.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use deadpool_postgres::Transaction;
use serde_json::Value;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use missive_core::msgbody;
use missive_schemas::{
    Envelope, Event, ImportMode, MessageSent, SyncOtherMachine, TagValue, TagValueKind,
};

/// What a batch changed, for notifications and metrics.
#[derive(Debug, Default)]
pub struct Applied {
    /// Users whose inbox grew, with their newest cursor: their online
    /// devices that have not pushed that far are woken.
    pub cursors: BTreeMap<String, i64>,
    /// The new messages' inbox entries, for a delivery service in this
    /// process (only when asked for: `hand_over`).
    pub live: Vec<missive_core::live::LiveEntry>,
    pub messages: usize,
    pub duplicates: usize,
}

struct NewMessage<'a> {
    event_id: Uuid,
    admin: bool,
    m: &'a MessageSent,
    /// `m.body` as history serves it, rendered once for the row and the hand-over.
    body: Value,
}

/// Who gets an inbox entry for a message, decided only from what the event
/// recorded (never re-deciding permissions).
fn inbox_recipients(m: &MessageSent) -> impl Iterator<Item = &str> {
    let live = m.import_mode != ImportMode::History;
    let recipient = (live && m.reaches_recipient()).then_some(m.to_account.as_str());
    let sender =
        (live && m.sync_other_machine == SyncOtherMachine::Sync && m.from_account != m.to_account)
            .then_some(m.from_account.as_str());
    recipient.into_iter().chain(sender)
}

/// Account, profile and relationship events. Each is idempotent (upserts and
/// deletes), and times come from the event, so a replay writes the same rows.
async fn apply_relationship(
    tx: &Transaction<'_>,
    env: &Envelope,
) -> Result<(), tokio_postgres::Error> {
    let at = env.occurred_at;
    match &env.event {
        Event::MessageSent(_)
        | Event::MessageRecalled(_)
        | Event::MessageModified(_)
        | Event::ConversationRead(_)
        | Event::ConversationDeleted(_)
        | Event::ConversationPinned(_)
        | Event::ConversationMarked(_)
        | Event::MessageReceiptsSent(_) => {}
        // Sessions opening and closing drive the State.StateChange callback;
        // presence stays delivery's own (no view is built from them).
        Event::SessionChanged(_) => {}
        Event::AccountDeleted(a) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/delete_account.sql"))
                .await?;
            tx.execute(&stmt, &[&a.user_id, &at]).await?;
            close_sessions(tx, &a.user_id).await?;
        }
        Event::AccountKicked(a) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/kick_account.sql"))
                .await?;
            tx.execute(&stmt, &[&a.user_id, &at]).await?;
            close_sessions(tx, &a.user_id).await?;
        }
        Event::NoSpeakingSet(n) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/set_no_speaking.sql"))
                .await?;
            tx.execute(
                &stmt,
                &[&n.user_id, &n.c2c_nospeaking_seconds, &n.muted_until],
            )
            .await?;
        }
        Event::PushTokenRegistered(t) => {
            let platform = t.platform.symbol().to_ascii_lowercase();
            let replace = tx
                .prepare_cached(include_str!("sql/replace_device_push_token.sql"))
                .await?;
            tx.execute(
                &replace,
                &[&t.user_id, &t.device_id, &platform, &t.token, &at],
            )
            .await?;
            let stmt = tx
                .prepare_cached(include_str!("sql/register_push_token.sql"))
                .await?;
            tx.execute(&stmt, &[&platform, &t.token, &t.user_id, &t.device_id, &at])
                .await?;
        }
        Event::PushTokenRemoved(t) => {
            let platform = t.platform.symbol().to_ascii_lowercase();
            let stmt = tx
                .prepare_cached(include_str!("sql/remove_push_token.sql"))
                .await?;
            tx.execute(&stmt, &[&platform, &t.token, &t.user_id, &at])
                .await?;
        }
        Event::AccountImported(a) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/import_account.sql"))
                .await?;
            tx.execute(&stmt, &[&a.user_id, &a.nickname, &a.avatar_url])
                .await?;
            let revive = tx
                .prepare_cached(include_str!("sql/revive_account.sql"))
                .await?;
            tx.execute(&revive, &[&a.user_id]).await?;
        }
        Event::ProfileUpdated(p) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/update_profile.sql"))
                .await?;
            tx.execute(
                &stmt,
                &[
                    &p.user_id,
                    &p.nickname,
                    &p.avatar_url,
                    &tags_json(&p.fields),
                ],
            )
            .await?;
        }
        Event::FriendAdded(f) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/add_friend.sql"))
                .await?;
            let added_at = f.added_at.unwrap_or(at);
            tx.execute(
                &stmt,
                &[
                    &f.user_id,
                    &f.friend_id,
                    &added_at,
                    &f.remark,
                    &f.groups,
                    &f.add_source,
                    &f.add_wording,
                    &tags_json(&f.custom),
                ],
            )
            .await?;
            if f.both {
                // The added side's entry has no remark or groups of its own yet.
                let none: &[String] = &[];
                tx.execute(
                    &stmt,
                    &[
                        &f.friend_id,
                        &f.user_id,
                        &added_at,
                        &"",
                        &none,
                        &f.add_source,
                        &"",
                        &serde_json::json!({}),
                    ],
                )
                .await?;
            }
        }
        Event::FriendUpdated(f) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/update_friend.sql"))
                .await?;
            tx.execute(
                &stmt,
                &[
                    &f.user_id,
                    &f.friend_id,
                    &f.remark,
                    &f.groups,
                    &tags_json(&f.custom),
                ],
            )
            .await?;
        }
        Event::FriendRequested(f) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/request_friend.sql"))
                .await?;
            tx.execute(
                &stmt,
                &[
                    &f.user_id,
                    &f.friend_id,
                    &f.both,
                    &f.remark,
                    &f.groups,
                    &f.add_source,
                    &f.add_wording,
                    &at,
                ],
            )
            .await?;
        }
        Event::FriendRequestAnswered(a) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/delete_friend_requests.sql"))
                .await?;
            tx.execute(&stmt, &[&a.user_id, &a.requester]).await?;
        }
        Event::FriendDeleted(f) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/delete_friend.sql"))
                .await?;
            tx.execute(&stmt, &[&f.user_id, &f.friend_id]).await?;
            if f.both {
                tx.execute(&stmt, &[&f.friend_id, &f.user_id]).await?;
            }
        }
        Event::BlockAdded(b) => {
            let stmt = tx.prepare_cached(include_str!("sql/add_block.sql")).await?;
            tx.execute(&stmt, &[&b.user_id, &b.blocked_id, &at]).await?;
            // Blocking ends the friendship both ways (Tencent's semantics).
            let unfriend = tx
                .prepare_cached(include_str!("sql/delete_friend.sql"))
                .await?;
            tx.execute(&unfriend, &[&b.user_id, &b.blocked_id]).await?;
            tx.execute(&unfriend, &[&b.blocked_id, &b.user_id]).await?;
            // Neither may ask the other any more (Tencent), so pending requests go too.
            let requests = tx
                .prepare_cached(include_str!("sql/delete_friend_requests.sql"))
                .await?;
            tx.execute(&requests, &[&b.user_id, &b.blocked_id]).await?;
        }
        Event::BlockRemoved(b) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/delete_block.sql"))
                .await?;
            tx.execute(&stmt, &[&b.user_id, &b.blocked_id]).await?;
        }
    }
    Ok(())
}

/// Tencent tags as the views store them: one JSON object, tag -> value.
fn tags_json(tags: &[TagValue]) -> serde_json::Value {
    tags.iter()
        .map(|t| {
            let value = match &t.value {
                TagValueKind::String(s) => serde_json::Value::from(s.as_str()),
                TagValueKind::Integer(i) => serde_json::Value::from(*i),
            };
            (t.tag.clone(), value)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Asks every delivery instance, once this transaction commits, to close the
/// user's sessions (a kick, a deletion): `!close:<user>` on the inbox
/// channel (`!` is never in a user id, so no inbox notification looks alike).
async fn close_sessions(tx: &Transaction<'_>, user: &str) -> Result<(), tokio_postgres::Error> {
    let payload = format!("{}{user}", missive_core::views::CLOSE_SESSIONS_PREFIX);
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&missive_core::views::INBOX_CHANNEL, &payload],
    )
    .await?;
    Ok(())
}

/// Limits the views keep (from `ViewsConfig`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub recent_contacts_max: i64,
}

impl Limits {
    /// Past this many contacts a user is trimmed back to the cap.
    fn contacts_trim_above(self) -> i64 {
        missive_core::views::contacts_trim_above(self.recent_contacts_max)
    }
}

/// Applies `events`; with `hand_over`, also returns the new messages' inbox
/// entries ready to push (`Applied::live`).
pub async fn apply(
    tx: &Transaction<'_>,
    events: &[Envelope],
    limits: Limits,
    hand_over: bool,
) -> Result<Applied, tokio_postgres::Error> {
    let mut applied = Applied::default();

    // Accounts, profiles and relationships: few, applied one by one in log order.
    for env in events {
        apply_relationship(tx, env).await?;
    }

    // Messages in bulk, then the recalls, edits and reads that follow them,
    // segment by segment: a change is applied after every message before it
    // in the log and before every message after it, so each conversation's
    // inbox entries and read marks come out in log order however the log was
    // cut into batches (a rebuild gives the same rows).
    let mut seen = HashSet::new();
    let mut candidates = Vec::new();
    let mut changes: Vec<&Envelope> = Vec::new();
    let opts = SegmentOptions { limits, hand_over };
    for env in events {
        match &env.event {
            Event::MessageSent(m) => {
                if !changes.is_empty() {
                    apply_segment(tx, &mut candidates, &mut changes, opts, &mut applied).await?;
                }
                if seen.insert((m.conversation_id.as_str(), m.msg_key.as_str())) {
                    candidates.push(NewMessage {
                        event_id: env.event_id,
                        admin: env.origin.admin,
                        m,
                        body: msgbody::render(&m.body),
                    });
                } else {
                    applied.duplicates += 1;
                }
            }
            Event::MessageRecalled(_)
            | Event::MessageModified(_)
            | Event::ConversationRead(_)
            | Event::ConversationDeleted(_)
            | Event::ConversationPinned(_)
            | Event::ConversationMarked(_)
            | Event::MessageReceiptsSent(_) => changes.push(env),
            Event::AccountDeleted(a) => {
                // Everything before it first: the entries it clears must exist.
                apply_segment(tx, &mut candidates, &mut changes, opts, &mut applied).await?;
                let stmt = tx
                    .prepare_cached(include_str!("sql/clear_account_inbox.sql"))
                    .await?;
                tx.execute(&stmt, &[&a.user_id]).await?;
            }
            _ => {}
        }
    }
    apply_segment(tx, &mut candidates, &mut changes, opts, &mut applied).await?;
    Ok(applied)
}

#[derive(Clone, Copy)]
struct SegmentOptions {
    limits: Limits,
    hand_over: bool,
}

/// Messages first, then the changes that came after them in the log; the
/// inbox entries of both are written in log order (the messages' first).
///
/// A few round trips, whatever the batch: the messages' seqs are reserved
/// and their rows copied in (the seqs are needed next); then, pipelined
/// (tokio-postgres sends the queries of futures polled together on one
/// connection without waiting for each answer), the recent-contacts upsert,
/// the messages' inbox entries and the changes; then the changes' inbox
/// entries and, only for users now over the cap, the trimming of contacts.
async fn apply_segment<'a>(
    tx: &Transaction<'_>,
    candidates: &mut Vec<NewMessage<'a>>,
    changes: &mut Vec<&'a Envelope>,
    SegmentOptions { limits, hand_over }: SegmentOptions,
    applied: &mut Applied,
) -> Result<(), tokio_postgres::Error> {
    let stored = if candidates.is_empty() {
        Vec::new()
    } else {
        let offered = candidates.len();
        let stored = store_messages(tx, std::mem::take(candidates)).await?;
        applied.duplicates += offered - stored.len();
        applied.messages += stored.len();
        stored
    };
    let mut inbox = InboxEntries::default();
    for (c, seq) in &stored {
        let m = c.m;
        for u in inbox_recipients(m) {
            inbox.push(
                Cow::Borrowed(u),
                "message",
                &m.conversation_id,
                *seq,
                &m.msg_key,
                m.sent_at + i64::from(m.lifetime_seconds) * 1000,
                None,
            );
        }
    }
    let changed = async {
        let mut entries = InboxEntries::default();
        for env in changes.drain(..) {
            apply_change_of_message(tx, env, &mut entries, limits).await?;
        }
        Ok(entries)
    };
    let (over, written, changed) = futures::try_join!(
        upsert_contacts(tx, &stored, limits),
        inbox.write(tx),
        changed
    )?;
    let ((), changes_written) =
        futures::try_join!(prune_contacts(tx, &over, limits), changed.write(tx))?;
    for w in written.iter().chain(&changes_written) {
        let newest = applied.cursors.entry(w.user.clone()).or_insert(w.cursor);
        *newest = (*newest).max(w.cursor);
    }
    if hand_over {
        hand_over_messages(stored, &written, &mut applied.live);
    }
    Ok(())
}

/// The messages' inbox entries, as pushed.
fn hand_over_messages(
    stored: Vec<(NewMessage<'_>, i64)>,
    written: &[Written<'_>],
    live: &mut Vec<missive_core::live::LiveEntry>,
) {
    use missive_core::live::{LiveEntry, LiveMessage};
    use std::sync::Arc;
    let mut messages: HashMap<(&str, i64), Arc<LiveMessage>> = HashMap::new();
    for (c, seq) in stored {
        let m = c.m;
        messages.insert(
            (m.conversation_id.as_str(), seq),
            Arc::new(LiveMessage {
                conversation_id: m.conversation_id.clone(),
                seq,
                msg_key: m.msg_key.clone(),
                from: m.from_account.clone(),
                to: m.to_account.clone(),
                sent_at_ms: m.sent_at,
                msg_random: m.msg_random,
                msg_seq: m.msg_seq,
                body: c.body,
                cloud_custom_data: m.cloud_custom_data.clone(),
                sender_nickname: m.sender_profile.nickname.clone(),
                sender_avatar_url: m.sender_profile.avatar_url.clone(),
                need_read_receipt: m.need_read_receipt,
            }),
        );
    }
    for w in written {
        if w.kind != "message" {
            continue;
        }
        if let Some(message) = messages.get(&(w.conversation, w.seq)) {
            live.push(LiveEntry {
                user: w.user.clone(),
                cursor: w.cursor,
                message: message.clone(),
            });
        }
    }
    // Each user's entries in cursor order, as a session takes them.
    live.sort_by(|a, b| (&a.user, a.cursor).cmp(&(&b.user, b.cursor)));
}

/// Inbox entries (columns of `copy_inbox.sql`), in log order: each user's
/// entries get consecutive cursors in the order they were added.
#[derive(Default)]
struct InboxEntries<'a> {
    user: Vec<Cow<'a, str>>,
    kind: Vec<&'static str>,
    conversation: Vec<&'a str>,
    seq: Vec<i64>,
    key: Vec<&'a str>,
    expires: Vec<i64>,
    reader: Vec<Option<&'a str>>,
}

impl<'a> InboxEntries<'a> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        user: Cow<'a, str>,
        kind: &'static str,
        conversation: &'a str,
        seq: i64,
        key: &'a str,
        expires: i64,
        reader: Option<&'a str>,
    ) {
        self.user.push(user);
        self.kind.push(kind);
        self.conversation.push(conversation);
        self.seq.push(seq);
        self.key.push(key);
        self.expires.push(expires);
        self.reader.push(reader);
    }

    /// Writes the entries: reserves each user's cursors, hands them out in
    /// the order the entries were added, and copies the rows in. Returns
    /// each entry as written.
    async fn write(&self, tx: &Transaction<'_>) -> Result<Vec<Written<'a>>, tokio_postgres::Error> {
        if self.user.is_empty() {
            return Ok(Vec::new());
        }
        // Sorted: concurrent projectors lock cursor rows in the same order.
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for user in &self.user {
            *counts.entry(user.as_ref()).or_insert(0) += 1;
        }
        let (users, ns): (Vec<&str>, Vec<i64>) = counts.iter().map(|(u, n)| (*u, *n)).unzip();
        let reserve = tx
            .prepare_cached(include_str!("sql/reserve_cursors.sql"))
            .await?;
        let rows = tx.query(&reserve, &[&users, &ns]).await?;
        let mut next: HashMap<&str, i64> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let (user, last): (&str, i64) = (row.get(0), row.get(1));
            let n = counts.get(user).copied().unwrap_or_default();
            next.insert(user, last - n + 1);
        }
        let mut written = Vec::with_capacity(self.user.len());
        for (i, user) in self.user.iter().enumerate() {
            let cursor = next
                .get_mut(user.as_ref())
                .expect("every user with an entry had cursors reserved");
            written.push(Written {
                user: user.to_string(),
                cursor: *cursor,
                kind: self.kind[i],
                conversation: self.conversation[i],
                seq: self.seq[i],
            });
            *cursor += 1;
        }
        let copy = tx.prepare_cached(COPY_INBOX).await?;
        let sink = tx.copy_in(&copy).await?;
        let writer = BinaryCopyInWriter::new(sink, &INBOX_COLUMNS);
        futures::pin_mut!(writer);
        for (i, w) in written.iter().enumerate() {
            let row: [&(dyn ToSql + Sync); 8] = [
                &w.user,
                &w.cursor,
                &w.kind,
                &w.conversation,
                &w.seq,
                &self.key[i],
                &self.expires[i],
                &self.reader[i],
            ];
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
        Ok(written)
    }
}

/// An inbox entry as written.
struct Written<'a> {
    user: String,
    cursor: i64,
    kind: &'static str,
    conversation: &'a str,
    seq: i64,
}

/// The types of `copy_inbox.sql`'s columns, in its order.
pub const INBOX_COLUMNS: [Type; 8] = [
    Type::TEXT, // user_id
    Type::INT8, // cursor
    Type::TEXT, // kind
    Type::TEXT, // conversation_id
    Type::INT8, // seq
    Type::TEXT, // msg_key
    Type::INT8, // expires_at_ms
    Type::TEXT, // reader
];

/// `COPY` of inbox entries (`INBOX_COLUMNS`), binary.
pub const COPY_INBOX: &str = include_str!("sql/copy_inbox.sql");

/// A recall, an edit, a read or read receipts. A recall or an edit changes
/// the history row in place; a read moves the reader's read seq. Either way
/// both parties' inboxes get an entry so their devices update (a read: the
/// reader's other devices clear the unread count, the peer's show a read
/// receipt). Per-message receipts mark the messages and tell the sender only.
async fn apply_change_of_message<'a>(
    tx: &Transaction<'_>,
    env: &'a Envelope,
    inbox: &mut InboxEntries<'a>,
    limits: Limits,
) -> Result<(), tokio_postgres::Error> {
    struct Entry<'a> {
        kind: &'static str,
        conversation: &'a str,
        seq: i64,
        key: &'a str,
        reader: Option<&'a str>,
        users: Vec<Cow<'a, str>>,
    }
    let expires = env.occurred_at + i64::from(missive_core::msgbody::MAX_OFFLINE_SECONDS) * 1000;
    let entry = match &env.event {
        Event::MessageReceiptsSent(r) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/read_receipts.sql"))
                .await?;
            let marked = tx
                .query(
                    &stmt,
                    &[&r.conversation_id, &r.reader, &r.msg_keys, &env.occurred_at],
                )
                .await?;
            // The sender's devices are told, one entry per message, in the
            // order the reader listed them.
            let mut seqs: HashMap<String, i64> = marked
                .iter()
                .map(|row| (row.get::<_, String>(1), row.get::<_, i64>(0)))
                .collect();
            for key in &r.msg_keys {
                if let Some(seq) = seqs.remove(key) {
                    inbox.push(
                        Cow::Borrowed(r.peer.as_str()),
                        "receipt",
                        &r.conversation_id,
                        seq,
                        key,
                        expires,
                        Some(&r.reader),
                    );
                }
            }
            return Ok(());
        }
        Event::ConversationRead(r) => {
            let stmt = tx.prepare_cached(include_str!("sql/mark_read.sql")).await?;
            let moved = tx
                .query_opt(
                    &stmt,
                    &[&r.reader, &r.peer, &r.conversation_id, &r.read_time],
                )
                .await?;
            // Not moved (an older read time), or nothing to read yet.
            let Some(read_seq) = moved.map(|row| row.get::<_, i64>(0)).filter(|s| *s > 0) else {
                return Ok(());
            };
            Entry {
                kind: "read",
                conversation: &r.conversation_id,
                seq: read_seq,
                key: "",
                reader: Some(&r.reader),
                users: vec![
                    Cow::Borrowed(r.reader.as_str()),
                    Cow::Borrowed(r.peer.as_str()),
                ],
            }
        }
        Event::MessageRecalled(_) | Event::MessageModified(_) => {
            let (kind, row, conversation, key) = match &env.event {
                Event::MessageRecalled(r) => {
                    let stmt = tx
                        .prepare_cached(include_str!("sql/recall_message.sql"))
                        .await?;
                    let row = tx
                        .query_opt(&stmt, &[&r.conversation_id, &r.msg_key])
                        .await?;
                    ("recall", row, &r.conversation_id, &r.msg_key)
                }
                Event::MessageModified(m) => {
                    let body = m.body.as_ref().map(|b| msgbody::render(b));
                    let stmt = tx
                        .prepare_cached(include_str!("sql/modify_message.sql"))
                        .await?;
                    let row = tx
                        .query_opt(
                            &stmt,
                            &[&m.conversation_id, &m.msg_key, &body, &m.cloud_custom_data],
                        )
                        .await?;
                    ("edit", row, &m.conversation_id, &m.msg_key)
                }
                _ => unreachable!("matched above"),
            };
            // Already recalled, or never stored: nothing to tell anyone.
            let Some(row) = row else { return Ok(()) };
            let (seq, from, to, hidden_from_recipient): (i64, String, String, bool) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let mut users = vec![Cow::Owned(from)];
            if !hidden_from_recipient {
                users.push(Cow::Owned(to));
            }
            Entry {
                kind,
                conversation,
                seq,
                key,
                reader: None,
                users,
            }
        }
        Event::ConversationDeleted(d) => {
            delete_conversation(tx, d, limits).await?;
            return Ok(());
        }
        Event::ConversationPinned(p) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/pin_conversation.sql"))
                .await?;
            tx.execute(&stmt, &[&p.user_id, &p.peer, &p.pinned]).await?;
            return Ok(());
        }
        Event::ConversationMarked(m) => {
            let stmt = tx
                .prepare_cached(include_str!("sql/mark_conversation.sql"))
                .await?;
            tx.execute(
                &stmt,
                &[
                    &m.user_id,
                    &m.peer,
                    &m.set_marks,
                    &m.clear_marks,
                    &m.custom_mark,
                    &env.occurred_at,
                ],
            )
            .await?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    let mut users = entry.users;
    users.sort_unstable();
    users.dedup();
    for user in users {
        inbox.push(
            user,
            entry.kind,
            entry.conversation,
            entry.seq,
            entry.key,
            expires,
            entry.reader,
        );
    }
    Ok(())
}

/// `recentcontact/delete`: the contact leaves the user's list (unpinned); with
/// ClearRamble the conversation's messages so far (this is applied in log
/// order) leave the user's history, and only theirs.
async fn delete_conversation(
    tx: &Transaction<'_>,
    d: &missive_schemas::ConversationDeleted,
    limits: Limits,
) -> Result<(), tokio_postgres::Error> {
    let delete = tx
        .prepare_cached(include_str!("sql/delete_contact.sql"))
        .await?;
    tx.execute(&delete, &[&d.user_id, &d.peer, &limits.recent_contacts_max])
        .await?;
    let unpin = tx
        .prepare_cached(include_str!("sql/unpin_conversation.sql"))
        .await?;
    tx.execute(&unpin, &[&d.user_id, &d.peer]).await?;
    if d.clear_history {
        let clear = tx
            .prepare_cached(include_str!("sql/clear_history.sql"))
            .await?;
        tx.execute(&clear, &[&d.conversation_id, &d.user_id])
            .await?;
    }
    Ok(())
}

/// The types of `copy_messages.sql`'s columns, in its order.
pub const MESSAGE_COLUMNS: [Type; 18] = [
    Type::TEXT,  // conversation_id
    Type::INT8,  // seq
    Type::TEXT,  // msg_key
    Type::TEXT,  // from_account
    Type::TEXT,  // to_account
    Type::INT8,  // msg_random
    Type::INT8,  // msg_seq
    Type::INT8,  // sent_at_ms
    Type::JSONB, // body
    Type::TEXT,  // cloud_custom_data
    Type::TEXT,  // sender_nickname
    Type::TEXT,  // sender_avatar_url
    Type::BOOL,  // hidden_from_sender
    Type::BOOL,  // hidden_from_recipient
    Type::BOOL,  // admin
    Type::UUID,  // event_id
    Type::BOOL,  // counts_unread
    Type::BOOL,  // need_read_receipt
];

/// `COPY` of history rows (`MESSAGE_COLUMNS`), binary.
pub const COPY_MESSAGES: &str = include_str!("sql/copy_messages.sql");

/// Stores the messages not stored yet: `reserve_seqs.sql` leaves out the
/// retries and reserves each conversation's seqs, which are handed out here
/// in log order; then the rows go in by binary COPY. Returns each stored
/// message with its seq, in log order.
async fn store_messages<'a>(
    tx: &Transaction<'_>,
    candidates: Vec<NewMessage<'a>>,
) -> Result<Vec<(NewMessage<'a>, i64)>, tokio_postgres::Error> {
    let n = candidates.len();
    let mut conversations = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    for c in &candidates {
        conversations.push(c.m.conversation_id.as_str());
        keys.push(c.m.msg_key.as_str());
        times.push(c.m.sent_at);
    }
    let reserve = tx
        .prepare_cached(include_str!("sql/reserve_seqs.sql"))
        .await?;
    let rows = tx.query(&reserve, &[&conversations, &keys, &times]).await?;
    // A message absent from the places was a retry.
    let mut fresh = vec![false; n];
    let mut last_seq: HashMap<&str, i64> = HashMap::new();
    for row in &rows {
        match row.get::<_, Option<i64>>(0) {
            Some(place) => fresh[(place - 1) as usize] = true,
            None => {
                last_seq.insert(row.get(1), row.get(2));
            }
        }
    }
    // Each conversation's reserved range ends at its last seq: its first new
    // message (in log order) gets last - count + 1.
    let mut next_seq: HashMap<&str, i64> = HashMap::with_capacity(last_seq.len());
    for (c, _) in candidates.iter().zip(&fresh).filter(|(_, f)| **f) {
        *next_seq.entry(c.m.conversation_id.as_str()).or_insert(0) += 1;
    }
    for (conversation, count) in next_seq.iter_mut() {
        let last = last_seq
            .get(conversation)
            .copied()
            .expect("every conversation with a new message had seqs reserved");
        *count = last - *count + 1;
    }
    let stored: Vec<(NewMessage<'a>, i64)> = candidates
        .into_iter()
        .zip(fresh)
        .filter(|(_, f)| *f)
        .map(|(c, _)| {
            let next = next_seq
                .get_mut(c.m.conversation_id.as_str())
                .expect("counted above");
            let seq = *next;
            *next += 1;
            (c, seq)
        })
        .collect();
    if stored.is_empty() {
        return Ok(stored);
    }
    let copy = tx.prepare_cached(COPY_MESSAGES).await?;
    let sink = tx.copy_in(&copy).await?;
    let writer = BinaryCopyInWriter::new(sink, &MESSAGE_COLUMNS);
    futures::pin_mut!(writer);
    for (c, seq) in &stored {
        let m = c.m;
        let row: [&(dyn ToSql + Sync); 18] = [
            &m.conversation_id,
            seq,
            &m.msg_key,
            &m.from_account,
            &m.to_account,
            &m.msg_random,
            &m.msg_seq,
            &m.sent_at,
            &c.body,
            &m.cloud_custom_data,
            &m.sender_profile.nickname,
            &m.sender_profile.avatar_url,
            &(m.sync_other_machine == SyncOtherMachine::NoSync || online_only(m)),
            &(!m.reaches_recipient() || online_only(m)),
            &c.admin,
            &c.event_id,
            &(m.reaches_recipient()
                && m.import_mode != ImportMode::History
                && m.from_account != m.to_account
                && !m.no_unread
                && !online_only(m)),
            &m.need_read_receipt,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    Ok(stored)
}

/// Who sees a message in their recent contacts: each side that sees it in
/// history, as (user, peer). A message sent with `NoLastMsg`, or online
/// only, touches no one's.
fn contact_sides(m: &MessageSent) -> impl Iterator<Item = (&str, &str)> {
    let from = m.from_account.as_str();
    let to = m.to_account.as_str();
    let listed = !m.no_last_msg && !online_only(m);
    let sender = (listed && m.sync_other_machine != SyncOtherMachine::NoSync).then_some((from, to));
    let recipient = (listed && m.reaches_recipient() && from != to).then_some((to, from));
    sender.into_iter().chain(recipient)
}

/// `MsgLifeTime` 0: Tencent sends it to online devices only. Its row exists
/// only so the pushes (live hand-over and inbox reads, whose entries expire
/// at once) can carry it: hidden from both sides' history, never unread,
/// never a conversation's last message.
fn online_only(m: &MessageSent) -> bool {
    m.lifetime_seconds == 0
}

/// Recent contacts: one upsert for the batch (each pair's newest message).
/// Returns the users now past `Limits::contacts_trim_above`, sorted.
async fn upsert_contacts(
    tx: &Transaction<'_>,
    stored: &[(NewMessage<'_>, i64)],
    limits: Limits,
) -> Result<Vec<String>, tokio_postgres::Error> {
    // (user, peer) -> (conversation, seq, key, time); sorted so concurrent
    // transactions lock rows in the same order.
    let mut latest: BTreeMap<(&str, &str), (&str, i64, &str, i64)> = BTreeMap::new();
    for (c, seq) in stored {
        let (m, seq) = (c.m, *seq);
        for side in contact_sides(m) {
            let e = latest.entry(side).or_insert((
                m.conversation_id.as_str(),
                seq,
                m.msg_key.as_str(),
                m.sent_at,
            ));
            if seq > e.1 {
                (e.1, e.2) = (seq, m.msg_key.as_str());
            }
            e.3 = e.3.max(m.sent_at);
        }
    }
    if latest.is_empty() {
        return Ok(Vec::new());
    }
    let n = latest.len();
    let (mut users, mut peers, mut convs, mut last_seqs, mut keys, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((user, peer), (conv, seq, key, at)) in latest {
        users.push(user);
        peers.push(peer);
        convs.push(conv);
        last_seqs.push(seq);
        keys.push(key);
        times.push(at);
    }
    let upsert = tx
        .prepare_cached(include_str!("sql/upsert_contacts.sql"))
        .await?;
    let over: BTreeSet<String> = tx
        .query(
            &upsert,
            &[
                &users,
                &peers,
                &convs,
                &last_seqs,
                &keys,
                &times,
                &limits.contacts_trim_above(),
            ],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(over.into_iter().collect())
}

/// Trims the users past `Limits::contacts_trim_above` to the cap.
async fn prune_contacts(
    tx: &Transaction<'_>,
    over: &[String],
    limits: Limits,
) -> Result<(), tokio_postgres::Error> {
    if over.is_empty() {
        return Ok(());
    }
    let prune = tx
        .prepare_cached(include_str!("sql/prune_contacts.sql"))
        .await?;
    tx.execute(&prune, &[&over, &limits.recent_contacts_max])
        .await?;
    Ok(())
}
