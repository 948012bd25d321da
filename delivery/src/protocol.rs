//! The WebSocket protocol's frames (JSON text frames; see docs/protocol.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Frames a client sends.
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
    /// A message for this user (received, or sent from another of their devices).
    Message(Box<PushedMessage>),
    /// Everything that waited for this device has been sent; live push follows.
    SyncDone {
        cursor: i64,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
    },
    Error {
        code: u32,
        info: String,
    },
}

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
    /// Dense per-conversation sequence number.
    pub seq: i64,
    pub msg_key: String,
    pub from: String,
    pub to: String,
    /// Unix seconds.
    pub time: i64,
    pub msg_seq: i64,
    pub msg_random: i64,
    /// Tencent `MsgBody`.
    pub body: Value,
    pub cloud_custom_data: String,
    pub sender: Sender,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct Sender {
    pub nickname: String,
    pub avatar_url: String,
}
