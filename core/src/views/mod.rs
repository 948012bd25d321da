//! Reads of the views that more than one service serves (REST and WebSocket
//! both read history). The projector alone writes them.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use serde_json::Value;

use missive_schemas::SenderProfile;

mod digest;
pub use digest::{digest, TableDigest};

/// PostgreSQL channel the projector notifies, after each commit, with the ids
/// of the users whose inbox grew; delivery listens on it to push.
pub const INBOX_CHANNEL: &str = "missive_inbox";
/// A notification on [`INBOX_CHANNEL`] of this prefix and a user id asks
/// delivery to close every session of the user (kick, account deletion).
pub const CLOSE_SESSIONS_PREFIX: &str = "!close:";
/// A notification on [`INBOX_CHANNEL`] of this prefix and `typist,peer`
/// relays a typing indicator to the peer's sessions (never stored; user ids
/// never hold a comma).
pub const TYPING_PREFIX: &str = "!typing:";

/// A message as one side of the conversation sees it in history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub seq: i64,
    pub msg_key: String,
    pub from_account: String,
    pub to_account: String,
    pub msg_random: i64,
    pub msg_seq: i64,
    pub sent_at_ms: i64,
    /// Tencent `MsgBody`.
    pub body: Value,
    pub cloud_custom_data: String,
    pub sender: SenderProfile,
    pub recalled: bool,
    /// Its recipient read it (their read position covers it, or they sent a
    /// read receipt for it): Tencent `IsPeerRead`.
    pub peer_read: bool,
    /// Sent with `IsNeedReadReceipt`: the recipient may send a read receipt.
    pub need_read_receipt: bool,
}

/// Which slice of history to read.
#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub conversation_id: &'a str,
    /// Whose view: hidden messages of this side are left out.
    pub viewer: &'a str,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// Only messages with a smaller seq (paging backwards).
    pub before_seq: i64,
    pub limit: i64,
}

pub async fn history_page(
    client: &impl GenericClient,
    q: &HistoryQuery<'_>,
) -> Result<Vec<StoredMessage>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/history_page.sql"))
        .await?;
    let rows = client
        .query(
            &stmt,
            &[
                &q.conversation_id,
                &q.viewer,
                &q.min_time_ms,
                &q.max_time_ms,
                &q.before_seq,
                &q.limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(stored_message).collect())
}

/// A page for `admin_getroammsg`: ordered by message time, then seq, newest
/// first, strictly before `(before_time_ms, q.before_seq)`.
pub async fn roam_page(
    client: &impl GenericClient,
    q: &HistoryQuery<'_>,
    before_time_ms: i64,
) -> Result<Vec<StoredMessage>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/roam_page.sql"))
        .await?;
    let rows = client
        .query(
            &stmt,
            &[
                &q.conversation_id,
                &q.viewer,
                &q.min_time_ms,
                &q.max_time_ms,
                &before_time_ms,
                &q.before_seq,
                &q.limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(stored_message).collect())
}

/// A row of history_page.sql / roam_page.sql.
fn stored_message(r: &tokio_postgres::Row) -> StoredMessage {
    StoredMessage {
        seq: r.get(0),
        msg_key: r.get(1),
        from_account: r.get(2),
        to_account: r.get(3),
        msg_random: r.get(4),
        msg_seq: r.get(5),
        sent_at_ms: r.get(6),
        body: r.get(7),
        cloud_custom_data: r.get(8),
        sender: SenderProfile {
            nickname: r.get(9),
            avatar_url: r.get(10),
        },
        recalled: r.get(11),
        peer_read: r.get(12),
        need_read_receipt: r.get(13),
    }
}

/// `(seq, sent_at_ms)` of a message already in history.
pub async fn message_by_key(
    client: &impl GenericClient,
    conversation_id: &str,
    msg_key: &str,
) -> Result<Option<(i64, i64)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/message_by_key.sql"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&conversation_id, &msg_key])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// How two users stand, as a send from `sender` to `recipient` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relationship {
    pub recipient_blocks_sender: bool,
    /// The recipient is in the sender's friend list.
    pub sender_lists_recipient: bool,
    /// The sender is in the recipient's friend list.
    pub recipient_lists_sender: bool,
    pub sender_blocks_recipient: bool,
}

impl Relationship {
    fn from_row(r: &tokio_postgres::Row, at: usize) -> Self {
        Self {
            recipient_blocks_sender: r.get(at),
            sender_lists_recipient: r.get(at + 1),
            recipient_lists_sender: r.get(at + 2),
            sender_blocks_recipient: r.get(at + 3),
        }
    }
}

/// How `sender` stands with each of `recipients`, in the same order.
pub async fn relationships(
    client: &impl GenericClient,
    sender: &str,
    recipients: &[&str],
) -> Result<Vec<Relationship>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/relationships.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&sender, &recipients])
        .await?
        .iter()
        .map(|r| Relationship::from_row(r, 0))
        .collect())
}

/// What a send is decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendContext {
    /// `sent_at_ms` of the message when this send is a retry of a stored one.
    pub existing_sent_at_ms: Option<i64>,
    /// The sender's profile; empty when they set none.
    pub sender: SenderProfile,
    pub relationship: Relationship,
    pub sender_account: AccountState,
    pub recipient_account: AccountState,
    /// Until when the sender is muted for one-to-one messages (ms; 0: not muted).
    pub sender_muted_until_ms: i64,
}

/// One send as its probe ([`send_contexts`]) names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendKey {
    pub conversation_id: String,
    pub msg_key: String,
    pub sender: String,
    pub recipient: String,
}

/// What each of `sends` is decided on, in the same order, in one statement
/// however many they are.
pub async fn send_contexts(
    client: &impl GenericClient,
    sends: &[SendKey],
) -> Result<Vec<SendContext>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/send_contexts.sql"))
        .await?;
    let column = |f: fn(&SendKey) -> &str| sends.iter().map(f).collect::<Vec<&str>>();
    let mut rows = client
        .query(
            &stmt,
            &[
                &column(|s| &s.conversation_id),
                &column(|s| &s.msg_key),
                &column(|s| &s.sender),
                &column(|s| &s.recipient),
            ],
        )
        .await?;
    // One row per send (every probe is a LEFT JOIN on a unique key), by
    // ordinality.
    rows.sort_by_key(|r| r.get::<_, i64>(0));
    debug_assert_eq!(rows.len(), sends.len());
    Ok(rows
        .iter()
        .map(|r| SendContext {
            existing_sent_at_ms: r.get(1),
            sender: SenderProfile {
                nickname: r.get::<_, Option<String>>(2).unwrap_or_default(),
                avatar_url: r.get::<_, Option<String>>(3).unwrap_or_default(),
            },
            relationship: Relationship::from_row(r, 4),
            sender_account: AccountState {
                imported: r.get(8),
                deleted: r.get(10),
            },
            recipient_account: AccountState {
                imported: r.get(9),
                deleted: r.get(11),
            },
            sender_muted_until_ms: r.get(12),
        })
        .collect())
}

/// An account as a send sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountState {
    /// Imported (account_import, multiaccount_import) and not deleted since.
    pub imported: bool,
    /// Deleted (account_delete) and not imported again since.
    pub deleted: bool,
}

/// An account's lifecycle state as logins and account APIs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifecycle {
    pub imported: bool,
    pub deleted: bool,
    /// UserSigs issued (TLS.time) before this second are refused.
    pub kicked_at_secs: i64,
    pub c2c_nospeaking_seconds: i64,
    pub c2c_muted_until_ms: i64,
}

/// The lifecycle state of each of `users` (every one, known or not), in order.
pub async fn lifecycles(
    client: &impl GenericClient,
    users: &[&str],
) -> Result<Vec<Lifecycle>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/lifecycles.sql"))
        .await?;
    let rows = client.query(&stmt, &[&users]).await?;
    let by_user: std::collections::HashMap<String, Lifecycle> = rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                Lifecycle {
                    imported: r.get(1),
                    deleted: r.get(2),
                    kicked_at_secs: r.get::<_, i64>(3) / 1000,
                    c2c_nospeaking_seconds: r.get(4),
                    c2c_muted_until_ms: r.get(5),
                },
            )
        })
        .collect();
    Ok(users
        .iter()
        .map(|u| by_user.get(*u).copied().unwrap_or_default())
        .collect())
}

/// Which of `users` are imported accounts.
pub async fn accounts_among(
    client: &impl GenericClient,
    users: &[&str],
) -> Result<std::collections::HashSet<String>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/accounts_among.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&users])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Profiles of the imported accounts among `users`.
pub async fn profiles_of(
    client: &impl GenericClient,
    users: &[&str],
) -> Result<std::collections::HashMap<String, SenderProfile>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/profiles_of.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&users])
        .await?
        .iter()
        .map(|r| {
            (
                r.get(0),
                SenderProfile {
                    nickname: r.get(1),
                    avatar_url: r.get(2),
                },
            )
        })
        .collect())
}

/// One page of a user's blocklist: `(blocked user, blocked at ms)`.
/// How a user takes friend requests (Tencent `Tag_Profile_IM_AllowType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowType {
    AllowAny,
    NeedConfirm,
    DenyAny,
}

/// What a friend request to or from a user is decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FriendSettings {
    pub allow: AllowType,
    /// The administrator forbade the user to send friend requests.
    pub send_forbidden: bool,
}

/// The friend settings of those of `users` with a profile (the others take
/// Tencent's defaults: they confirm requests and may send them).
pub async fn friend_settings(
    client: &impl GenericClient,
    users: &[&str],
) -> Result<HashMap<String, FriendSettings>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/friend_settings.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&users])
        .await?
        .iter()
        .map(|r| {
            let allow = match r.get::<_, &str>(1) {
                "AllowType_Type_AllowAny" => AllowType::AllowAny,
                "AllowType_Type_DenyAny" => AllowType::DenyAny,
                _ => AllowType::NeedConfirm,
            };
            (
                r.get(0),
                FriendSettings {
                    allow,
                    send_forbidden: r.get(2),
                },
            )
        })
        .collect())
}

/// An imported account's profile: nickname, avatar and every other tag set
/// (tag -> value).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileTags {
    pub nickname: String,
    pub avatar_url: String,
    pub fields: serde_json::Value,
}

pub async fn profile_tags_of(
    client: &impl GenericClient,
    users: &[&str],
) -> Result<HashMap<String, ProfileTags>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/profile_tags_of.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&users])
        .await?
        .iter()
        .map(|r| {
            (
                r.get(0),
                ProfileTags {
                    nickname: r.get(1),
                    avatar_url: r.get(2),
                    fields: r.get(3),
                },
            )
        })
        .collect())
}

/// One entry of a friend list.
#[derive(Debug, Clone, PartialEq)]
pub struct FriendRow {
    pub friend_id: String,
    pub remark: String,
    pub groups: Vec<String>,
    pub add_source: String,
    pub add_wording: String,
    pub added_at_ms: i64,
    /// `Tag_SNS_Custom_*` tag -> value.
    pub custom: serde_json::Value,
}

fn friend_rows(rows: &[tokio_postgres::Row]) -> Vec<FriendRow> {
    rows.iter()
        .map(|r| FriendRow {
            friend_id: r.get(0),
            remark: r.get(1),
            groups: r.get(2),
            add_source: r.get(3),
            add_wording: r.get(4),
            added_at_ms: r.get(5),
            custom: r.get(6),
        })
        .collect()
}

/// `user`'s friends from the `start`-th (by friend id), at most `limit`,
/// and how many friends they have in all.
pub async fn friend_page(
    client: &impl GenericClient,
    user: &str,
    start: i64,
    limit: i64,
) -> Result<(Vec<FriendRow>, i64), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/friend_page.sql"))
        .await?;
    let rows = client.query(&stmt, &[&user, &start, &limit]).await?;
    let total = rows.first().map_or(0, |r| r.get(7));
    let page: Vec<_> = rows
        .into_iter()
        .filter(|r| r.get::<_, Option<&str>>(0).is_some())
        .collect();
    Ok((friend_rows(&page), total))
}

/// `user`'s entries for those of `friends` in their friend list.
pub async fn friends_among(
    client: &impl GenericClient,
    user: &str,
    friends: &[&str],
) -> Result<HashMap<String, FriendRow>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/friends_among.sql"))
        .await?;
    let rows = client.query(&stmt, &[&user, &friends]).await?;
    Ok(friend_rows(&rows)
        .into_iter()
        .map(|f| (f.friend_id.clone(), f))
        .collect())
}

/// A friend request waiting for its target's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRequest {
    pub requester: String,
    pub both: bool,
    pub remark: String,
    pub groups: Vec<String>,
    pub add_source: String,
    pub add_wording: String,
    pub requested_at_ms: i64,
}

/// The requests to `target` pending from each of `requesters` who sent one.
pub async fn friend_requests_to(
    client: &impl GenericClient,
    target: &str,
    requesters: &[&str],
) -> Result<HashMap<String, FriendRequest>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/friend_requests_to.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&target, &requesters])
        .await?
        .iter()
        .map(|r| {
            let f = FriendRequest {
                requester: r.get(0),
                both: r.get(1),
                remark: r.get(2),
                groups: r.get(3),
                add_source: r.get(4),
                add_wording: r.get(5),
                requested_at_ms: r.get(6),
            };
            (f.requester.clone(), f)
        })
        .collect())
}

/// One pending request as a list shows it: the other user, the source, the
/// wording and when it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub other: String,
    pub add_source: String,
    pub add_wording: String,
    pub requested_at_ms: i64,
}

/// `user`'s pending requests, received (`incoming`) or sent, oldest first.
pub async fn friend_request_page(
    client: &impl GenericClient,
    user: &str,
    incoming: bool,
    start: i64,
    limit: i64,
) -> Result<Vec<PendingRequest>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/friend_request_page.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&user, &incoming, &start, &limit])
        .await?
        .iter()
        .map(|r| PendingRequest {
            other: r.get(0),
            add_source: r.get(1),
            add_wording: r.get(2),
            requested_at_ms: r.get(3),
        })
        .collect())
}

pub async fn block_page(
    client: &impl GenericClient,
    user: &str,
    start: i64,
    limit: i64,
) -> Result<Vec<(String, i64)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/block_page.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&user, &start, &limit])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// `(from_account, to_account, recalled)` of a message in history.
pub async fn message_meta(
    client: &impl GenericClient,
    conversation_id: &str,
    msg_key: &str,
) -> Result<Option<(String, String, bool)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/message_meta.sql"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&conversation_id, &msg_key])
        .await?
        .map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// For each of `keys` stored in `conversation_id`: its recipient, and
/// whether it asked for a read receipt and was not recalled.
pub async fn receipt_requests(
    client: &impl GenericClient,
    conversation_id: &str,
    keys: &[&str],
) -> Result<Vec<(String, String, bool)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/receipt_requests.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&conversation_id, &keys])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Tencent's offline caps: only this many of a user's most recently active
/// conversations, and this many waiting messages in each, are offered at
/// login and counted as unread. Past them, messages stay in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineCaps {
    pub conversations: i64,
    pub per_conversation: i64,
    /// Recent contacts a user has (`recent_contacts_max`): the most recently
    /// active ones. The projector trims the ones past it in steps
    /// (`contacts_trim_above`), so reads take the first this many.
    pub contacts: i64,
}

impl OfflineCaps {
    pub fn from_config(views: &crate::config::ViewsConfig) -> Self {
        let contacts = views.recent_contacts_max.max(1);
        Self {
            // Offline conversations are among the recent contacts, so never
            // more than those: the rows past that cap kept until the next
            // trim (`contacts_trim_above`) must not be counted.
            conversations: views.offline_conversations_max.clamp(0, contacts),
            per_conversation: views.offline_unread_max.max(0),
            contacts,
        }
    }
}

/// How many contact rows a user may have before the projector trims it back
/// to `contacts_max`. Trimming reads all of a user's contacts, so trimming on
/// every new contact past the cap cost a user at the cap ~125 buffer reads
/// per new contact: at 2,000 msg/s with users at the cap it was PostgreSQL's
/// costliest statement, 7.4 ms per batch (docs/benchmarks.md, step 29). With
/// a quarter of the cap as slack, a user is trimmed once per that many new
/// contacts. The rows past the cap are never shown: reads take the first
/// `contacts_max`, and a deleted contact trims its user first, so none of
/// them can move up.
pub fn contacts_trim_above(contacts_max: i64) -> i64 {
    let max = contacts_max.max(1);
    max + (max / 4).max(1)
}

/// Messages from `peer` that `user` has not read.
pub async fn unread_with(
    client: &impl GenericClient,
    user: &str,
    peer: &str,
    caps: OfflineCaps,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/unread_with.sql"))
        .await?;
    let conversation = missive_schemas::conversation_id(user, peer);
    Ok(client
        .query_one(
            &stmt,
            &[
                &user,
                &peer,
                &conversation,
                &caps.per_conversation,
                &caps.conversations,
            ],
        )
        .await?
        .get(0))
}

/// Every message to `user` that they have not read.
pub async fn unread_total(
    client: &impl GenericClient,
    user: &str,
    caps: OfflineCaps,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/unread_total.sql"))
        .await?;
    Ok(client
        .query_one(&stmt, &[&user, &caps.per_conversation, &caps.conversations])
        .await?
        .get(0))
}

/// One conversation in a user's recent contacts.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentContact {
    pub peer: String,
    pub conversation_id: String,
    /// Activity time (ms) the list is ordered by.
    pub last_at_ms: i64,
    pub last_seq: i64,
    pub last_msg_key: String,
    /// The last message, unless retention removed it from history.
    pub last_message: Option<StoredMessage>,
    /// Within the offline caps.
    pub unread: i64,
    /// Pinned by the user (Tencent `TopFlag`).
    pub pinned: bool,
}

/// `user`'s recent contacts, most recently active first (with
/// `pinned_first`, the pinned ones before the rest): `limit` of them from
/// position `start`.
pub async fn recent_contacts(
    client: &impl GenericClient,
    user: &str,
    start: i64,
    limit: i64,
    caps: OfflineCaps,
    pinned_first: bool,
) -> Result<Vec<RecentContact>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/recent_contacts.sql"))
        .await?;
    let rows = client
        .query(
            &stmt,
            &[
                &user,
                &limit,
                &start,
                &caps.per_conversation,
                &pinned_first,
                &caps.contacts,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let last_seq: i64 = r.get(2);
            let last_msg_key: String = r.get(3);
            let last_message = r
                .get::<_, Option<String>>(5)
                .map(|from_account| StoredMessage {
                    seq: last_seq,
                    msg_key: last_msg_key.clone(),
                    from_account,
                    to_account: r.get(6),
                    msg_random: r.get(7),
                    msg_seq: r.get(8),
                    sent_at_ms: r.get(9),
                    body: r.get(10),
                    cloud_custom_data: r.get(11),
                    sender: SenderProfile {
                        nickname: r.get(12),
                        avatar_url: r.get(13),
                    },
                    recalled: r.get(14),
                    peer_read: r.get(17),
                    need_read_receipt: r.get(18),
                });
            // Past the conversation cap nothing counts as unread.
            let within_cap = start + (i as i64) < caps.conversations;
            RecentContact {
                peer: r.get(0),
                conversation_id: r.get(1),
                last_at_ms: r.get(4),
                last_seq,
                last_msg_key,
                last_message,
                unread: if within_cap { r.get(15) } else { 0 },
                pinned: r.get(16),
            }
        })
        .collect())
}

/// A user's marks on one conversation (Tencent `recentcontact/mark_contact`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationMarks {
    pub peer: String,
    /// The 64 standard mark bits (bit n is 1 << n).
    pub standard_mark: i64,
    pub custom_mark: String,
    pub marked_at_ms: i64,
}

/// `user`'s marked conversations, by peer: `limit` of them from `start`.
pub async fn conversation_marks(
    client: &impl GenericClient,
    user: &str,
    start: i64,
    limit: i64,
) -> Result<Vec<ConversationMarks>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/conversation_marks.sql"))
        .await?;
    let rows = client.query(&stmt, &[&user, &limit, &start]).await?;
    Ok(rows
        .iter()
        .map(|r| ConversationMarks {
            peer: r.get(0),
            standard_mark: r.get(1),
            custom_mark: r.get(2),
            marked_at_ms: r.get(3),
        })
        .collect())
}

/// A device counts as online while its heartbeat is younger than this.
pub const PRESENCE_TTL_MS: i64 = 45_000;

/// `(user, platform)` of every live device of `users`.
pub async fn presence_of(
    client: &impl GenericClient,
    users: &[&str],
    now_ms: i64,
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/presence_of.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&users, &(now_ms - PRESENCE_TTL_MS)])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// `(user, device, platform)` of every push token registered to one of
/// `users`: devices that still get offline push while not connected.
pub async fn push_devices_of(
    client: &impl GenericClient,
    users: &[&str],
) -> Result<Vec<(String, String, String)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/push_devices_of.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&users])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The user `token` of `platform` (lower-case, as stored) is registered to.
pub async fn push_token_owner(
    client: &impl GenericClient,
    platform: &str,
    token: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/push_token_owner.sql"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&platform, &token])
        .await?
        .map(|r| r.get(0)))
}

/// How far the projector got on `topic`: the next offset it will read, per
/// partition (an event at offset `o` is in the views once this is past `o`).
pub async fn projected_offsets(
    client: &impl GenericClient,
    topic: &str,
) -> Result<std::collections::BTreeMap<i32, i64>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/projected_offsets.sql"))
        .await?;
    Ok(client
        .query(&stmt, &[&topic])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{contacts_trim_above, OfflineCaps};
    use crate::config::ViewsConfig;

    #[test]
    fn offline_conversations_stay_within_the_recent_contacts_a_user_has() {
        let views = ViewsConfig {
            recent_contacts_max: 10,
            offline_conversations_max: 50,
            ..ViewsConfig::default()
        };
        let caps = OfflineCaps::from_config(&views);
        assert_eq!((caps.contacts, caps.conversations), (10, 10));
        let views = ViewsConfig {
            offline_conversations_max: 4,
            ..views
        };
        assert_eq!(OfflineCaps::from_config(&views).conversations, 4);
    }

    #[test]
    fn contacts_are_trimmed_a_quarter_past_the_cap_and_never_at_it() {
        assert_eq!(contacts_trim_above(100), 125);
        assert_eq!(contacts_trim_above(3), 4);
        assert_eq!(contacts_trim_above(0), 2);
    }
}
