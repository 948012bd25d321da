//! One WebSocket session: login, catch-up from the device's cursor, then
//! live push, until the client leaves, is too slow, or the service stops.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use missive_core::{time, ApiError, ErrorCode};

use crate::inbox;
use crate::protocol::{ClientFrame, ServerFrame};
use crate::DeliveryState;

/// How long a client has to send its login frame.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Re-read the inbox this often even without a wake-up (lost notifications).
const RESYNC_EVERY: Duration = Duration::from_secs(15);
/// Close codes (4000-4999 are for applications).
pub const CLOSE_AUTH_FAILED: u16 = 4001;
pub const CLOSE_BAD_LOGIN: u16 = 4002;
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

/// Sends `msg` through the bounded queue; false when the client is too slow
/// (queue full) or gone.
fn enqueue(tx: &mpsc::Sender<Message>, msg: Message) -> bool {
    match tx.try_send(msg) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics::counter!("missive_delivery_slow_disconnects_total").increment(1);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

pub async fn run(socket: WebSocket, state: Arc<DeliveryState>, shutdown: CancellationToken) {
    let (mut sink, mut stream) = socket.split();

    // Login.
    let login = match tokio::time::timeout(LOGIN_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<ClientFrame>(&text),
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
    if let Err(e) = state.verifier.verify(&usersig, &user, time::now_secs()) {
        let e = ApiError::from(e);
        let _ = sink
            .send(frame(&ServerFrame::Error {
                code: e.code.code(),
                info: e.info.clone(),
            }))
            .await;
        let _ = sink.send(close(CLOSE_AUTH_FAILED, &e.info)).await;
        return;
    }

    // From here on every frame goes through a bounded queue drained by the
    // writer task, so one slow client only ever stalls itself.
    let (tx, mut rx) = mpsc::channel::<Message>(state.send_queue);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let closing = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let registration = state.hub.register(&user);
    let platform = if platform.is_empty() {
        "Unknown".to_owned()
    } else {
        platform
    };
    let presence = Presence {
        state: &state,
        user: &user,
        device: &device,
        platform: &platform,
    };
    presence.beat().await;
    let login_cursor = match state.pool.get().await {
        Ok(c) => inbox::last_cursor(&c, &user).await.unwrap_or(0),
        Err(_) => 0,
    };
    let mut cursor = start_cursor.unwrap_or(0).max(0);
    tracing::debug!(%user, %device, cursor, "session started");
    let mut alive = enqueue(
        &tx,
        frame(&ServerFrame::LoginOk {
            user: user.clone(),
            device: device.clone(),
            cursor: login_cursor,
        }),
    );
    // What waited offline (within the caps), with backpressure rather than
    // the live path's drop-when-full: a long backlog is not a slow client.
    match offline_sync(&state, &user, cursor, login_cursor, &tx).await {
        Ok(true) => cursor = cursor.max(login_cursor),
        Ok(false) => alive = false,
        // The live drain below serves the same entries, uncapped, instead.
        Err(e) => tracing::warn!(error = %e, %user, "offline sync failed"),
    }
    let mut synced = false;
    let mut resync = tokio::time::interval(RESYNC_EVERY);
    resync.tick().await;

    while alive {
        // Push everything after the cursor.
        match drain(&state, &user, &mut cursor, login_cursor, &tx).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => tracing::warn!(error = %e, %user, "inbox read failed; will retry"),
        }
        if !synced {
            synced = true;
            alive = enqueue(&tx, frame(&ServerFrame::SyncDone { cursor }));
        }
        tokio::select! {
            _ = registration.wake.notified() => {}
            _ = resync.tick() => presence.beat().await,
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = match serde_json::from_str::<ClientFrame>(&text) {
                        Ok(ClientFrame::Ping { id }) => ServerFrame::Pong { id },
                        Ok(ClientFrame::Login { .. }) => ServerFrame::Error {
                            code: ErrorCode::InvalidRequest.code(),
                            info: "already logged in".into(),
                        },
                        Err(e) => ServerFrame::Error {
                            code: ErrorCode::InvalidRequest.code(),
                            info: format!("bad frame: {e}"),
                        },
                    };
                    alive = enqueue(&tx, frame(&reply));
                }
                Some(Ok(Message::Binary(_))) => {
                    alive = enqueue(&tx, frame(&ServerFrame::Error {
                        code: ErrorCode::InvalidRequest.code(),
                        info: "binary frames are not part of the protocol; send JSON text".into(),
                    }));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {} // ping/pong are answered by the library
            },
            _ = shutdown.cancelled() => {
                let _ = tx.try_send(close(1001, "server shutting down"));
                break;
            }
        }
    }
    if !alive {
        // Too slow: do not wait behind its queue.
        writer.abort();
    } else {
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    }
    drop(registration);
    presence.leave().await;
    tracing::debug!(%user, %device, "session ended");
}

/// This session's row in the shared presence table.
struct Presence<'a> {
    state: &'a DeliveryState,
    user: &'a str,
    device: &'a str,
    platform: &'a str,
}

impl Presence<'_> {
    /// Marks the device online here, now (login and heartbeat).
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
            tracing::warn!(error = %e, user = %self.user, "presence heartbeat failed");
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

/// How long an offline sync may wait for room in the client's queue.
const SYNC_STALL: Duration = Duration::from_secs(30);

/// Sends what waited while the device was offline; false when the client is
/// gone or stalls.
async fn offline_sync(
    state: &DeliveryState,
    user: &str,
    cursor: i64,
    login_cursor: i64,
    tx: &mpsc::Sender<Message>,
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
    for m in waiting {
        let msg = frame(&ServerFrame::Message(Box::new(m)));
        match tokio::time::timeout(SYNC_STALL, tx.send(msg)).await {
            Ok(Ok(())) => metrics::counter!("missive_delivery_pushed_total").increment(1),
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// Sends every inbox entry after `cursor`; false when the client is gone or too slow.
async fn drain(
    state: &DeliveryState,
    user: &str,
    cursor: &mut i64,
    login_cursor: i64,
    tx: &mpsc::Sender<Message>,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let client = state.pool.get().await?;
    loop {
        let page = inbox::after(&client, user, *cursor, time::now_millis(), login_cursor).await?;
        let full = page.len() as i64 == inbox::PAGE;
        for m in page {
            let next = m.cursor;
            if !enqueue(tx, frame(&ServerFrame::Message(Box::new(m)))) {
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
