//! The Rust mirror of `avro/events.avsc`.
//!
//! Field names follow the schema; each type converts to and from an Avro
//! `Value` in schema order. `serde` derives exist for JSON export and logs,
//! not for the wire format.

use apache_avro::types::Value;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::avro_value::{enum_value, RecordBuilder, RecordReader};
use crate::DecodeError;

/// One record on the events topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: Uuid,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    pub origin: Origin,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub channel: Channel,
    pub actor: String,
    pub admin: bool,
    pub instance: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    Rest,
    Websocket,
    Commands,
    System,
}

const CHANNEL_SYMBOLS: &[&str] = &["REST", "WEBSOCKET", "COMMANDS", "SYSTEM"];

impl Channel {
    fn symbol(self) -> &'static str {
        CHANNEL_SYMBOLS[self as usize]
    }

    fn from_symbol(s: &str) -> Result<Self, DecodeError> {
        Ok(match s {
            "REST" => Self::Rest,
            "WEBSOCKET" => Self::Websocket,
            "COMMANDS" => Self::Commands,
            "SYSTEM" => Self::System,
            other => return Err(DecodeError::Shape(format!("unknown Channel `{other}`"))),
        })
    }
}

/// The kinds of event, in the order of the schema's union.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Event {
    MessageSent(Box<MessageSent>),
    AccountImported(AccountImported),
    ProfileUpdated(ProfileUpdated),
    FriendAdded(FriendAdded),
    FriendDeleted(FriendChange),
    BlockAdded(BlockChange),
    BlockRemoved(BlockChange),
    MessageRecalled(MessageRecalled),
    MessageModified(MessageModified),
    ConversationRead(ConversationRead),
    /// Added in v2.
    PushTokenRegistered(PushTokenRegistered),
    /// Added in v2.
    PushTokenRemoved(PushTokenRemoved),
    /// Added in v3.
    AccountDeleted(AccountChange),
    /// Added in v3.
    AccountKicked(AccountChange),
    /// Added in v3.
    NoSpeakingSet(NoSpeakingSet),
    /// Added in v4.
    ConversationDeleted(ConversationDeleted),
    /// Added in v5.
    FriendUpdated(FriendUpdated),
    /// Added in v5.
    FriendRequested(FriendRequested),
    /// Added in v5.
    FriendRequestAnswered(FriendRequestAnswered),
    ConversationPinned(ConversationPinned),
    /// Added in v5.
    ConversationMarked(ConversationMarked),
    /// Added in v5.
    MessageReceiptsSent(MessageReceiptsSent),
    /// Added in v6.
    SessionChanged(SessionChanged),
}

impl Event {
    /// The schema name of this kind, as used in filters and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::MessageSent(_) => "MessageSent",
            Event::AccountImported(_) => "AccountImported",
            Event::ProfileUpdated(_) => "ProfileUpdated",
            Event::FriendAdded(_) => "FriendAdded",
            Event::FriendDeleted(_) => "FriendDeleted",
            Event::BlockAdded(_) => "BlockAdded",
            Event::BlockRemoved(_) => "BlockRemoved",
            Event::MessageRecalled(_) => "MessageRecalled",
            Event::MessageModified(_) => "MessageModified",
            Event::ConversationRead(_) => "ConversationRead",
            Event::PushTokenRegistered(_) => "PushTokenRegistered",
            Event::PushTokenRemoved(_) => "PushTokenRemoved",
            Event::AccountDeleted(_) => "AccountDeleted",
            Event::AccountKicked(_) => "AccountKicked",
            Event::NoSpeakingSet(_) => "NoSpeakingSet",
            Event::ConversationDeleted(_) => "ConversationDeleted",
            Event::FriendUpdated(_) => "FriendUpdated",
            Event::FriendRequested(_) => "FriendRequested",
            Event::FriendRequestAnswered(_) => "FriendRequestAnswered",
            Event::ConversationPinned(_) => "ConversationPinned",
            Event::ConversationMarked(_) => "ConversationMarked",
            Event::MessageReceiptsSent(_) => "MessageReceiptsSent",
            Event::SessionChanged(_) => "SessionChanged",
        }
    }

    /// The users this event is about (for filters: "everything involving alice").
    pub fn users(&self) -> Vec<&str> {
        match self {
            Event::MessageSent(m) => vec![&m.from_account, &m.to_account],
            Event::AccountImported(a) => vec![&a.user_id],
            Event::ProfileUpdated(p) => vec![&p.user_id],
            Event::FriendAdded(f) => vec![&f.user_id, &f.friend_id],
            Event::FriendDeleted(f) => vec![&f.user_id, &f.friend_id],
            Event::BlockAdded(b) | Event::BlockRemoved(b) => vec![&b.user_id, &b.blocked_id],
            Event::MessageRecalled(r) => vec![&r.from_account, &r.to_account],
            Event::MessageModified(m) => vec![&m.from_account, &m.to_account],
            Event::ConversationRead(r) => vec![&r.reader, &r.peer],
            Event::PushTokenRegistered(t) => vec![&t.user_id],
            Event::PushTokenRemoved(t) => vec![&t.user_id],
            Event::AccountDeleted(a) | Event::AccountKicked(a) => vec![&a.user_id],
            Event::NoSpeakingSet(n) => vec![&n.user_id],
            Event::ConversationDeleted(d) => vec![&d.user_id, &d.peer],
            Event::FriendUpdated(f) => vec![&f.user_id, &f.friend_id],
            Event::FriendRequested(f) => vec![&f.user_id, &f.friend_id],
            Event::FriendRequestAnswered(a) => vec![&a.user_id, &a.requester],
            Event::ConversationPinned(p) => vec![&p.user_id, &p.peer],
            Event::ConversationMarked(m) => vec![&m.user_id, &m.peer],
            Event::MessageReceiptsSent(r) => vec![&r.reader, &r.peer],
            Event::SessionChanged(s) => vec![&s.user_id],
        }
    }

    /// The conversation of the two users this event is between, if it is between two.
    pub fn conversation(&self) -> Option<String> {
        match self {
            Event::AccountImported(_)
            | Event::ProfileUpdated(_)
            | Event::PushTokenRegistered(_)
            | Event::PushTokenRemoved(_)
            | Event::AccountDeleted(_)
            | Event::AccountKicked(_)
            | Event::NoSpeakingSet(_)
            | Event::SessionChanged(_) => None,
            _ => Some(self.key()),
        }
    }

    /// Every kind's name, in the order of the schema's union.
    pub const KINDS: &'static [&'static str] = &[
        "MessageSent",
        "AccountImported",
        "ProfileUpdated",
        "FriendAdded",
        "FriendDeleted",
        "BlockAdded",
        "BlockRemoved",
        "MessageRecalled",
        "MessageModified",
        "ConversationRead",
        "PushTokenRegistered",
        "PushTokenRemoved",
        "AccountDeleted",
        "AccountKicked",
        "NoSpeakingSet",
        "ConversationDeleted",
        "FriendUpdated",
        "FriendRequested",
        "FriendRequestAnswered",
        "ConversationPinned",
        "ConversationMarked",
        "MessageReceiptsSent",
        "SessionChanged",
    ];

    /// The Kafka record key. Events about two users are keyed by their
    /// conversation, so a relationship change and the messages after it are
    /// on one partition, in order; events about one user by their id.
    pub fn key(&self) -> String {
        match self {
            Event::MessageSent(m) => m.conversation_id.clone(),
            Event::AccountImported(a) => a.user_id.clone(),
            Event::ProfileUpdated(p) => p.user_id.clone(),
            Event::FriendAdded(f) => conversation_id(&f.user_id, &f.friend_id),
            Event::FriendDeleted(f) => conversation_id(&f.user_id, &f.friend_id),
            Event::BlockAdded(b) | Event::BlockRemoved(b) => {
                conversation_id(&b.user_id, &b.blocked_id)
            }
            Event::MessageRecalled(r) => r.conversation_id.clone(),
            Event::MessageModified(m) => m.conversation_id.clone(),
            Event::ConversationRead(r) => r.conversation_id.clone(),
            Event::PushTokenRegistered(t) => t.user_id.clone(),
            Event::PushTokenRemoved(t) => t.user_id.clone(),
            Event::AccountDeleted(a) | Event::AccountKicked(a) => a.user_id.clone(),
            Event::NoSpeakingSet(n) => n.user_id.clone(),
            Event::ConversationDeleted(d) => d.conversation_id.clone(),
            Event::FriendUpdated(f) => conversation_id(&f.user_id, &f.friend_id),
            Event::FriendRequested(f) => conversation_id(&f.user_id, &f.friend_id),
            Event::FriendRequestAnswered(a) => conversation_id(&a.user_id, &a.requester),
            Event::ConversationPinned(p) => p.conversation_id.clone(),
            Event::ConversationMarked(m) => m.conversation_id.clone(),
            Event::MessageReceiptsSent(r) => r.conversation_id.clone(),
            Event::SessionChanged(s) => s.user_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountImported {
    pub user_id: String,
    pub nickname: String,
    pub avatar_url: String,
}

/// `AccountDeleted` / `AccountKicked`: an event about one account and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChange {
    pub user_id: String,
}

/// A user's global mute for one-to-one messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoSpeakingSet {
    pub user_id: String,
    /// Tencent's `C2CmsgNospeakingTime` as given: 0 lifts the mute, 4294967295 is for ever.
    pub c2c_nospeaking_seconds: i64,
    /// Milliseconds since the Unix epoch; 0 when not muted, `i64::MAX` for ever.
    pub muted_until: i64,
}

/// What the app server's `C2C.CallbackBeforeSendMsg` answered for a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeforeSendCallback {
    pub outcome: BeforeSendOutcome,
    /// Why it failed open; empty otherwise.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BeforeSendOutcome {
    Allowed,
    Rewritten,
    Dropped,
    FailedOpen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileUpdated {
    pub user_id: String,
    /// `None` leaves the field as it was.
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    /// Added in v5: every other tag set, each replacing its value.
    pub fields: Vec<TagValue>,
}

/// One Tencent tag (`Tag_Profile_*`, `Tag_SNS_Custom_*`) and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagValue {
    pub tag: String,
    pub value: TagValueKind,
}

/// A tag's value: Tencent's profile and friend fields are strings or
/// unsigned integers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TagValueKind {
    String(String),
    Integer(i64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecalled {
    pub conversation_id: String,
    pub msg_key: String,
    pub from_account: String,
    pub to_account: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageModified {
    pub conversation_id: String,
    pub msg_key: String,
    pub from_account: String,
    pub to_account: String,
    /// `None` leaves the body as it was.
    pub body: Option<Vec<Element>>,
    pub cloud_custom_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRead {
    pub conversation_id: String,
    pub reader: String,
    pub peer: String,
    /// Milliseconds since the Unix epoch: messages sent up to then are read.
    pub read_time: i64,
}

/// `user_id` deleted their conversation with `peer` (Tencent
/// `recentcontact/delete`); with `clear_history` (ClearRamble) its messages
/// so far also leave their history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationDeleted {
    pub conversation_id: String,
    pub user_id: String,
    pub peer: String,
    pub clear_history: bool,
}

/// `user_id` pinned (`pinned`) or unpinned their conversation with `peer`
/// (Tencent `TopFlag`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationPinned {
    pub conversation_id: String,
    pub user_id: String,
    pub peer: String,
    pub pinned: bool,
}

/// `user_id`'s marks on their conversation with `peer` changed (Tencent
/// `recentcontact/mark_contact`): `set_marks` bits set, then `clear_marks`
/// bits cleared; `custom_mark` replaces the custom mark when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationMarked {
    pub conversation_id: String,
    pub user_id: String,
    pub peer: String,
    pub set_marks: i64,
    pub clear_marks: i64,
    pub custom_mark: Option<String>,
}

/// `reader` read the messages `msg_keys` that `peer` sent them asking for
/// a read receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReceiptsSent {
    pub conversation_id: String,
    pub reader: String,
    pub peer: String,
    pub msg_keys: Vec<String>,
}

/// A WebSocket session of `user_id` opened or closed (Tencent's
/// `State.StateChange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionChanged {
    pub user_id: String,
    pub device: String,
    pub platform: String,
    pub action: SessionAction,
    /// What happened, in words.
    pub reason: String,
    /// The connection's peer address, when known.
    pub client_ip: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionAction {
    /// The session opened (its UserSig was accepted).
    Login,
    /// The client closed it cleanly (a WebSocket close frame).
    Logout,
    /// The connection dropped, or the server ended the session (too slow,
    /// UserSig expired, shutting down).
    Disconnect,
    /// The app administrator closed it (kick, account_delete).
    Kicked,
}

/// A device's token for offline push through a vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTokenRegistered {
    pub user_id: String,
    pub device_id: String,
    pub platform: PushPlatform,
    pub token: String,
}

/// A push token that is no longer used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTokenRemoved {
    pub user_id: String,
    pub platform: PushPlatform,
    pub token: String,
    pub reason: PushTokenRemovalReason,
}

/// The offline-push vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PushPlatform {
    Apns,
    Fcm,
    Huawei,
    Xiaomi,
    Oppo,
    Vivo,
    Meizu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PushTokenRemovalReason {
    /// The client or the operator removed it.
    Unregistered,
    /// The vendor reported the token invalid.
    InvalidToken,
}

/// `user_id` added `friend_id`; the fields after `both` (added in v5)
/// describe `user_id`'s entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendAdded {
    pub user_id: String,
    pub friend_id: String,
    /// Both directions (Tencent Add_Type_Both).
    pub both: bool,
    pub remark: String,
    pub groups: Vec<String>,
    pub add_source: String,
    pub add_wording: String,
    /// The imported `AddTime` in milliseconds; `None`: the event's time.
    pub added_at: Option<i64>,
    pub custom: Vec<TagValue>,
    /// Tencent `friend_import`.
    pub imported: bool,
}

impl FriendAdded {
    /// A friendship with no remark, group, source or custom field.
    pub fn plain(user_id: impl Into<String>, friend_id: impl Into<String>, both: bool) -> Self {
        Self {
            user_id: user_id.into(),
            friend_id: friend_id.into(),
            both,
            remark: String::new(),
            groups: Vec::new(),
            add_source: String::new(),
            add_wording: String::new(),
            added_at: None,
            custom: Vec::new(),
            imported: false,
        }
    }
}

/// `user_id` changed their entry for `friend_id`; `None` leaves a field as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendUpdated {
    pub user_id: String,
    pub friend_id: String,
    pub remark: Option<String>,
    pub groups: Option<Vec<String>>,
    pub custom: Vec<TagValue>,
}

/// `user_id`'s friend request to `friend_id`, waiting for an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequested {
    pub user_id: String,
    pub friend_id: String,
    pub both: bool,
    pub remark: String,
    pub groups: Vec<String>,
    pub add_source: String,
    pub add_wording: String,
}

/// `user_id` answered `requester`'s friend request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequestAnswered {
    pub user_id: String,
    pub requester: String,
    pub accepted: bool,
}

/// `FriendDeleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendChange {
    pub user_id: String,
    pub friend_id: String,
    /// Both directions (Tencent Add_Type_Both / Delete_Type_Both).
    pub both: bool,
}

/// `BlockAdded` / `BlockRemoved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockChange {
    pub user_id: String,
    pub blocked_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSent {
    pub msg_key: String,
    pub conversation_id: String,
    pub from_account: String,
    pub to_account: String,
    pub msg_random: i64,
    pub msg_seq: i64,
    /// Milliseconds since the Unix epoch, UTC.
    pub sent_at: i64,
    pub body: Vec<Element>,
    pub cloud_custom_data: String,
    pub sender_profile: SenderProfile,
    pub sync_other_machine: SyncOtherMachine,
    pub lifetime_seconds: i32,
    pub offline_push: Option<OfflinePushInfo>,
    pub need_read_receipt: bool,
    pub import_mode: ImportMode,
    pub decision: Decision,
    /// Added in v3: the before-send callback's verdict, when it was called.
    pub before_send_callback: Option<BeforeSendCallback>,
    /// Added in v3: `ForbidCallbackControl` held `ForbidAfterSendMsgCallback`.
    pub forbid_after_send_callback: bool,
    /// Added in v4: `SendMsgControl` `NoUnread`, not counted unread.
    pub no_unread: bool,
    /// Added in v4: `SendMsgControl` `NoLastMsg`, not the conversation's last message.
    pub no_last_msg: bool,
    /// Added in v6: the sender's address as the WebSocket server saw it;
    /// `None` for REST and commands-topic sends.
    pub client_ip: Option<String>,
}

impl MessageSent {
    /// Whether the recipient gets the message: neither dropped because of a
    /// block nor dropped by the app server's before-send callback.
    pub fn reaches_recipient(&self) -> bool {
        self.decision == Decision::Deliver
            && !matches!(
                &self.before_send_callback,
                Some(BeforeSendCallback {
                    outcome: BeforeSendOutcome::Dropped,
                    ..
                })
            )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Element {
    Text(TextElem),
    Face(FaceElem),
    Location(LocationElem),
    Image(ImageElem),
    Sound(SoundElem),
    File(FileElem),
    VideoFile(VideoFileElem),
    Custom(CustomElem),
    System(SystemElem),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextElem {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceElem {
    pub index: i64,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationElem {
    pub desc: String,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageElem {
    pub uuid: String,
    pub image_format: i32,
    pub images: Vec<ImageInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub r#type: i32,
    pub size: i64,
    pub width: i32,
    pub height: i32,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoundElem {
    pub url: String,
    pub uuid: String,
    pub size: i64,
    pub second: i32,
    pub download_flag: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileElem {
    pub url: String,
    pub uuid: String,
    pub file_size: i64,
    pub file_name: String,
    pub download_flag: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoFileElem {
    pub video_url: String,
    pub video_uuid: String,
    pub video_size: i64,
    pub video_second: i32,
    pub video_format: String,
    pub video_download_flag: i32,
    pub thumb_url: String,
    pub thumb_uuid: String,
    pub thumb_size: i64,
    pub thumb_width: i32,
    pub thumb_height: i32,
    pub thumb_format: String,
    pub thumb_download_flag: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomElem {
    pub data: String,
    pub desc: String,
    pub ext: String,
    pub sound: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemElem {
    pub source: SystemSource,
    pub kind: String,
    pub text: String,
    pub data: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SystemSource {
    /// Emitted by missive itself.
    Builtin,
    /// Sent by the app administrator.
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SenderProfile {
    pub nickname: String,
    pub avatar_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncOtherMachine {
    /// Tencent 1: the sender's other devices and history get the message.
    Sync,
    /// Tencent 2: only the recipient gets it.
    NoSync,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OfflinePushInfo {
    pub push_flag: i32,
    pub title: String,
    pub desc: String,
    pub ext: String,
    pub android_sound: String,
    pub apns_sound: String,
    pub apns_badge_mode: i32,
    pub apns_title: String,
    pub apns_sub_title: String,
    pub apns_image: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportMode {
    None,
    Realtime,
    History,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    Deliver,
    DropBlocked,
}

/// Declares the enum's Avro symbols, in schema order, and the mapping both ways.
macro_rules! avro_enum {
    ($ty:ident { $($variant:ident => $symbol:literal),+ $(,)? }) => {
        impl $ty {
            const SYMBOLS: &'static [&'static str] = &[$($symbol),+];

            pub fn symbol(self) -> &'static str {
                match self { $($ty::$variant => $symbol),+ }
            }

            fn to_value(self) -> Value {
                enum_value(Self::SYMBOLS, self.symbol())
            }

            fn from_symbol(s: &str) -> Result<Self, DecodeError> {
                match s {
                    $($symbol => Ok($ty::$variant),)+
                    other => Err(DecodeError::Shape(format!(
                        concat!("unknown ", stringify!($ty), " `{}`"), other
                    ))),
                }
            }
        }
    };
}

avro_enum!(SystemSource { Builtin => "BUILTIN", Operator => "OPERATOR" });
avro_enum!(SyncOtherMachine { Sync => "SYNC", NoSync => "NO_SYNC" });
avro_enum!(ImportMode { None => "NONE", Realtime => "REALTIME", History => "HISTORY" });
avro_enum!(Decision { Deliver => "DELIVER", DropBlocked => "DROP_BLOCKED" });
avro_enum!(BeforeSendOutcome {
    Allowed => "ALLOWED",
    Rewritten => "REWRITTEN",
    Dropped => "DROPPED",
    FailedOpen => "FAILED_OPEN",
});
avro_enum!(PushPlatform {
    Apns => "APNS",
    Fcm => "FCM",
    Huawei => "HUAWEI",
    Xiaomi => "XIAOMI",
    Oppo => "OPPO",
    Vivo => "VIVO",
    Meizu => "MEIZU",
});
avro_enum!(SessionAction {
    Login => "LOGIN",
    Logout => "LOGOUT",
    Disconnect => "DISCONNECT",
    Kicked => "KICKED",
});
avro_enum!(PushTokenRemovalReason {
    Unregistered => "UNREGISTERED",
    InvalidToken => "INVALID_TOKEN",
});

impl Envelope {
    pub fn to_value(&self) -> Value {
        RecordBuilder::with_capacity(4)
            .field("event_id", Value::Uuid(self.event_id))
            .field("occurred_at", Value::TimestampMillis(self.occurred_at))
            .field("origin", self.origin.to_value())
            .field("event", self.event.to_value())
            .build()
    }

    pub fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut r = RecordReader::new("Envelope", value)?;
        Ok(Self {
            event_id: r.uuid("event_id")?,
            occurred_at: r.timestamp_millis("occurred_at")?,
            origin: Origin::from_value(r.record("origin")?)?,
            event: {
                let (index, inner) = r.union("event")?;
                Event::from_branch(index, inner)?
            },
        })
    }
}

impl Origin {
    fn to_value(&self) -> Value {
        RecordBuilder::with_capacity(4)
            .field(
                "channel",
                enum_value(CHANNEL_SYMBOLS, self.channel.symbol()),
            )
            .field("actor", self.actor.as_str())
            .field("admin", self.admin)
            .field("instance", self.instance.as_str())
            .build()
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut r = RecordReader::new("Origin", value)?;
        Ok(Self {
            channel: Channel::from_symbol(&r.symbol("channel")?)?,
            actor: r.string("actor")?,
            admin: r.boolean("admin")?,
            instance: r.string("instance")?,
        })
    }
}

impl Event {
    fn to_value(&self) -> Value {
        let (index, value) = match self {
            Event::MessageSent(m) => (0, m.to_value()),
            Event::AccountImported(a) => (
                1,
                RecordBuilder::with_capacity(3)
                    .field("user_id", a.user_id.as_str())
                    .field("nickname", a.nickname.as_str())
                    .field("avatar_url", a.avatar_url.as_str())
                    .build(),
            ),
            Event::ProfileUpdated(p) => (
                2,
                RecordBuilder::with_capacity(4)
                    .field("user_id", p.user_id.as_str())
                    .field("nickname", optional_string(&p.nickname))
                    .field("avatar_url", optional_string(&p.avatar_url))
                    .field("fields", tag_values(&p.fields))
                    .build(),
            ),
            Event::FriendAdded(f) => (
                3,
                RecordBuilder::with_capacity(10)
                    .field("user_id", f.user_id.as_str())
                    .field("friend_id", f.friend_id.as_str())
                    .field("both", f.both)
                    .field("remark", f.remark.as_str())
                    .field("groups", strings(&f.groups))
                    .field("add_source", f.add_source.as_str())
                    .field("add_wording", f.add_wording.as_str())
                    .field(
                        "added_at",
                        match f.added_at {
                            None => Value::Union(0, Box::new(Value::Null)),
                            Some(t) => Value::Union(1, Box::new(Value::Long(t))),
                        },
                    )
                    .field("custom", tag_values(&f.custom))
                    .field("imported", f.imported)
                    .build(),
            ),
            Event::FriendDeleted(f) => (4, f.to_value()),
            Event::BlockAdded(b) => (5, b.to_value()),
            Event::BlockRemoved(b) => (6, b.to_value()),
            Event::MessageRecalled(r) => (
                7,
                RecordBuilder::with_capacity(4)
                    .field("conversation_id", r.conversation_id.as_str())
                    .field("msg_key", r.msg_key.as_str())
                    .field("from_account", r.from_account.as_str())
                    .field("to_account", r.to_account.as_str())
                    .build(),
            ),
            Event::MessageModified(m) => (
                8,
                RecordBuilder::with_capacity(6)
                    .field("conversation_id", m.conversation_id.as_str())
                    .field("msg_key", m.msg_key.as_str())
                    .field("from_account", m.from_account.as_str())
                    .field("to_account", m.to_account.as_str())
                    .field(
                        "body",
                        match &m.body {
                            None => Value::Union(0, Box::new(Value::Null)),
                            Some(b) => Value::Union(
                                1,
                                Box::new(Value::Array(b.iter().map(Element::to_value).collect())),
                            ),
                        },
                    )
                    .field("cloud_custom_data", optional_string(&m.cloud_custom_data))
                    .build(),
            ),
            Event::ConversationRead(r) => (
                9,
                RecordBuilder::with_capacity(4)
                    .field("conversation_id", r.conversation_id.as_str())
                    .field("reader", r.reader.as_str())
                    .field("peer", r.peer.as_str())
                    .field("read_time", Value::TimestampMillis(r.read_time))
                    .build(),
            ),
            Event::PushTokenRegistered(t) => (
                10,
                RecordBuilder::with_capacity(4)
                    .field("user_id", t.user_id.as_str())
                    .field("device_id", t.device_id.as_str())
                    .field("platform", t.platform.to_value())
                    .field("token", t.token.as_str())
                    .build(),
            ),
            Event::PushTokenRemoved(t) => (
                11,
                RecordBuilder::with_capacity(4)
                    .field("user_id", t.user_id.as_str())
                    .field("platform", t.platform.to_value())
                    .field("token", t.token.as_str())
                    .field("reason", t.reason.to_value())
                    .build(),
            ),
            Event::AccountDeleted(a) => (
                12,
                RecordBuilder::with_capacity(1)
                    .field("user_id", a.user_id.as_str())
                    .build(),
            ),
            Event::AccountKicked(a) => (
                13,
                RecordBuilder::with_capacity(1)
                    .field("user_id", a.user_id.as_str())
                    .build(),
            ),
            Event::NoSpeakingSet(n) => (
                14,
                RecordBuilder::with_capacity(3)
                    .field("user_id", n.user_id.as_str())
                    .field("c2c_nospeaking_seconds", n.c2c_nospeaking_seconds)
                    .field("muted_until", n.muted_until)
                    .build(),
            ),
            Event::ConversationDeleted(d) => (
                15,
                RecordBuilder::with_capacity(4)
                    .field("conversation_id", d.conversation_id.as_str())
                    .field("user_id", d.user_id.as_str())
                    .field("peer", d.peer.as_str())
                    .field("clear_history", d.clear_history)
                    .build(),
            ),
            Event::FriendUpdated(f) => (
                16,
                RecordBuilder::with_capacity(5)
                    .field("user_id", f.user_id.as_str())
                    .field("friend_id", f.friend_id.as_str())
                    .field("remark", optional_string(&f.remark))
                    .field(
                        "groups",
                        match &f.groups {
                            None => Value::Union(0, Box::new(Value::Null)),
                            Some(g) => Value::Union(1, Box::new(strings(g))),
                        },
                    )
                    .field("custom", tag_values(&f.custom))
                    .build(),
            ),
            Event::FriendRequested(f) => (
                17,
                RecordBuilder::with_capacity(7)
                    .field("user_id", f.user_id.as_str())
                    .field("friend_id", f.friend_id.as_str())
                    .field("both", f.both)
                    .field("remark", f.remark.as_str())
                    .field("groups", strings(&f.groups))
                    .field("add_source", f.add_source.as_str())
                    .field("add_wording", f.add_wording.as_str())
                    .build(),
            ),
            Event::FriendRequestAnswered(a) => (
                18,
                RecordBuilder::with_capacity(3)
                    .field("user_id", a.user_id.as_str())
                    .field("requester", a.requester.as_str())
                    .field("accepted", a.accepted)
                    .build(),
            ),
            Event::ConversationPinned(p) => (
                19,
                RecordBuilder::with_capacity(4)
                    .field("conversation_id", p.conversation_id.as_str())
                    .field("user_id", p.user_id.as_str())
                    .field("peer", p.peer.as_str())
                    .field("pinned", p.pinned)
                    .build(),
            ),
            Event::ConversationMarked(m) => (
                20,
                RecordBuilder::with_capacity(6)
                    .field("conversation_id", m.conversation_id.as_str())
                    .field("user_id", m.user_id.as_str())
                    .field("peer", m.peer.as_str())
                    .field("set_marks", m.set_marks)
                    .field("clear_marks", m.clear_marks)
                    .field("custom_mark", optional_string(&m.custom_mark))
                    .build(),
            ),
            Event::MessageReceiptsSent(r) => (
                21,
                RecordBuilder::with_capacity(4)
                    .field("conversation_id", r.conversation_id.as_str())
                    .field("reader", r.reader.as_str())
                    .field("peer", r.peer.as_str())
                    .field(
                        "msg_keys",
                        Value::Array(
                            r.msg_keys
                                .iter()
                                .map(|k| Value::String(k.clone()))
                                .collect(),
                        ),
                    )
                    .build(),
            ),
            Event::SessionChanged(c) => (
                22,
                RecordBuilder::with_capacity(6)
                    .field("user_id", c.user_id.as_str())
                    .field("device", c.device.as_str())
                    .field("platform", c.platform.as_str())
                    .field("action", c.action.to_value())
                    .field("reason", c.reason.as_str())
                    .field("client_ip", optional_string(&c.client_ip))
                    .build(),
            ),
        };
        Value::Union(index, Box::new(value))
    }

    fn from_branch(index: u32, value: Value) -> Result<Self, DecodeError> {
        Ok(match index {
            0 => Event::MessageSent(Box::new(MessageSent::from_value(value)?)),
            1 => {
                let mut r = RecordReader::new("AccountImported", value)?;
                Event::AccountImported(AccountImported {
                    user_id: r.string("user_id")?,
                    nickname: r.string("nickname")?,
                    avatar_url: r.string("avatar_url")?,
                })
            }
            2 => {
                let mut r = RecordReader::new("ProfileUpdated", value)?;
                Event::ProfileUpdated(ProfileUpdated {
                    user_id: r.string("user_id")?,
                    nickname: r.optional_string("nickname")?,
                    avatar_url: r.optional_string("avatar_url")?,
                    fields: read_tag_values(r.array("fields")?)?,
                })
            }
            3 => {
                let mut r = RecordReader::new("FriendAdded", value)?;
                Event::FriendAdded(FriendAdded {
                    user_id: r.string("user_id")?,
                    friend_id: r.string("friend_id")?,
                    both: r.boolean("both")?,
                    remark: r.string("remark")?,
                    groups: read_strings("FriendAdded.groups", r.array("groups")?)?,
                    add_source: r.string("add_source")?,
                    add_wording: r.string("add_wording")?,
                    added_at: match r.optional("added_at")? {
                        None => None,
                        Some(Value::Long(t)) => Some(t),
                        Some(other) => {
                            return Err(DecodeError::Shape(format!(
                                "FriendAdded.added_at: expected long, found {}",
                                crate::avro_value::kind(&other)
                            )))
                        }
                    },
                    custom: read_tag_values(r.array("custom")?)?,
                    imported: r.boolean("imported")?,
                })
            }
            4 => Event::FriendDeleted(FriendChange::from_value("FriendDeleted", value)?),
            5 => Event::BlockAdded(BlockChange::from_value("BlockAdded", value)?),
            6 => Event::BlockRemoved(BlockChange::from_value("BlockRemoved", value)?),
            7 => {
                let mut r = RecordReader::new("MessageRecalled", value)?;
                Event::MessageRecalled(MessageRecalled {
                    conversation_id: r.string("conversation_id")?,
                    msg_key: r.string("msg_key")?,
                    from_account: r.string("from_account")?,
                    to_account: r.string("to_account")?,
                })
            }
            8 => {
                let mut r = RecordReader::new("MessageModified", value)?;
                Event::MessageModified(MessageModified {
                    conversation_id: r.string("conversation_id")?,
                    msg_key: r.string("msg_key")?,
                    from_account: r.string("from_account")?,
                    to_account: r.string("to_account")?,
                    body: match r.optional("body")? {
                        None => None,
                        Some(Value::Array(items)) => Some(
                            items
                                .into_iter()
                                .map(Element::from_value)
                                .collect::<Result<_, _>>()?,
                        ),
                        Some(other) => {
                            return Err(DecodeError::Shape(format!(
                                "MessageModified.body: expected an array, found {}",
                                crate::avro_value::kind(&other)
                            )))
                        }
                    },
                    cloud_custom_data: r.optional_string("cloud_custom_data")?,
                })
            }
            9 => {
                let mut r = RecordReader::new("ConversationRead", value)?;
                Event::ConversationRead(ConversationRead {
                    conversation_id: r.string("conversation_id")?,
                    reader: r.string("reader")?,
                    peer: r.string("peer")?,
                    read_time: r.timestamp_millis("read_time")?,
                })
            }
            10 => {
                let mut r = RecordReader::new("PushTokenRegistered", value)?;
                Event::PushTokenRegistered(PushTokenRegistered {
                    user_id: r.string("user_id")?,
                    device_id: r.string("device_id")?,
                    platform: PushPlatform::from_symbol(&r.symbol("platform")?)?,
                    token: r.string("token")?,
                })
            }
            11 => {
                let mut r = RecordReader::new("PushTokenRemoved", value)?;
                Event::PushTokenRemoved(PushTokenRemoved {
                    user_id: r.string("user_id")?,
                    platform: PushPlatform::from_symbol(&r.symbol("platform")?)?,
                    token: r.string("token")?,
                    reason: PushTokenRemovalReason::from_symbol(&r.symbol("reason")?)?,
                })
            }
            12 | 13 => {
                let name = if index == 12 {
                    "AccountDeleted"
                } else {
                    "AccountKicked"
                };
                let mut r = RecordReader::new(name, value)?;
                let a = AccountChange {
                    user_id: r.string("user_id")?,
                };
                if index == 12 {
                    Event::AccountDeleted(a)
                } else {
                    Event::AccountKicked(a)
                }
            }
            14 => {
                let mut r = RecordReader::new("NoSpeakingSet", value)?;
                Event::NoSpeakingSet(NoSpeakingSet {
                    user_id: r.string("user_id")?,
                    c2c_nospeaking_seconds: r.long("c2c_nospeaking_seconds")?,
                    muted_until: r.long("muted_until")?,
                })
            }
            15 => {
                let mut r = RecordReader::new("ConversationDeleted", value)?;
                Event::ConversationDeleted(ConversationDeleted {
                    conversation_id: r.string("conversation_id")?,
                    user_id: r.string("user_id")?,
                    peer: r.string("peer")?,
                    clear_history: r.boolean("clear_history")?,
                })
            }
            16 => {
                let mut r = RecordReader::new("FriendUpdated", value)?;
                Event::FriendUpdated(FriendUpdated {
                    user_id: r.string("user_id")?,
                    friend_id: r.string("friend_id")?,
                    remark: r.optional_string("remark")?,
                    groups: match r.optional("groups")? {
                        None => None,
                        Some(Value::Array(items)) => {
                            Some(read_strings("FriendUpdated.groups", items)?)
                        }
                        Some(other) => {
                            return Err(DecodeError::Shape(format!(
                                "FriendUpdated.groups: expected array, found {}",
                                crate::avro_value::kind(&other)
                            )))
                        }
                    },
                    custom: read_tag_values(r.array("custom")?)?,
                })
            }
            17 => {
                let mut r = RecordReader::new("FriendRequested", value)?;
                Event::FriendRequested(FriendRequested {
                    user_id: r.string("user_id")?,
                    friend_id: r.string("friend_id")?,
                    both: r.boolean("both")?,
                    remark: r.string("remark")?,
                    groups: read_strings("FriendRequested.groups", r.array("groups")?)?,
                    add_source: r.string("add_source")?,
                    add_wording: r.string("add_wording")?,
                })
            }
            18 => {
                let mut r = RecordReader::new("FriendRequestAnswered", value)?;
                Event::FriendRequestAnswered(FriendRequestAnswered {
                    user_id: r.string("user_id")?,
                    requester: r.string("requester")?,
                    accepted: r.boolean("accepted")?,
                })
            }
            19 => {
                let mut r = RecordReader::new("ConversationPinned", value)?;
                Event::ConversationPinned(ConversationPinned {
                    conversation_id: r.string("conversation_id")?,
                    user_id: r.string("user_id")?,
                    peer: r.string("peer")?,
                    pinned: r.boolean("pinned")?,
                })
            }
            20 => {
                let mut r = RecordReader::new("ConversationMarked", value)?;
                Event::ConversationMarked(ConversationMarked {
                    conversation_id: r.string("conversation_id")?,
                    user_id: r.string("user_id")?,
                    peer: r.string("peer")?,
                    set_marks: r.long("set_marks")?,
                    clear_marks: r.long("clear_marks")?,
                    custom_mark: r.optional_string("custom_mark")?,
                })
            }
            21 => {
                let mut r = RecordReader::new("MessageReceiptsSent", value)?;
                let conversation_id = r.string("conversation_id")?;
                let reader = r.string("reader")?;
                let peer = r.string("peer")?;
                let msg_keys = r
                    .array("msg_keys")?
                    .into_iter()
                    .map(|k| match k {
                        Value::String(s) => Ok(s),
                        other => Err(DecodeError::Shape(format!(
                            "MessageReceiptsSent.msg_keys holds {other:?}, not a string"
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                Event::MessageReceiptsSent(MessageReceiptsSent {
                    conversation_id,
                    reader,
                    peer,
                    msg_keys,
                })
            }
            22 => {
                let mut r = RecordReader::new("SessionChanged", value)?;
                Event::SessionChanged(SessionChanged {
                    user_id: r.string("user_id")?,
                    device: r.string("device")?,
                    platform: r.string("platform")?,
                    action: SessionAction::from_symbol(&r.symbol("action")?)?,
                    reason: r.string("reason")?,
                    client_ip: r.optional_string("client_ip")?,
                })
            }
            other => return Err(DecodeError::Shape(format!("unknown event kind #{other}"))),
        })
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

fn read_strings(field: &str, items: Vec<Value>) -> Result<Vec<String>, DecodeError> {
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            other => Err(DecodeError::Shape(format!(
                "{field}: expected strings, found {}",
                crate::avro_value::kind(&other)
            ))),
        })
        .collect()
}

fn tag_values(items: &[TagValue]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|t| {
                let value = match &t.value {
                    TagValueKind::String(s) => Value::Union(0, Box::new(Value::String(s.clone()))),
                    TagValueKind::Integer(i) => Value::Union(1, Box::new(Value::Long(*i))),
                };
                RecordBuilder::with_capacity(2)
                    .field("tag", t.tag.as_str())
                    .field("value", value)
                    .build()
            })
            .collect(),
    )
}

fn read_tag_values(items: Vec<Value>) -> Result<Vec<TagValue>, DecodeError> {
    items
        .into_iter()
        .map(|item| {
            let mut r = RecordReader::new("TagValue", item)?;
            let tag = r.string("tag")?;
            let value = match r.union("value")? {
                (_, Value::String(s)) => TagValueKind::String(s),
                (_, Value::Long(i)) => TagValueKind::Integer(i),
                (_, other) => {
                    return Err(DecodeError::Shape(format!(
                        "TagValue.value: expected string or long, found {}",
                        crate::avro_value::kind(&other)
                    )))
                }
            };
            Ok(TagValue { tag, value })
        })
        .collect()
}

fn optional_string(v: &Option<String>) -> Value {
    match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(s) => Value::Union(1, Box::new(Value::String(s.clone()))),
    }
}

impl FriendChange {
    fn to_value(&self) -> Value {
        RecordBuilder::with_capacity(3)
            .field("user_id", self.user_id.as_str())
            .field("friend_id", self.friend_id.as_str())
            .field("both", self.both)
            .build()
    }

    fn from_value(record: &'static str, value: Value) -> Result<Self, DecodeError> {
        let mut r = RecordReader::new(record, value)?;
        Ok(Self {
            user_id: r.string("user_id")?,
            friend_id: r.string("friend_id")?,
            both: r.boolean("both")?,
        })
    }
}

impl BlockChange {
    fn to_value(&self) -> Value {
        RecordBuilder::with_capacity(2)
            .field("user_id", self.user_id.as_str())
            .field("blocked_id", self.blocked_id.as_str())
            .build()
    }

    fn from_value(record: &'static str, value: Value) -> Result<Self, DecodeError> {
        let mut r = RecordReader::new(record, value)?;
        Ok(Self {
            user_id: r.string("user_id")?,
            blocked_id: r.string("blocked_id")?,
        })
    }
}

impl MessageSent {
    fn to_value(&self) -> Value {
        RecordBuilder::with_capacity(21)
            .field("msg_key", self.msg_key.as_str())
            .field("conversation_id", self.conversation_id.as_str())
            .field("from_account", self.from_account.as_str())
            .field("to_account", self.to_account.as_str())
            .field("msg_random", self.msg_random)
            .field("msg_seq", self.msg_seq)
            .field("sent_at", Value::TimestampMillis(self.sent_at))
            .field(
                "body",
                Value::Array(self.body.iter().map(Element::to_value).collect()),
            )
            .field("cloud_custom_data", self.cloud_custom_data.as_str())
            .field(
                "sender_profile",
                RecordBuilder::with_capacity(2)
                    .field("nickname", self.sender_profile.nickname.as_str())
                    .field("avatar_url", self.sender_profile.avatar_url.as_str())
                    .build(),
            )
            .field("sync_other_machine", self.sync_other_machine.to_value())
            .field("lifetime_seconds", self.lifetime_seconds)
            .field(
                "offline_push",
                match &self.offline_push {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(p) => Value::Union(1, Box::new(p.to_value())),
                },
            )
            .field("need_read_receipt", self.need_read_receipt)
            .field("import_mode", self.import_mode.to_value())
            .field("decision", self.decision.to_value())
            .field(
                "before_send_callback",
                match &self.before_send_callback {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(c) => Value::Union(
                        1,
                        Box::new(
                            RecordBuilder::with_capacity(2)
                                .field("outcome", c.outcome.to_value())
                                .field("detail", c.detail.as_str())
                                .build(),
                        ),
                    ),
                },
            )
            .field(
                "forbid_after_send_callback",
                self.forbid_after_send_callback,
            )
            .field("no_unread", self.no_unread)
            .field("no_last_msg", self.no_last_msg)
            .field("client_ip", optional_string(&self.client_ip))
            .build()
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut r = RecordReader::new("MessageSent", value)?;
        Ok(Self {
            msg_key: r.string("msg_key")?,
            conversation_id: r.string("conversation_id")?,
            from_account: r.string("from_account")?,
            to_account: r.string("to_account")?,
            msg_random: r.long("msg_random")?,
            msg_seq: r.long("msg_seq")?,
            sent_at: r.timestamp_millis("sent_at")?,
            body: r
                .array("body")?
                .into_iter()
                .map(Element::from_value)
                .collect::<Result<_, _>>()?,
            cloud_custom_data: r.string("cloud_custom_data")?,
            sender_profile: {
                let mut p = RecordReader::new("SenderProfile", r.record("sender_profile")?)?;
                SenderProfile {
                    nickname: p.string("nickname")?,
                    avatar_url: p.string("avatar_url")?,
                }
            },
            sync_other_machine: SyncOtherMachine::from_symbol(&r.symbol("sync_other_machine")?)?,
            lifetime_seconds: r.int("lifetime_seconds")?,
            offline_push: r
                .optional("offline_push")?
                .map(OfflinePushInfo::from_value)
                .transpose()?,
            need_read_receipt: r.boolean("need_read_receipt")?,
            import_mode: ImportMode::from_symbol(&r.symbol("import_mode")?)?,
            decision: Decision::from_symbol(&r.symbol("decision")?)?,
            before_send_callback: match r.optional("before_send_callback")? {
                None => None,
                Some(v) => {
                    let mut c = RecordReader::new("BeforeSendCallback", v)?;
                    Some(BeforeSendCallback {
                        outcome: BeforeSendOutcome::from_symbol(&c.symbol("outcome")?)?,
                        detail: c.string("detail")?,
                    })
                }
            },
            forbid_after_send_callback: r.boolean("forbid_after_send_callback")?,
            no_unread: r.boolean("no_unread")?,
            no_last_msg: r.boolean("no_last_msg")?,
            client_ip: r.optional_string("client_ip")?,
        })
    }
}

impl OfflinePushInfo {
    fn to_value(&self) -> Value {
        RecordBuilder::with_capacity(10)
            .field("push_flag", self.push_flag)
            .field("title", self.title.as_str())
            .field("desc", self.desc.as_str())
            .field("ext", self.ext.as_str())
            .field("android_sound", self.android_sound.as_str())
            .field("apns_sound", self.apns_sound.as_str())
            .field("apns_badge_mode", self.apns_badge_mode)
            .field("apns_title", self.apns_title.as_str())
            .field("apns_sub_title", self.apns_sub_title.as_str())
            .field("apns_image", self.apns_image.as_str())
            .build()
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut r = RecordReader::new("OfflinePushInfo", value)?;
        Ok(Self {
            push_flag: r.int("push_flag")?,
            title: r.string("title")?,
            desc: r.string("desc")?,
            ext: r.string("ext")?,
            android_sound: r.string("android_sound")?,
            apns_sound: r.string("apns_sound")?,
            apns_badge_mode: r.int("apns_badge_mode")?,
            apns_title: r.string("apns_title")?,
            apns_sub_title: r.string("apns_sub_title")?,
            apns_image: r.string("apns_image")?,
        })
    }
}

impl Element {
    /// The Tencent `MsgType` of this element.
    pub fn msg_type(&self) -> &'static str {
        match self {
            Element::Text(_) => "TIMTextElem",
            Element::Face(_) => "TIMFaceElem",
            Element::Location(_) => "TIMLocationElem",
            Element::Image(_) => "TIMImageElem",
            Element::Sound(_) => "TIMSoundElem",
            Element::File(_) => "TIMFileElem",
            Element::VideoFile(_) => "TIMVideoFileElem",
            Element::Custom(_) => "TIMCustomElem",
            Element::System(_) => "TIMSystemElem",
        }
    }

    fn to_value(&self) -> Value {
        let (index, record) = match self {
            Element::Text(e) => (
                0,
                RecordBuilder::with_capacity(1).field("text", e.text.as_str()),
            ),
            Element::Face(e) => (
                1,
                RecordBuilder::with_capacity(2)
                    .field("index", e.index)
                    .field("data", e.data.as_str()),
            ),
            Element::Location(e) => (
                2,
                RecordBuilder::with_capacity(3)
                    .field("desc", e.desc.as_str())
                    .field("latitude", e.latitude)
                    .field("longitude", e.longitude),
            ),
            Element::Image(e) => (
                3,
                RecordBuilder::with_capacity(3)
                    .field("uuid", e.uuid.as_str())
                    .field("image_format", e.image_format)
                    .field(
                        "images",
                        Value::Array(
                            e.images
                                .iter()
                                .map(|i| {
                                    RecordBuilder::with_capacity(5)
                                        .field("type", i.r#type)
                                        .field("size", i.size)
                                        .field("width", i.width)
                                        .field("height", i.height)
                                        .field("url", i.url.as_str())
                                        .build()
                                })
                                .collect(),
                        ),
                    ),
            ),
            Element::Sound(e) => (
                4,
                RecordBuilder::with_capacity(5)
                    .field("url", e.url.as_str())
                    .field("uuid", e.uuid.as_str())
                    .field("size", e.size)
                    .field("second", e.second)
                    .field("download_flag", e.download_flag),
            ),
            Element::File(e) => (
                5,
                RecordBuilder::with_capacity(5)
                    .field("url", e.url.as_str())
                    .field("uuid", e.uuid.as_str())
                    .field("file_size", e.file_size)
                    .field("file_name", e.file_name.as_str())
                    .field("download_flag", e.download_flag),
            ),
            Element::VideoFile(e) => (
                6,
                RecordBuilder::with_capacity(13)
                    .field("video_url", e.video_url.as_str())
                    .field("video_uuid", e.video_uuid.as_str())
                    .field("video_size", e.video_size)
                    .field("video_second", e.video_second)
                    .field("video_format", e.video_format.as_str())
                    .field("video_download_flag", e.video_download_flag)
                    .field("thumb_url", e.thumb_url.as_str())
                    .field("thumb_uuid", e.thumb_uuid.as_str())
                    .field("thumb_size", e.thumb_size)
                    .field("thumb_width", e.thumb_width)
                    .field("thumb_height", e.thumb_height)
                    .field("thumb_format", e.thumb_format.as_str())
                    .field("thumb_download_flag", e.thumb_download_flag),
            ),
            Element::Custom(e) => (
                7,
                RecordBuilder::with_capacity(4)
                    .field("data", e.data.as_str())
                    .field("desc", e.desc.as_str())
                    .field("ext", e.ext.as_str())
                    .field("sound", e.sound.as_str()),
            ),
            Element::System(e) => (
                8,
                RecordBuilder::with_capacity(4)
                    .field("source", e.source.to_value())
                    .field("kind", e.kind.as_str())
                    .field("text", e.text.as_str())
                    .field("data", e.data.as_str()),
            ),
        };
        Value::Union(index, Box::new(record.build()))
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let (index, inner) = match value {
            Value::Union(index, inner) => (index, *inner),
            other => {
                return Err(DecodeError::Shape(format!(
                    "body item: expected a union, found {}",
                    crate::avro_value::kind(&other)
                )))
            }
        };
        Ok(match index {
            0 => {
                let mut r = RecordReader::new("TextElem", inner)?;
                Element::Text(TextElem {
                    text: r.string("text")?,
                })
            }
            1 => {
                let mut r = RecordReader::new("FaceElem", inner)?;
                Element::Face(FaceElem {
                    index: r.long("index")?,
                    data: r.string("data")?,
                })
            }
            2 => {
                let mut r = RecordReader::new("LocationElem", inner)?;
                Element::Location(LocationElem {
                    desc: r.string("desc")?,
                    latitude: r.double("latitude")?,
                    longitude: r.double("longitude")?,
                })
            }
            3 => {
                let mut r = RecordReader::new("ImageElem", inner)?;
                Element::Image(ImageElem {
                    uuid: r.string("uuid")?,
                    image_format: r.int("image_format")?,
                    images: r
                        .array("images")?
                        .into_iter()
                        .map(|v| {
                            let mut i = RecordReader::new("ImageInfo", v)?;
                            Ok(ImageInfo {
                                r#type: i.int("type")?,
                                size: i.long("size")?,
                                width: i.int("width")?,
                                height: i.int("height")?,
                                url: i.string("url")?,
                            })
                        })
                        .collect::<Result<_, DecodeError>>()?,
                })
            }
            4 => {
                let mut r = RecordReader::new("SoundElem", inner)?;
                Element::Sound(SoundElem {
                    url: r.string("url")?,
                    uuid: r.string("uuid")?,
                    size: r.long("size")?,
                    second: r.int("second")?,
                    download_flag: r.int("download_flag")?,
                })
            }
            5 => {
                let mut r = RecordReader::new("FileElem", inner)?;
                Element::File(FileElem {
                    url: r.string("url")?,
                    uuid: r.string("uuid")?,
                    file_size: r.long("file_size")?,
                    file_name: r.string("file_name")?,
                    download_flag: r.int("download_flag")?,
                })
            }
            6 => {
                let mut r = RecordReader::new("VideoFileElem", inner)?;
                Element::VideoFile(VideoFileElem {
                    video_url: r.string("video_url")?,
                    video_uuid: r.string("video_uuid")?,
                    video_size: r.long("video_size")?,
                    video_second: r.int("video_second")?,
                    video_format: r.string("video_format")?,
                    video_download_flag: r.int("video_download_flag")?,
                    thumb_url: r.string("thumb_url")?,
                    thumb_uuid: r.string("thumb_uuid")?,
                    thumb_size: r.long("thumb_size")?,
                    thumb_width: r.int("thumb_width")?,
                    thumb_height: r.int("thumb_height")?,
                    thumb_format: r.string("thumb_format")?,
                    thumb_download_flag: r.int("thumb_download_flag")?,
                })
            }
            7 => {
                let mut r = RecordReader::new("CustomElem", inner)?;
                Element::Custom(CustomElem {
                    data: r.string("data")?,
                    desc: r.string("desc")?,
                    ext: r.string("ext")?,
                    sound: r.string("sound")?,
                })
            }
            8 => {
                let mut r = RecordReader::new("SystemElem", inner)?;
                Element::System(SystemElem {
                    source: SystemSource::from_symbol(&r.symbol("source")?)?,
                    kind: r.string("kind")?,
                    text: r.string("text")?,
                    data: r.string("data")?,
                })
            }
            other => return Err(DecodeError::Shape(format!("unknown element kind #{other}"))),
        })
    }
}

/// The conversation id of two users: their ids sorted and joined by `:`.
///
/// User ids cannot contain `:` (see ingest's validation), so the id is unambiguous.
pub fn conversation_id(a: &str, b: &str) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut id = String::with_capacity(lo.len() + hi.len() + 1);
    id.push_str(lo);
    id.push(':');
    id.push_str(hi);
    id
}
