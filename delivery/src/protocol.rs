//! The WebSocket protocol's frames (JSON text frames; see docs/protocol.md).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

impl ClientFrame {
    /// Decodes a client's text frame: JSON nested at most `max_depth` deep
    /// (checked before parsing), and one of the frames below. The error says
    /// precisely what is wrong.
    pub fn decode(text: &str, max_depth: usize) -> Result<Self, String> {
        if missive_core::limits::json_too_deep(text.as_bytes(), max_depth).is_some() {
            return Err(format!(
                "the frame nests arrays and objects more than {max_depth} deep"
            ));
        }
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The request's `id`, echoed in its reply.
    pub fn id(&self) -> Option<Value> {
        match self {
            ClientFrame::Login { .. } => None,
            ClientFrame::Ping { id }
            | ClientFrame::Send { id, .. }
            | ClientFrame::History { id, .. }
            | ClientFrame::Read { id, .. }
            | ClientFrame::Recall { id, .. }
            | ClientFrame::PushToken { id, .. }
            | ClientFrame::Receipt { id, .. }
            | ClientFrame::Typing { id, .. }
            | ClientFrame::Pin { id, .. }
            | ClientFrame::DeleteConversation { id, .. }
            | ClientFrame::Contacts { id, .. } => id.clone(),
        }
    }
}

/// Frames a client sends. Requests after login may carry an `id`, echoed in
/// the reply (`ok`, `sent`, `history`, `contacts` or `error`) so a client can
/// pair them; replies may arrive out of order.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Must be the first frame.
    Login {
        user: String,
        usersig: String,
        device: String,
        #[serde(default)]
        platform: String,
        /// The last inbox cursor this device has; absent = start from the
        /// oldest message still waiting offline.
        #[serde(default)]
        cursor: Option<i64>,
    },
    Ping {
        #[serde(default)]
        id: Option<Value>,
    },
    /// Sends a message as the logged-in user. `msg` holds Tencent
    /// `sendmsg` fields (`To_Account`, `MsgRandom`, `MsgSeq`, `MsgBody`,
    /// `CloudCustomData`, `SyncOtherMachine`, `MsgLifeTime`,
    /// `OfflinePushInfo`, `IsNeedReadReceipt`), validated and
    /// permission-checked exactly as REST sends are.
    Send {
        #[serde(default)]
        id: Option<Value>,
        msg: Map<String, Value>,
    },
    /// History of the conversation with `peer` from the roaming store,
    /// newest first, strictly before `before_seq` (absent = from the newest)
    /// and strictly after `after_seq` (absent = back to the oldest): a gap
    /// `a..=b` is `after_seq: a-1, before_seq: b+1`.
    History {
        #[serde(default)]
        id: Option<Value>,
        peer: String,
        #[serde(default)]
        before_seq: Option<i64>,
        #[serde(default)]
        after_seq: Option<i64>,
        #[serde(default)]
        count: Option<i64>,
    },
    /// A read report: every message from `peer` up to `seq` (absent = all
    /// so far) is read.
    Read {
        #[serde(default)]
        id: Option<Value>,
        peer: String,
        #[serde(default)]
        seq: Option<i64>,
    },
    /// Recalls a message this user sent to `peer`.
    Recall {
        #[serde(default)]
        id: Option<Value>,
        peer: String,
        msg_key: String,
    },
    /// Registers this device's token for offline push (`remove`: removes it).
    /// `platform`: apns, fcm, huawei, xiaomi, oppo, vivo or meizu.
    PushToken {
        #[serde(default)]
        id: Option<Value>,
        platform: String,
        token: String,
        #[serde(default)]
        remove: bool,
    },
    /// Read receipts for messages `peer` sent this user asking for one
    /// (`IsNeedReadReceipt`): the sender's devices get a `receipt` each.
    Receipt {
        #[serde(default)]
        id: Option<Value>,
        peer: String,
        msg_keys: Vec<String>,
    },
    /// This user is typing to `peer`: relayed to `peer`'s online devices,
    /// never stored, at most once per peer per `TYPING_INTERVAL`.
    Typing {
        #[serde(default)]
        id: Option<Value>,
        peer: String,
    },
    /// Pins (`pinned`: true) or unpins the conversation with `peer` in this
    /// user's recent contacts (Tencent `TopFlag`).
    Pin {
        #[serde(default)]
        id: Option<Value>,
        peer: String,
        pinned: bool,
    },
    /// Deletes the conversation with `peer` from this user's recent
    /// contacts (`clear_history`: its messages so far leave this user's
    /// history too), as `recentcontact/delete` does.
    DeleteConversation {
        #[serde(default)]
        id: Option<Value>,
        peer: String,
        #[serde(default)]
        clear_history: bool,
    },
    /// Recent contacts, pinned first, then most recently active first, each with its last
    /// message, unread count and up to `messages` latest messages.
    Contacts {
        #[serde(default)]
        id: Option<Value>,
        #[serde(default)]
        start: Option<i64>,
        #[serde(default)]
        count: Option<i64>,
        #[serde(default)]
        messages: Option<i64>,
    },
}

/// Frames the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    LoginOk {
        user: String,
        device: String,
        /// The user's newest inbox cursor at login.
        cursor: i64,
    },
    /// A message for this user (received, or sent from another of their
    /// devices), or a recall or edit of one.
    Message(Box<PushedMessage>),
    /// Someone read a conversation up to `read_seq`: this user on another
    /// device (clear the unread count) or the peer (a read receipt).
    Read(ReadReceipt),
    /// The recipient read a message this user sent asking for a read
    /// receipt (`IsNeedReadReceipt`).
    Receipt(MessageReceipt),
    /// The peer is typing to this user (never stored: online devices only).
    Typing { from: String },
    /// The recent contacts: at login (before `sync_done`) and on request.
    Contacts {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        contacts: Vec<Contact>,
    },
    /// Everything that waited for this device has been sent; live push follows.
    SyncDone { cursor: i64 },
    /// A send was appended to the log: it will be delivered.
    Sent {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        msg_key: String,
        /// Unix seconds (Tencent `MsgTime`).
        msg_time: i64,
        msg_seq: u32,
        /// A retry of a message already sent: nothing new was appended.
        duplicate: bool,
    },
    History {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        peer: String,
        /// Newest first.
        messages: Vec<HistoryMessage>,
        /// Nothing older remains in the roaming store (or after `after_seq`).
        complete: bool,
    },
    /// A read or recall request was accepted.
    Ok {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        code: u32,
        info: String,
    },
}

/// An inbox entry about a message: where it sits, what happened, and the
/// message as history holds it now (its fields at the top level of the frame).
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct PushedMessage {
    /// Position in this user's inbox: the device's sync cursor after it.
    pub cursor: i64,
    /// `new` (a message), `recall` (it was recalled: body is empty) or
    /// `edit` (its body or CloudCustomData changed: replace your copy).
    pub event: String,
    pub conversation: String,
    /// The other party of the conversation.
    pub peer: String,
    #[serde(flatten)]
    pub message: HistoryMessage,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct ReadReceipt {
    pub cursor: i64,
    pub conversation: String,
    /// The other party of the conversation, from this user's side.
    pub peer: String,
    pub reader: String,
    pub read_seq: i64,
}

/// A per-message read receipt, to the message's sender.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct MessageReceipt {
    pub cursor: i64,
    pub conversation: String,
    /// The other party of the conversation: the reader.
    pub peer: String,
    pub reader: String,
    pub msg_key: String,
    /// The message's seq in the conversation.
    pub seq: i64,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct Sender {
    pub nickname: String,
    pub avatar_url: String,
}

/// A message as history holds it.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct HistoryMessage {
    /// Dense per-conversation sequence number.
    pub seq: i64,
    pub msg_key: String,
    pub from: String,
    pub to: String,
    /// Unix seconds.
    pub time: i64,
    pub msg_seq: i64,
    pub msg_random: i64,
    /// Tencent `MsgBody` (empty once recalled).
    pub body: Value,
    pub cloud_custom_data: String,
    pub sender: Sender,
    pub recalled: bool,
    /// Its recipient read it (their read position covers it, or they sent
    /// a read receipt for it).
    pub peer_read: bool,
    /// Sent with `IsNeedReadReceipt`: its recipient may send a `receipt`.
    pub need_read_receipt: bool,
}

impl From<missive_core::views::StoredMessage> for HistoryMessage {
    fn from(m: missive_core::views::StoredMessage) -> Self {
        Self {
            seq: m.seq,
            msg_key: m.msg_key,
            from: m.from_account,
            to: m.to_account,
            time: m.sent_at_ms / 1000,
            msg_seq: m.msg_seq,
            msg_random: m.msg_random,
            body: m.body,
            cloud_custom_data: m.cloud_custom_data,
            sender: Sender {
                nickname: m.sender.nickname,
                avatar_url: m.sender.avatar_url,
            },
            recalled: m.recalled,
            peer_read: m.peer_read,
            need_read_receipt: m.need_read_receipt,
        }
    }
}

/// One conversation of the recent contacts.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct Contact {
    pub peer: String,
    pub conversation: String,
    /// Unix ms of the last activity.
    pub last_at_ms: i64,
    pub last_seq: i64,
    pub unread: i64,
    /// Pinned by this user: listed before the others.
    pub pinned: bool,
    /// Absent once retention removed it from history.
    pub last_message: Option<HistoryMessage>,
    /// The latest messages, newest first (when asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<HistoryMessage>,
}
