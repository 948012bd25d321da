//! missive's client SDK: log in over the WebSocket protocol
//! (docs/protocol.md), receive messages as events, send every element type
//! with safe retries, and read history from a persistent local cache that is
//! completed from the server's roaming store. See docs/sdk.md.
//!
//! ```no_run
//! # async fn demo() -> Result<(), missive_sdk::SdkError> {
//! use missive_sdk::{Client, ClientConfig, Element, Event};
//! let config = ClientConfig::new("ws://127.0.0.1:8081/v1/ws").cache_path("bob.sqlite");
//! let (client, mut events) = Client::login(config, "bob", "<usersig>", "phone-1").await?;
//! client.send_message("alice", vec![Element::text("hi")]).await?;
//! while let Some(event) = events.recv().await {
//!     if let Event::NewMessage(m) = event { println!("{}: {:?}", m.from, m.body) }
//! }
//! # Ok(()) }
//! ```

mod cache;
mod client;
mod element;

use serde::{Deserialize, Serialize};

pub use client::{conversation_of, Client, ClientConfig, Events, Outgoing, SentMessage};
pub use element::{Element, ImageInfo, VideoElem};

/// A message as the server holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The two user ids, sorted, joined by `:`.
    #[serde(default)]
    pub conversation: String,
    /// The other party, from this user's side.
    #[serde(default)]
    pub peer: String,
    /// Dense position in the conversation (1, 2, 3, ...).
    pub seq: i64,
    pub msg_key: String,
    pub from: String,
    pub to: String,
    /// Unix seconds.
    pub time: i64,
    pub msg_seq: i64,
    pub msg_random: i64,
    /// Empty once recalled.
    pub body: Vec<Element>,
    #[serde(default)]
    pub cloud_custom_data: String,
    #[serde(default)]
    pub sender: Sender,
    #[serde(default)]
    pub recalled: bool,
    /// Its recipient read it (their read position covers it, or they sent a
    /// read receipt for it).
    #[serde(default)]
    pub peer_read: bool,
    /// Sent asking for a read receipt: its recipient may answer with
    /// [`Client::send_read_receipts`].
    #[serde(default)]
    pub need_read_receipt: bool,
}

/// The sender's profile as it was when the message was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sender {
    #[serde(default)]
    pub nickname: String,
    #[serde(default)]
    pub avatar_url: String,
}

/// A recent contact (conversation) from the local cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub peer: String,
    pub conversation: String,
    pub last_seq: i64,
    /// Unix ms of the last activity.
    pub last_at_ms: i64,
    pub unread: i64,
    /// How far the peer has read this user's messages (read receipts).
    pub peer_read_seq: i64,
    /// Pinned by this user: listed before the others.
    pub pinned: bool,
    /// The newest message held locally.
    pub last_message: Option<Message>,
}

/// What the SDK tells the app, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message this device has not seen before: offline ones at login,
    /// recent contacts' latest ones, then live ones (including this user's
    /// own sends, with their seq). Each message is raised once, ever, per cache.
    NewMessage(Message),
    /// The login (or reconnect) sync is done: the cache is up to date.
    Refresh,
    /// A message was recalled (its body is now empty).
    Recall(Message),
    /// A message's body or CloudCustomData changed.
    Edit(Message),
    /// The peer read this user's messages up to `read_seq`.
    ReadReceipt {
        peer: String,
        read_seq: i64,
    },
    /// This user read the conversation on another device (unread counts changed).
    ReadElsewhere {
        peer: String,
        read_seq: i64,
    },
    /// The peer read a message this user sent asking for a read receipt
    /// (its cached copy now has `peer_read`).
    MessageRead {
        peer: String,
        msg_key: String,
        seq: i64,
    },
    /// The peer is typing to this user (online only, never stored).
    Typing {
        from: String,
    },
    ConnectionState(ConnectionState),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    Connecting,
    Connected,
    /// The connection dropped; the SDK reconnects with backoff.
    Disconnected {
        reason: String,
    },
    /// The UserSig was refused (expired, or for another user): the SDK stops.
    /// Log in again with a fresh one.
    AuthFailed {
        code: u32,
        info: String,
    },
    LoggedOut,
}

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The server refused the request: a Tencent error code (docs/errors.md).
    #[error("server error {code}: {info}")]
    Server { code: u32, info: String },
    #[error("login refused ({code}): {info}")]
    Auth { code: u32, info: String },
    #[error("not connected, and no answer within the request timeout")]
    Timeout,
    #[error("logged out")]
    LoggedOut,
    /// The connection dropped before the answer came (the SDK retries
    /// requests that are safe to repeat; this reaches the app only when not).
    #[error("the connection dropped before the server answered")]
    Disconnected,
    #[error("the server sent something outside the protocol: {0}")]
    Protocol(String),
    #[error("local cache: {0}")]
    Cache(#[from] rusqlite::Error),
    #[error("the cache belongs to user `{cache_user}`, not `{user}`: use one cache file per user")]
    CacheOwner { cache_user: String, user: String },
    #[error("invalid argument: {0}")]
    Invalid(String),
}
