//! One WebSocket session: login, catch-up from the device's cursor, then
//! live push, until the client leaves, is too slow, or the service stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use missive_core::{storable, time, ApiError, ErrorCode, UserId};
use missive_ingest::actions::sessions::SessionChange;
use missive_schemas::SessionAction;

use crate::protocol::{ClientFrame, HistoryMessage, PushedMessage, Sender, ServerFrame};
use crate::DeliveryState;
use crate::{inbox, requests};

/// How long a client has to send its login frame.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests one session may have running at once.
const MAX_REQUESTS_IN_FLIGHT: usize = 32;
/// Close codes (4000-4999 are for applications).
pub const CLOSE_AUTH_FAILED: u16 = 4001;
pub const CLOSE_BAD_LOGIN: u16 = 4002;
/// The session's UserSig expired: log in again with a new one.
pub const CLOSE_USERSIG_EXPIRED: u16 = 4003;
/// The app administrator closed the account's sessions (kick, account_delete).
pub const CLOSE_KICKED: u16 = 4004;
pub const CLOSE_TOO_SLOW: u16 = 4008;

fn frame(f: &ServerFrame) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(f).expect("frames serialize"),
    ))
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.chars().take(120).collect::<String>()),
    }))
}

/// The session's bounded queue to its writer task. A client whose queue
/// stays full for `stall` is too slow and is cut off; until then a push
/// waits, which holds up only this session's own task.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<Message>,
    stall: Duration,
}

impl Outbox {
    /// False when the client is too slow or gone.
    async fn push(&self, msg: Message) -> bool {
        match tokio::time::timeout(self.stall, self.tx.send(msg)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                metrics::counter!("missive_delivery_slow_disconnects_total").increment(1);
                false
            }
        }
    }
}

pub async fn run(
    socket: WebSocket,
    state: Arc<DeliveryState>,
    shutdown: CancellationToken,
    client_ip: Option<String>,
) {
    let (mut sink, mut stream) = socket.split();

    // Login.
    let login = match tokio::time::timeout(LOGIN_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => ClientFrame::decode(&text, state.json_max_depth),
        Ok(Some(Ok(_))) => {
            let _ = sink
                .send(close(
                    CLOSE_BAD_LOGIN,
                    "the first frame must be a JSON login frame",
                ))
                .await;
            return;
        }
        _ => {
            let _ = sink
                .send(close(CLOSE_BAD_LOGIN, "no login frame received"))
                .await;
            return;
        }
    };
    let (user, device, usersig, platform, start_cursor) = match login {
        Ok(ClientFrame::Login {
            user,
            usersig,
            device,
            platform,
            cursor,
        }) => (user, device, usersig, platform, cursor),
        Ok(_) => {
            let _ = sink
                .send(close(
                    CLOSE_BAD_LOGIN,
                    "the first frame must be a login frame",
                ))
                .await;
            return;
        }
        Err(e) => {
            let _ = sink
                .send(close(CLOSE_BAD_LOGIN, &format!("bad login frame: {e}")))
                .await;
            return;
        }
    };
    if device.is_empty() || device.len() > 64 || platform.len() > 16 {
        let _ = sink
            .send(close(
                CLOSE_BAD_LOGIN,
                "device must be 1 to 64 bytes and platform at most 16",
            ))
            .await;
        return;
    }
    // The three are stored (presence, push tokens): refused here if the
    // views could not hold them.
    let code = ErrorCode::InvalidRequest;
    let user = match UserId::parse(&user, "user", code).and_then(|user| {
        storable::check_field("device", &device, code)?;
        storable::check_field("platform", &platform, code)?;
        Ok(user)
    }) {
        Ok(user) => user,
        Err(e) => {
            let _ = sink.send(close(CLOSE_BAD_LOGIN, &e.info)).await;
            return;
        }
    };
    // A bad UserSig, a deleted account, or a UserSig issued before the
    // last kick: refused with the same error frame and close.
    let admitted = match state.verifier.verify(&usersig, &user, time::now_secs()) {
        Ok(v) => crate::account_gate::admit(&state.pool, &user, v.issued_at)
            .await
            .map(|()| v),
        Err(e) => Err(ApiError::from(e)),
    };
    let verified = match admitted {
        Ok(v) => v,
        Err(e) => {
            let _ = sink
                .send(frame(&ServerFrame::Error {
                    id: None,
                    code: e.code.code(),
                    info: e.info.clone(),
                }))
                .await;
            let _ = sink.send(close(CLOSE_AUTH_FAILED, &e.info)).await;
            return;
        }
    };
    // The session lives as long as its UserSig: valid through `expires_at`,
    // closed at the start of the next second. (tokio caps a sleep
    // at about 30 years.)
    let usersig_expiry = tokio::time::sleep(Duration::from_secs(
        verified
            .expires_at
            .saturating_add(1)
            .saturating_sub(time::now_secs()),
    ));
    tokio::pin!(usersig_expiry);

    // From here on every frame goes through a bounded queue drained by the
    // writer task, so one slow client only ever stalls itself.
    let (tx, mut rx) = mpsc::channel::<Message>(state.send_queue);
    let outbox = Outbox {
        tx,
        stall: state.stall,
    };
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let closing = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let platform = if platform.is_empty() {
        "Unknown".to_owned()
    } else {
        platform
    };
    let mut registration = state.hub.register(&user, &device, &platform);
    let presence = Presence {
        state: &state,
        user: &user,
        device: &device,
        platform: &platform,
    };
    presence.beat().await;
    // The session is on the log from here (best effort, in the background).
    let mut session_log = SessionLog {
        state: state.clone(),
        user: user.clone(),
        device: device.clone(),
        platform: platform.clone(),
        client_ip: client_ip.clone(),
        login: None,
    };
    session_log.opened();
    // How the session ends, for its closing event: until something else is
    // known, the client stopped reading its frames (too slow or gone).
    let mut ended = (
        SessionAction::Disconnect,
        "the client stopped reading its frames (too slow or gone)".to_owned(),
    );
    let login_cursor = match state.pool.get().await {
        Ok(c) => inbox::last_cursor(&c, &user).await.unwrap_or(0),
        Err(_) => 0,
    };
    let mut cursor = start_cursor.unwrap_or(0).max(0);
    tracing::debug!(%user, %device, cursor, "session started");
    let mut alive = outbox
        .push(frame(&ServerFrame::LoginOk {
            user: user.to_string(),
            device: device.clone(),
            cursor: login_cursor,
        }))
        .await;
    // What waited offline (within the caps).
    match offline_sync(&state, &user, cursor, login_cursor, &outbox).await {
        Ok(true) => cursor = cursor.max(login_cursor),
        Ok(false) => alive = false,
        // The live drain below serves the same entries, uncapped, instead.
        Err(e) => tracing::warn!(error = %e, %user, "offline sync failed"),
    }
    // Then the recent contacts with their last messages, before sync_done.
    if alive {
        match requests::contacts(&state, &user, None, None, None).await {
            Ok(contacts) => {
                alive = outbox
                    .push(frame(&ServerFrame::Contacts { id: None, contacts }))
                    .await
            }
            Err(e) => {
                tracing::warn!(error = %e.info, %user, "recent contacts unavailable at login")
            }
        }
    }
    // Requests run concurrently (a send waits for the broker), a bounded
    // number at a time; their replies go through the same queue.
    let in_flight = Arc::new(Semaphore::new(MAX_REQUESTS_IN_FLIGHT));
    let mut requests = JoinSet::new();
    let too_slow = CancellationToken::new();
    let mut synced = false;
    // Read the inbox after the cursor at the top of the loop: at first, when
    // woken (a commit this session has not pushed, or the instance's upkeep
    // found it behind), and when a handed-over entry does not continue the
    // cursor.
    let mut need_read = true;
    while alive {
        // Entries handed over already go first: a wake-up for them then
        // finds nothing left to read.
        while let Ok(entry) = registration.live.try_recv() {
            let (pushed, gap) = take_live(&entry, &user, &mut cursor, &outbox).await;
            alive &= pushed;
            need_read |= gap;
        }
        if need_read {
            match drain(&state, &user, &mut cursor, login_cursor, &outbox).await {
                Ok(true) => need_read = false,
                Ok(false) => break,
                Err(e) => tracing::warn!(error = %e, %user, "inbox read failed; will retry"),
            }
        }
        registration.cursor.store(cursor, Ordering::Release);
        if !synced {
            synced = true;
            alive = outbox.push(frame(&ServerFrame::SyncDone { cursor })).await;
        }
        tokio::select! {
            _ = registration.wake.notified() => need_read = true,
            Some(signal) = registration.signals.recv() => {
                alive = outbox.push(Message::Text(Utf8Bytes::from(signal.to_string()))).await;
            }
            Some(entry) = registration.live.recv() => {
                let (pushed, gap) = take_live(&entry, &user, &mut cursor, &outbox).await;
                alive &= pushed;
                need_read |= gap;
                registration.cursor.store(cursor, Ordering::Release);
            }
            incoming = stream.next() => match incoming {
                // Every frame counts against the user's request rate, the
                // ones that do not parse included.
                Some(Ok(Message::Text(text))) => match (
                    ClientFrame::decode(&text, state.json_max_depth),
                    state.limits.check_request(&user),
                ) {
                    (decoded, Err(e)) => {
                        alive = outbox.push(frame(&ServerFrame::Error {
                            id: decoded.ok().and_then(|f| f.id()),
                            code: e.code.code(),
                            info: e.info,
                        })).await;
                    }
                    (Ok(ClientFrame::Ping { id }), Ok(())) => {
                        alive = outbox.push(frame(&ServerFrame::Pong { id })).await;
                    }
                    (Ok(request), Ok(())) => match in_flight.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let (state, user, device, outbox, too_slow, client_ip) = (
                                state.clone(),
                                user.clone(),
                                device.clone(),
                                outbox.clone(),
                                too_slow.clone(),
                                client_ip.clone(),
                            );
                            requests.spawn(async move {
                                let reply = requests::handle(&state, &user, &device, client_ip.as_deref(), request).await;
                                drop(permit);
                                if !outbox.push(frame(&reply)).await {
                                    too_slow.cancel();
                                }
                            });
                        }
                        Err(_) => {
                            alive = outbox.push(frame(&ServerFrame::Error {
                                id: None,
                                code: ErrorCode::InvalidRequest.code(),
                                info: format!("more than {MAX_REQUESTS_IN_FLIGHT} requests in flight; wait for replies"),
                            })).await;
                        }
                    },
                    (Err(e), Ok(())) => {
                        alive = outbox.push(frame(&ServerFrame::Error {
                            id: None,
                            code: ErrorCode::InvalidRequest.code(),
                            info: format!("bad frame: {e}"),
                        })).await;
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    let e = state.limits.check_request(&user).err().unwrap_or_else(|| ApiError::new(
                        ErrorCode::InvalidRequest,
                        "binary frames are not part of the protocol; send JSON text",
                    ));
                    alive = outbox.push(frame(&ServerFrame::Error {
                        id: None,
                        code: e.code.code(),
                        info: e.info,
                    })).await;
                }

                // A close frame is the client saying goodbye (the protocol's
                // logout); anything else is the connection dropping.
                Some(Ok(Message::Close(frame))) => {
                    ended = (
                        SessionAction::Logout,
                        match frame {
                            Some(f) => format!("the client closed the session (close code {})", f.code),
                            None => "the client closed the session".to_owned(),
                        },
                    );
                    break;
                }
                None | Some(Err(_)) => {
                    ended = (SessionAction::Disconnect, "the connection dropped".to_owned());
                    break;
                }
                Some(Ok(_)) => {} // ping/pong are answered by the library
            },
            _ = too_slow.cancelled() => alive = false,
            _ = registration.closed.cancelled() => {
                ended = (
                    SessionAction::Kicked,
                    "the app administrator closed this account's sessions (kick or account_delete)".to_owned(),
                );
                let _ = outbox.tx.try_send(close(
                    CLOSE_KICKED,
                    "the app administrator closed this account's sessions (kick or account deletion)",
                ));
                break;
            }
            _ = &mut usersig_expiry => {
                let e = ApiError::from(missive_core::usersig::UserSigError::Expired {
                    expires_at: verified.expires_at,
                });
                let _ = outbox.tx.try_send(frame(&ServerFrame::Error {
                    id: None,
                    code: e.code.code(),
                    info: e.info.clone(),
                }));
                let _ = outbox.tx.try_send(close(CLOSE_USERSIG_EXPIRED, &e.info));
                ended = (SessionAction::Disconnect, "the session's UserSig expired".to_owned());
                break;
            }
            Some(_) = requests.join_next(), if !requests.is_empty() => {}
            _ = shutdown.cancelled() => {
                let _ = outbox.tx.try_send(close(1001, "server shutting down"));
                ended = (SessionAction::Disconnect, "the server is shutting down".to_owned());
                break;
            }
        }
    }
    requests.abort_all();
    if !alive {
        // Too slow: do not wait behind its queue.
        writer.abort();
    } else {
        drop(outbox);
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    }
    drop(registration);
    presence.leave().await;
    session_log.closed(ended.0, ended.1);
    tracing::debug!(%user, %device, "session ended");
}

/// Puts a session's opening and closing on the log (`SessionChanged`,
/// Tencent's `State.StateChange`), through ingest's device adapter, the
/// one producer of this service. Best effort and never in the session's
/// way: each append runs on a task of its own (tracked, so a shutdown
/// waits for it, within the producer's time-out), the closing after the
/// opening so they reach the log in order; an append the log refuses
/// (unreachable broker, full backlog: the appender's backpressure rules)
/// is logged and counted, not retried.
struct SessionLog {
    state: Arc<DeliveryState>,
    user: UserId,
    device: String,
    platform: String,
    client_ip: Option<String>,
    login: Option<tokio::task::JoinHandle<()>>,
}

impl SessionLog {
    fn change(&self, action: SessionAction, reason: String) -> SessionChange {
        SessionChange {
            device: self.device.clone(),
            platform: self.platform.clone(),
            action,
            reason,
            client_ip: self.client_ip.clone(),
        }
    }

    fn opened(&mut self) {
        let change = self.change(SessionAction::Login, "logged in".to_owned());
        let (state, user) = (self.state.clone(), self.user.clone());
        self.login = Some(
            self.state
                .sessions
                .spawn(async move { record(&state, &user, change).await }),
        );
    }

    fn closed(self, action: SessionAction, reason: String) {
        let change = self.change(action, reason);
        let (state, user, login) = (self.state.clone(), self.user, self.login);
        self.state.sessions.spawn(async move {
            if let Some(login) = login {
                let _ = login.await;
            }
            record(&state, &user, change).await
        });
    }
}

async fn record(state: &DeliveryState, user: &UserId, change: SessionChange) {
    let action = change.action.symbol();
    let Ok(_slot) = state.session_appends.try_acquire() else {
        metrics::counter!("missive_delivery_session_events_total", "action" => action, "result" => "refused")
            .increment(1);
        tracing::warn!(%user, action,
            "too many session events wait for the log; this one is not appended");
        return;
    };
    match state.actions.session_changed(user, change).await {
        Ok(()) => {
            metrics::counter!("missive_delivery_session_events_total", "action" => action, "result" => "appended")
                .increment(1);
        }
        Err(e) => {
            metrics::counter!("missive_delivery_session_events_total", "action" => action, "result" => "refused")
                .increment(1);
            tracing::warn!(%user, action, error = %e.info,
                "session event not appended; the session goes on without it");
        }
    }
}

/// This session's row in the shared presence table.
struct Presence<'a> {
    state: &'a DeliveryState,
    user: &'a str,
    device: &'a str,
    platform: &'a str,
}

impl Presence<'_> {
    /// Marks the device online here, now (login; the instance's upkeep
    /// refreshes it after).
    async fn beat(&self) {
        let result = async {
            let client = self.state.pool.get().await?;
            let stmt = client
                .prepare_cached(include_str!("sql/presence_upsert.sql"))
                .await?;
            client
                .execute(
                    &stmt,
                    &[
                        &self.user,
                        &self.device,
                        &self.state.instance_id,
                        &self.platform,
                        &time::now_millis(),
                    ],
                )
                .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, user = %self.user, "presence not written at login");
        }
    }

    async fn leave(&self) {
        let result = async {
            let client = self.state.pool.get().await?;
            let stmt = client
                .prepare_cached(include_str!("sql/presence_delete.sql"))
                .await?;
            client
                .execute(&stmt, &[&self.user, &self.device, &self.state.instance_id])
                .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
        .await;
        if let Err(e) = result {
            // The row expires with its heartbeat anyway.
            tracing::warn!(error = %e, user = %self.user, "presence removal failed");
        }
    }
}

/// Sends what waited while the device was offline; false when the client is
/// gone or stalls.
async fn offline_sync(
    state: &DeliveryState,
    user: &str,
    cursor: i64,
    login_cursor: i64,
    outbox: &Outbox,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    if cursor >= login_cursor {
        return Ok(true);
    }
    let client = state.pool.get().await?;
    let waiting = inbox::offline(
        &client,
        user,
        cursor,
        login_cursor,
        time::now_millis(),
        state.offline_caps,
    )
    .await?;
    drop(client);
    for p in waiting {
        if !outbox.push(frame(&p.frame)).await {
            return Ok(false);
        }
        metrics::counter!("missive_delivery_pushed_total").increment(1);
    }
    Ok(true)
}

/// Sends every inbox entry after `cursor`; false when the client is gone or too slow.
/// A handed-over entry: pushed if it continues `cursor`; one further on is
/// a gap (an entry not handed over, such as a recall: PostgreSQL has it);
/// an older one was pushed already. Returns (client still there, gap).
async fn take_live(
    entry: &missive_core::live::LiveEntry,
    user: &str,
    cursor: &mut i64,
    outbox: &Outbox,
) -> (bool, bool) {
    if entry.cursor == *cursor + 1 {
        let alive = outbox.push(frame(&live_frame(user, entry))).await;
        metrics::counter!("missive_delivery_pushed_total").increment(1);
        metrics::counter!("missive_delivery_handed_over_total").increment(1);
        *cursor = entry.cursor;
        (alive, false)
    } else {
        (true, entry.cursor > *cursor)
    }
}

/// The frame of an entry a projector in this process handed over: the same
/// as `inbox::after` builds from the stored rows.
fn live_frame(user: &str, entry: &missive_core::live::LiveEntry) -> ServerFrame {
    let m = &entry.message;
    let peer = if m.from == user { &m.to } else { &m.from };
    ServerFrame::Message(Box::new(PushedMessage {
        cursor: entry.cursor,
        event: "new".to_owned(),
        conversation: m.conversation_id.clone(),
        peer: peer.clone(),
        message: HistoryMessage {
            seq: m.seq,
            msg_key: m.msg_key.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            time: m.sent_at_ms / 1000,
            msg_seq: m.msg_seq,
            msg_random: m.msg_random,
            body: m.body.clone(),
            cloud_custom_data: m.cloud_custom_data.clone(),
            sender: Sender {
                nickname: m.sender_nickname.clone(),
                avatar_url: m.sender_avatar_url.clone(),
            },
            recalled: false,
            peer_read: false,
            need_read_receipt: m.need_read_receipt,
        },
    }))
}

async fn drain(
    state: &DeliveryState,
    user: &str,
    cursor: &mut i64,
    login_cursor: i64,
    outbox: &Outbox,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    loop {
        // The connection is released before the page is pushed: a slow
        // client may hold up its own queue, never the pool.
        let page = {
            let client = state.pool.get().await?;
            inbox::after(&client, user, *cursor, time::now_millis(), login_cursor).await?
        };
        let full = page.len() as i64 == inbox::PAGE;
        for p in page {
            let next = p.cursor;
            if !outbox.push(frame(&p.frame)).await {
                return Ok(false);
            }
            metrics::counter!("missive_delivery_pushed_total").increment(1);
            *cursor = next;
        }
        if !full {
            return Ok(true);
        }
    }
}
