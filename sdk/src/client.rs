//! The client: an actor task owns the WebSocket (connect, login, sync,
//! reconnect with backoff) and the app's calls reach it through a channel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::cache::Cache;
use crate::{ConnectionState, Conversation, Element, Event, Message, SdkError};

/// Send a ping after this long without traffic; give up on the connection
/// after three such periods without any frame from the server.
const PING_EVERY: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes the socket is read in at a time. tungstenite zeroes its whole read
/// buffer (128 KiB by default) before every read, which for frames of a few
/// hundred bytes is most of the work of a read (the server and the bench's
/// devices read 4 KiB too; issue #17).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// The server's limits on one history page and on the error codes that
/// mean "already done" for a retried recall.
const HISTORY_PAGE_MAX: i64 = 100;
const ALREADY_RECALLED: u32 = 20023;
/// A typing indicator within 2 s of the last one to the same peer.
const TYPING_TOO_OFTEN: u32 = 60018;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `ws://host:8081/v1/ws`.
    pub url: String,
    /// The SQLite cache file (one per user); `None` keeps the cache in memory.
    pub cache_path: Option<PathBuf>,
    /// `iPhone`, `Android`, `Web`, `PC`, `iPad` or `Mac`.
    pub platform: String,
    /// How long one call (including retries across reconnects) may take.
    pub request_timeout: Duration,
    /// Reconnect backoff: the first wait, doubled after each failure up to the max.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            cache_path: None,
            platform: "PC".into(),
            request_timeout: Duration::from_secs(20),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }

    pub fn cache_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_path = Some(path.into());
        self
    }
}

/// The app's event stream.
pub type Events = mpsc::UnboundedReceiver<Event>;

/// A message to send. `Outgoing::new(to, body)` sets the common case.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub body: Vec<Element>,
    pub cloud_custom_data: String,
    /// Deliver only to devices online now (`MsgLifeTime` 0): nothing waits offline.
    pub online_only: bool,
    /// Tencent `OfflinePushInfo`, passed through.
    pub offline_push_info: Option<Value>,
    /// Ask the recipient for a read receipt (`IsNeedReadReceipt`): this
    /// user's devices get [`Event::MessageRead`] when they send it.
    pub need_read_receipt: bool,
}

impl Outgoing {
    pub fn new(to: impl Into<String>, body: Vec<Element>) -> Self {
        Self {
            to: to.into(),
            body,
            cloud_custom_data: String::new(),
            online_only: false,
            offline_push_info: None,
            need_read_receipt: false,
        }
    }
}

/// What the server said about a send.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub msg_key: String,
    /// Unix seconds.
    pub msg_time: i64,
    pub msg_seq: u32,
    pub msg_random: u32,
    /// The message's seq in its conversation, from its echo to this device
    /// (`None` if the echo did not come within the request timeout).
    pub seq: Option<i64>,
}

enum Command {
    Request {
        frame: Value,
        reply: oneshot::Sender<Result<Value, SdkError>>,
    },
    WaitSeq {
        msg_key: String,
        reply: oneshot::Sender<i64>,
    },
    Logout,
}

struct Shared {
    user: String,
    config: ClientConfig,
    cache: Cache,
    commands: mpsc::UnboundedSender<Command>,
    connected: watch::Receiver<bool>,
    roaming_fetched: AtomicU64,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A logged-in user. Cheap to clone; every clone drives the same connection.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// Opens the cache, connects and logs in. Returns once the server
    /// accepted the login (the sync then arrives as events), or at once if
    /// the server cannot be reached (the SDK keeps trying; the cache serves
    /// meanwhile). A refused UserSig is an error.
    pub async fn login(
        config: ClientConfig,
        user: &str,
        usersig: &str,
        device: &str,
    ) -> Result<(Client, Events), SdkError> {
        if user.is_empty() || device.is_empty() || device.len() > 64 {
            return Err(SdkError::Invalid(
                "user must be non-empty and device 1 to 64 bytes".into(),
            ));
        }
        let cache = Cache::open(config.cache_path.as_deref(), user).await?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (connected_tx, connected) = watch::channel(false);
        let (first_tx, first_rx) = oneshot::channel();
        let actor = Actor {
            user: user.to_owned(),
            usersig: usersig.to_owned(),
            device: device.to_owned(),
            config: config.clone(),
            cache: cache.clone(),
            events: events_tx,
            commands: commands_rx,
            connected: connected_tx,
            waiters: HashMap::new(),
            first: Some(first_tx),
        };
        let task = tokio::spawn(actor.run());
        first_rx.await.map_err(|_| SdkError::LoggedOut)??;
        let client = Client {
            shared: Arc::new(Shared {
                user: user.to_owned(),
                config,
                cache,
                commands,
                connected,
                roaming_fetched: AtomicU64::new(0),
                task: Mutex::new(Some(task)),
            }),
        };
        Ok((client, events))
    }

    pub fn user(&self) -> &str {
        &self.shared.user
    }

    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Messages pulled from the roaming store by `get_messages` so far.
    pub fn roaming_fetched(&self) -> u64 {
        self.shared.roaming_fetched.load(Ordering::Relaxed)
    }

    /// Sends a request and waits for its reply; with `attempts`, a request
    /// cut off by a lost connection is sent again after the reconnect.
    async fn call(&self, frame: Value, attempts: Option<&mut u32>) -> Result<Value, SdkError> {
        let deadline = Instant::now() + self.shared.config.request_timeout;
        let mut attempts = attempts;
        loop {
            let mut connected = self.shared.connected.clone();
            match tokio::time::timeout_at(deadline, connected.wait_for(|c| *c)).await {
                Err(_) => return Err(SdkError::Timeout),
                Ok(Err(_)) => return Err(SdkError::LoggedOut),
                Ok(Ok(_)) => {}
            }
            let (reply, answer) = oneshot::channel();
            self.shared
                .commands
                .send(Command::Request {
                    frame: frame.clone(),
                    reply,
                })
                .map_err(|_| SdkError::LoggedOut)?;
            if let Some(n) = attempts.as_deref_mut() {
                *n += 1;
            }
            match tokio::time::timeout_at(deadline, answer).await {
                Err(_) => return Err(SdkError::Timeout),
                Ok(Err(_)) => return Err(SdkError::LoggedOut),
                Ok(Ok(Err(SdkError::Disconnected))) if attempts.is_some() => continue,
                Ok(Ok(result)) => return result,
            }
        }
    }

    /// Sends a message of any element types.
    pub async fn send_message(
        &self,
        to: &str,
        body: Vec<Element>,
    ) -> Result<SentMessage, SdkError> {
        self.send(Outgoing::new(to, body)).await
    }

    /// Sends a message. A retry after a lost connection carries the same
    /// `MsgRandom` and `MsgSeq`, so the server stores it once
    /// (docs/idempotency.md).
    pub async fn send(&self, msg: Outgoing) -> Result<SentMessage, SdkError> {
        if msg.body.is_empty() {
            return Err(SdkError::Invalid(
                "a message needs at least one element".into(),
            ));
        }
        let msg_random: u32 = rand::random();
        let msg_seq: u32 = rand::random();
        let mut fields = json!({
            "To_Account": msg.to,
            "MsgRandom": msg_random,
            "MsgSeq": msg_seq,
            "MsgBody": msg.body,
        });
        if !msg.cloud_custom_data.is_empty() {
            fields["CloudCustomData"] = msg.cloud_custom_data.into();
        }
        if msg.online_only {
            fields["MsgLifeTime"] = 0.into();
        }
        if let Some(p) = msg.offline_push_info {
            fields["OfflinePushInfo"] = p;
        }
        if msg.need_read_receipt {
            fields["IsNeedReadReceipt"] = 1.into();
        }
        let mut attempts = 0;
        let reply = self
            .call(json!({"type": "send", "msg": fields}), Some(&mut attempts))
            .await?;
        let msg_key = reply["msg_key"]
            .as_str()
            .ok_or_else(|| SdkError::Protocol(format!("a `sent` reply without msg_key: {reply}")))?
            .to_owned();
        let (tx, rx) = oneshot::channel();
        let _ = self.shared.commands.send(Command::WaitSeq {
            msg_key: msg_key.clone(),
            reply: tx,
        });
        let seq = tokio::time::timeout(self.shared.config.request_timeout, rx)
            .await
            .ok()
            .and_then(Result::ok);
        Ok(SentMessage {
            msg_key,
            msg_time: reply["msg_time"].as_i64().unwrap_or_default(),
            msg_seq: reply["msg_seq"].as_u64().unwrap_or_default() as u32,
            msg_random,
            seq,
        })
    }

    /// Up to `count` messages of the conversation with `peer` with `seq`
    /// below `before` (default: from the newest), newest first. Served from
    /// the local cache; missing seqs in that range are pulled from the
    /// roaming store first when online. Offline, the local copy is returned.
    pub async fn get_messages(
        &self,
        peer: &str,
        count: i64,
        before: Option<i64>,
    ) -> Result<Vec<Message>, SdkError> {
        if !(1..=HISTORY_PAGE_MAX).contains(&count) {
            return Err(SdkError::Invalid(format!(
                "count is {count}; it must be between 1 and {HISTORY_PAGE_MAX}"
            )));
        }
        let cache = &self.shared.cache;
        let mut top = match before {
            Some(b) => b,
            None => cache.last_seq(peer).await? + 1,
        };
        if self.is_connected() {
            if before.is_none() && top == 1 {
                // Nothing known about this conversation: ask for its newest page.
                let page = self
                    .call(
                        json!({"type": "history", "peer": peer, "count": count}),
                        Some(&mut 0),
                    )
                    .await;
                if let Ok(page) = page {
                    self.store_history(peer, &page).await?;
                    top = cache.last_seq(peer).await? + 1;
                }
            } else {
                let lo = (top - count).max(1);
                let held = cache.seqs(peer, lo, top - 1).await?;
                for (a, b) in gaps(lo, top - 1, &held) {
                    // Offline or a failed pull: serve what is held.
                    if self.fetch_range(peer, a, b).await.is_err() {
                        break;
                    }
                }
            }
        }
        cache.page(peer, top, count).await
    }

    /// Pulls `a..=b` of the conversation with `peer` from the roaming store.
    async fn fetch_range(&self, peer: &str, a: i64, b: i64) -> Result<(), SdkError> {
        let mut before = b + 1;
        while before > a {
            let page = self
                .call(
                    json!({"type": "history", "peer": peer, "after_seq": a - 1,
                           "before_seq": before, "count": (before - a).min(HISTORY_PAGE_MAX)}),
                    Some(&mut 0),
                )
                .await?;
            let oldest = self.store_history(peer, &page).await?;
            match oldest {
                Some(s) if page["complete"] != true => before = s,
                _ => break,
            }
        }
        Ok(())
    }

    /// Stores a history reply's messages; returns the oldest seq in it.
    async fn store_history(&self, peer: &str, page: &Value) -> Result<Option<i64>, SdkError> {
        let messages: Vec<Message> = serde_json::from_value(page["messages"].clone())
            .map_err(|e| SdkError::Protocol(format!("bad history reply: {e}")))?;
        let mut oldest = None;
        for mut m in messages {
            m.peer = peer.to_owned();
            m.conversation = conversation_of(&m.from, &m.to);
            oldest = Some(oldest.map_or(m.seq, |o: i64| o.min(m.seq)));
            if self.shared.cache.insert(m, false).await? {
                self.shared.roaming_fetched.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(oldest)
    }

    /// Recent contacts from the cache (kept current by login syncs and live
    /// frames), most recently active first, with unread counts.
    pub async fn recent_contacts(&self) -> Result<Vec<Conversation>, SdkError> {
        self.shared.cache.conversations().await
    }

    /// Marks the conversation with `peer` read up to `seq` (default: all
    /// held). The peer gets a read receipt; this user's other devices clear it.
    pub async fn mark_read(&self, peer: &str, seq: Option<i64>) -> Result<(), SdkError> {
        let seq = match seq {
            Some(s) => s,
            None => self.shared.cache.last_seq(peer).await?,
        };
        self.call(
            json!({"type": "read", "peer": peer, "seq": seq}),
            Some(&mut 0),
        )
        .await?;
        self.shared.cache.set_read(peer, seq).await
    }

    /// Tells `peer` this user read their messages `msg_keys`, each sent
    /// asking for a read receipt (`Message::need_read_receipt`); their
    /// devices get [`Event::MessageRead`]. Safe to repeat.
    pub async fn send_read_receipts(
        &self,
        peer: &str,
        msg_keys: &[String],
    ) -> Result<(), SdkError> {
        self.call(
            json!({"type": "receipt", "peer": peer, "msg_keys": msg_keys}),
            Some(&mut 0),
        )
        .await
        .map(drop)
    }

    /// Tells `peer`'s online devices this user is typing ([`Event::Typing`]).
    /// Repeat it while the user types; the server relays one every 2 s per
    /// peer and refuses the rest with 60018, which this ignores.
    pub async fn typing(&self, peer: &str) -> Result<(), SdkError> {
        match self
            .call(json!({"type": "typing", "peer": peer}), None)
            .await
        {
            Err(SdkError::Server { code, .. }) if code == TYPING_TOO_OFTEN => Ok(()),
            r => r.map(drop),
        }
    }

    /// Pins (or unpins) the conversation with `peer`: recent contacts list
    /// the pinned ones first, here and on this user's other devices' next sync.
    pub async fn pin_conversation(&self, peer: &str, pinned: bool) -> Result<(), SdkError> {
        self.call(
            json!({"type": "pin", "peer": peer, "pinned": pinned}),
            Some(&mut 0),
        )
        .await?;
        self.shared.cache.set_pinned(peer, pinned).await
    }

    /// Deletes the conversation with `peer` from this user's recent contacts
    /// (unread zeroed, unpinned); with `clear_history` its messages so far
    /// also leave this user's history, on the server and in the cache. A
    /// later message brings the conversation back.
    pub async fn delete_conversation(
        &self,
        peer: &str,
        clear_history: bool,
    ) -> Result<(), SdkError> {
        self.call(
            json!({"type": "delete_conversation", "peer": peer, "clear_history": clear_history}),
            Some(&mut 0),
        )
        .await?;
        self.shared.cache.forget(peer, clear_history).await
    }

    /// Recalls a message this user sent to `peer`.
    pub async fn recall(&self, peer: &str, msg_key: &str) -> Result<(), SdkError> {
        let mut attempts = 0;
        match self
            .call(
                json!({"type": "recall", "peer": peer, "msg_key": msg_key}),
                Some(&mut attempts),
            )
            .await
        {
            // A retry whose first attempt went through before the connection dropped.
            Err(SdkError::Server { code, .. }) if code == ALREADY_RECALLED && attempts > 1 => {
                Ok(())
            }
            r => r.map(drop),
        }
    }

    /// Registers this device's token for offline push (`apns`, `fcm`,
    /// `huawei`, `xiaomi`, `oppo`, `vivo` or `meizu`).
    pub async fn set_push_token(&self, platform: &str, token: &str) -> Result<(), SdkError> {
        self.push_token(platform, token, false).await
    }

    pub async fn remove_push_token(&self, platform: &str, token: &str) -> Result<(), SdkError> {
        self.push_token(platform, token, true).await
    }

    async fn push_token(&self, platform: &str, token: &str, remove: bool) -> Result<(), SdkError> {
        self.call(
            json!({"type": "push_token", "platform": platform, "token": token, "remove": remove}),
            Some(&mut 0),
        )
        .await
        .map(drop)
    }

    /// Closes the connection; the cache stays for the next login.
    pub async fn logout(&self) {
        let _ = self.shared.commands.send(Command::Logout);
        let task = self.shared.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The conversation id of two users: both ids, sorted, joined by `:`.
pub fn conversation_of(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

/// The ranges of `lo..=hi` not in `held` (ascending).
fn gaps(lo: i64, hi: i64, held: &[i64]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut next = lo;
    for &s in held {
        if s > next {
            out.push((next, s - 1));
        }
        next = next.max(s + 1);
    }
    if next <= hi {
        out.push((next, hi));
    }
    out
}

/// How a connection ended.
enum End {
    Dropped { reason: String, synced: bool },
    AuthFailed { code: u32, info: String },
    LoggedOut,
}

type Pending = HashMap<u64, oneshot::Sender<Result<Value, SdkError>>>;

struct Actor {
    user: String,
    usersig: String,
    device: String,
    config: ClientConfig,
    cache: Cache,
    events: mpsc::UnboundedSender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    connected: watch::Sender<bool>,
    /// Sends waiting for their echo (to learn their seq).
    waiters: HashMap<String, Vec<oneshot::Sender<i64>>>,
    /// Tells `login` how the first attempt went.
    first: Option<oneshot::Sender<Result<(), SdkError>>>,
}

impl Actor {
    fn emit(&self, e: Event) {
        // The app may have dropped its receiver; the SDK still works.
        let _ = self.events.send(e);
    }

    async fn run(mut self) {
        let mut backoff = self.config.reconnect_min;
        loop {
            self.emit(Event::ConnectionState(ConnectionState::Connecting));
            let end = self.session().await;
            self.connected.send_replace(false);
            match end {
                End::LoggedOut => {
                    self.emit(Event::ConnectionState(ConnectionState::LoggedOut));
                    return;
                }
                End::AuthFailed { code, info } => {
                    tracing::warn!(code, %info, "login refused; not reconnecting");
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(SdkError::Auth { code, info }));
                    } else {
                        self.emit(Event::ConnectionState(ConnectionState::AuthFailed {
                            code,
                            info,
                        }));
                    }
                    return;
                }
                End::Dropped { reason, synced } => {
                    tracing::info!(%reason, "connection lost; reconnecting");
                    self.emit(Event::ConnectionState(ConnectionState::Disconnected {
                        reason,
                    }));
                    if let Some(first) = self.first.take() {
                        // Unreachable at login: work from the cache meanwhile.
                        let _ = first.send(Ok(()));
                    }
                    if synced {
                        backoff = self.config.reconnect_min;
                    }
                }
            }
            // Jitter spreads the reconnects of many clients after an outage.
            let wait = backoff.mul_f64(0.5 + rand::random::<f64>() / 2.0);
            backoff = (backoff * 2).min(self.config.reconnect_max);
            let until = Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    cmd = self.commands.recv() => match cmd {
                        None | Some(Command::Logout) => {
                            self.emit(Event::ConnectionState(ConnectionState::LoggedOut));
                            return;
                        }
                        Some(Command::Request { reply, .. }) => {
                            let _ = reply.send(Err(SdkError::Disconnected));
                        }
                        Some(Command::WaitSeq { msg_key, reply }) => self.wait_seq(msg_key, reply).await,
                    }
                }
            }
        }
    }

    async fn wait_seq(&mut self, msg_key: String, reply: oneshot::Sender<i64>) {
        match self.cache.seq_of(&msg_key).await {
            Ok(Some(seq)) => {
                let _ = reply.send(seq);
            }
            _ => self.waiters.entry(msg_key).or_default().push(reply),
        }
    }

    async fn session(&mut self) -> End {
        let ws = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(
                self.config.url.as_str(),
                Some(WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)),
                false,
            ),
        )
        .await
        {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return dropped(format!("connect: {e}"), false),
            Err(_) => return dropped("connect timed out".into(), false),
        };
        let (mut sink, mut stream) = ws.split();
        let cursor = match self.cache.cursor(&self.device).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cache unreadable; syncing from scratch");
                None
            }
        };
        let mut login = json!({"type": "login", "user": self.user, "usersig": self.usersig,
                               "device": self.device, "platform": self.config.platform});
        if let Some(c) = cursor {
            login["cursor"] = c.into();
        }
        if sink
            .send(WsMessage::Text(login.to_string().into()))
            .await
            .is_err()
        {
            return dropped("connection closed before login".into(), false);
        }
        // The answer to the login frame.
        let mut refused: Option<(u32, String)> = None;
        loop {
            match tokio::time::timeout(CONNECT_TIMEOUT, stream.next()).await {
                Ok(Some(Ok(WsMessage::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("login_ok") => break,
                        Some("error") => {
                            refused = Some((
                                v["code"].as_u64().unwrap_or_default() as u32,
                                v["info"].as_str().unwrap_or_default().to_owned(),
                            ))
                        }
                        _ => return dropped(format!("unexpected answer to login: {t}"), false),
                    }
                }
                Ok(Some(Ok(WsMessage::Close(c)))) => {
                    let (code, reason) = c
                        .map(|c| (u16::from(c.code), c.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    // 4001: refused UserSig; 4002: a login frame the server
                    // cannot accept. Retrying would fail the same way.
                    if code == 4001 || code == 4002 {
                        let (code, info) = refused.unwrap_or((u32::from(code), reason));
                        return End::AuthFailed { code, info };
                    }
                    return dropped(format!("closed at login ({code}): {reason}"), false);
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return dropped(format!("at login: {e}"), false),
                Ok(None) => return dropped("closed at login".into(), false),
                Err(_) => return dropped("no answer to login".into(), false),
            }
        }
        self.connected.send_replace(true);
        self.emit(Event::ConnectionState(ConnectionState::Connected));
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(()));
        }

        let mut pending: Pending = HashMap::new();
        let mut next_id: u64 = 1;
        let mut synced = false;
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut last_rx = Instant::now();
        let end = loop {
            tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(WsMessage::Text(t))) => {
                        last_rx = Instant::now();
                        match serde_json::from_str::<Value>(&t) {
                            Ok(v) => {
                                if let Err(e) = self.on_frame(v, &mut pending, &mut synced).await {
                                    tracing::warn!(error = %e, "frame not applied");
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "a frame that is not JSON"),
                        }
                    }
                    Some(Ok(WsMessage::Close(c))) => {
                        let why = c.map(|c| format!("closed by the server ({}): {}", u16::from(c.code), c.reason))
                            .unwrap_or_else(|| "closed by the server".into());
                        break dropped(why, synced);
                    }
                    Some(Ok(_)) => last_rx = Instant::now(),
                    Some(Err(e)) => break dropped(e.to_string(), synced),
                    None => break dropped("connection closed".into(), synced),
                },
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Logout) => {
                        let _ = sink.send(WsMessage::Close(None)).await;
                        break End::LoggedOut;
                    }
                    Some(Command::Request { mut frame, reply }) => {
                        let id = next_id;
                        next_id += 1;
                        frame["id"] = id.into();
                        if sink.send(WsMessage::Text(frame.to_string().into())).await.is_err() {
                            let _ = reply.send(Err(SdkError::Disconnected));
                            break dropped("write failed".into(), synced);
                        }
                        pending.insert(id, reply);
                    }
                    Some(Command::WaitSeq { msg_key, reply }) => self.wait_seq(msg_key, reply).await,
                },
                _ = ping.tick() => {
                    if last_rx.elapsed() > PING_EVERY * 3 {
                        break dropped("no frame from the server for too long".into(), synced);
                    }
                    let _ = sink.send(WsMessage::Text(json!({"type": "ping"}).to_string().into())).await;
                }
            }
        };
        // Before the cut-off requests hear of it, so their retries wait for the reconnect.
        self.connected.send_replace(false);
        let logged_out = matches!(end, End::LoggedOut);
        for (_, reply) in pending {
            let _ = reply.send(Err(if logged_out {
                SdkError::LoggedOut
            } else {
                SdkError::Disconnected
            }));
        }
        end
    }

    /// Applies one server frame to the cache, then tells the app.
    async fn on_frame(
        &mut self,
        v: Value,
        pending: &mut Pending,
        synced: &mut bool,
    ) -> Result<(), SdkError> {
        if let Some(id) = v["id"].as_u64() {
            if let Some(reply) = pending.remove(&id) {
                let result = if v["type"] == "error" {
                    Err(SdkError::Server {
                        code: v["code"].as_u64().unwrap_or_default() as u32,
                        info: v["info"].as_str().unwrap_or_default().to_owned(),
                    })
                } else {
                    Ok(v)
                };
                let _ = reply.send(result);
            }
            return Ok(());
        }
        match v["type"].as_str().unwrap_or_default() {
            "message" => {
                let m: Message = serde_json::from_value(v.clone())
                    .map_err(|e| SdkError::Protocol(format!("bad message frame: {e}")))?;
                match v["event"].as_str().unwrap_or("new") {
                    "recall" => {
                        self.cache.replace(m.clone()).await?;
                        self.emit(Event::Recall(m));
                    }
                    "edit" => {
                        self.cache.replace(m.clone()).await?;
                        self.emit(Event::Edit(m));
                    }
                    _ => {
                        let (key, seq) = (m.msg_key.clone(), m.seq);
                        if self.cache.insert(m.clone(), true).await? {
                            self.emit(Event::NewMessage(m));
                        }
                        for w in self.waiters.remove(&key).unwrap_or_default() {
                            let _ = w.send(seq);
                        }
                    }
                }
                self.advance(&v).await?;
            }
            "read" => {
                let peer = v["peer"].as_str().unwrap_or_default().to_owned();
                let read_seq = v["read_seq"].as_i64().unwrap_or_default();
                if v["reader"] == self.user.as_str() {
                    self.cache.set_read(&peer, read_seq).await?;
                    self.emit(Event::ReadElsewhere { peer, read_seq });
                } else {
                    self.cache.set_peer_read(&peer, read_seq).await?;
                    self.emit(Event::ReadReceipt { peer, read_seq });
                }
                self.advance(&v).await?;
            }
            "receipt" => {
                let peer = v["peer"].as_str().unwrap_or_default().to_owned();
                let msg_key = v["msg_key"].as_str().unwrap_or_default().to_owned();
                let conversation = v["conversation"].as_str().unwrap_or_default();
                self.cache.set_message_read(conversation, &msg_key).await?;
                self.emit(Event::MessageRead {
                    peer,
                    msg_key,
                    seq: v["seq"].as_i64().unwrap_or_default(),
                });
                self.advance(&v).await?;
            }
            "typing" => self.emit(Event::Typing {
                from: v["from"].as_str().unwrap_or_default().to_owned(),
            }),
            "contacts" => self.on_contacts(&v).await?,
            "sync_done" => {
                self.advance(&v).await?;
                *synced = true;
                self.emit(Event::Refresh);
            }
            "pong" => {}
            "error" => tracing::warn!(frame = %v, "the server refused a frame"),
            other => tracing::debug!(kind = other, "frame ignored"),
        }
        Ok(())
    }

    /// The login's recent contacts: their latest messages are new messages
    /// when this device has not seen them; their unread counts are the server's.
    async fn on_contacts(&mut self, v: &Value) -> Result<(), SdkError> {
        let contacts = v["contacts"]
            .as_array()
            .ok_or_else(|| SdkError::Protocol("contacts frame without contacts".into()))?;
        for c in contacts {
            let peer = c["peer"].as_str().unwrap_or_default().to_owned();
            let conversation = c["conversation"].as_str().unwrap_or_default().to_owned();
            let mut latest: Vec<Value> = c["messages"].as_array().cloned().unwrap_or_default();
            if c["last_message"].is_object() {
                latest.push(c["last_message"].clone());
            }
            // Oldest first, so the app sees them in order.
            latest.sort_by_key(|m| m["seq"].as_i64());
            for m in latest {
                let mut m: Message = serde_json::from_value(m)
                    .map_err(|e| SdkError::Protocol(format!("bad contact message: {e}")))?;
                m.peer = peer.clone();
                m.conversation = conversation.clone();
                if self.cache.insert(m.clone(), false).await? {
                    self.emit(Event::NewMessage(m));
                }
            }
            self.cache
                .set_contact(
                    peer,
                    conversation,
                    c["last_seq"].as_i64().unwrap_or_default(),
                    c["last_at_ms"].as_i64().unwrap_or_default(),
                    c["unread"].as_i64().unwrap_or_default(),
                    c["pinned"].as_bool().unwrap_or_default(),
                )
                .await?;
        }
        Ok(())
    }

    /// Stores the frame's inbox cursor once its content is in the cache.
    async fn advance(&self, v: &Value) -> Result<(), SdkError> {
        match v["cursor"].as_i64() {
            Some(c) => self.cache.set_cursor(&self.device, c).await,
            None => Ok(()),
        }
    }
}

fn dropped(reason: String, synced: bool) -> End {
    End::Dropped { reason, synced }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_the_missing_ranges() {
        assert_eq!(gaps(1, 10, &[]), [(1, 10)]);
        assert_eq!(gaps(1, 10, &[1, 2, 3, 7, 10]), [(4, 6), (8, 9)]);
        assert!(gaps(3, 5, &[3, 4, 5]).is_empty());
        assert_eq!(gaps(3, 5, &[4]), [(3, 3), (5, 5)]);
    }

    #[test]
    fn conversations_sort_their_users() {
        assert_eq!(conversation_of("bob", "alice"), "alice:bob");
        assert_eq!(conversation_of("alice", "bob"), "alice:bob");
    }
}
