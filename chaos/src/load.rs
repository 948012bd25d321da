//! The steady load the faults land on: senders that retry every send with the
//! same MsgRandom/MsgSeq until it is acknowledged (as the SDK does), online
//! recipients with two WebSocket devices each that reconnect from their
//! cursor, and offline recipients with a push token.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// A send the sender saw acknowledged (ActionStatus OK).
#[derive(Debug, Clone)]
pub struct Acked {
    pub msg_key: String,
    pub from: String,
    pub to: String,
}

/// How to reach ingest as the administrator.
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    query: String,
}

/// The outcome of one REST call attempt.
pub enum Attempt {
    Ok(Value),
    /// Connection refused/reset, timeout, 503 or a retryable code: try again.
    Retry(String),
    /// A definite refusal: retrying would not help.
    Refused(Value),
}

impl RestClient {
    pub fn new(ingest: SocketAddr, sdkappid: u64, admin: &str, usersig: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("HTTP client"),
            base: format!("http://{ingest}"),
            query: format!(
                "sdkappid={sdkappid}&identifier={admin}&usersig={usersig}&contenttype=json"
            ),
        }
    }

    pub async fn call(&self, path: &str, body: &Value) -> Attempt {
        let url = format!(
            "{}/v4/{path}?{}&random={}",
            self.base,
            self.query,
            rand::random::<u32>()
        );
        let resp = match self.http.post(&url).json(body).send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("transport: {e}")),
        };
        let status = resp.status();
        let v: Value = match resp.json().await {
            Ok(v) => v,
            Err(e) => return Attempt::Retry(format!("HTTP {status}, body: {e}")),
        };
        match v["ErrorCode"].as_u64() {
            Some(0) => Attempt::Ok(v),
            // 91000: the log or the views are unavailable; 60007/60018: a
            // rate limit (docs/limits.md). All retryable by contract.
            Some(code @ (91000 | 60007 | 60018)) => {
                Attempt::Retry(format!("{code}: {}", v["ErrorInfo"]))
            }
            _ if status.is_server_error() => Attempt::Retry(format!("HTTP {status}: {v}")),
            _ => Attempt::Refused(v),
        }
    }

    /// Calls until an answer that is not retryable, or `stop`.
    pub async fn call_until_done(
        &self,
        path: &str,
        body: &Value,
        stop: &CancellationToken,
    ) -> Option<Result<Value, Value>> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.call(path, body).await {
                Attempt::Ok(v) => return Some(Ok(v)),
                Attempt::Refused(v) => return Some(Err(v)),
                Attempt::Retry(why) => {
                    tracing::debug!(%why, "retrying");
                    if stop.is_cancelled() {
                        return None;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// What the senders did.
#[derive(Debug, Default)]
pub struct SendLog {
    pub acked: Vec<Acked>,
    /// Sends still unacknowledged when the give-up deadline passed.
    pub abandoned: Vec<Acked>,
    /// Definite refusals (a bug under this load: every send is valid).
    pub refused: Vec<String>,
    pub retries: u64,
}

/// One sender: sends to its recipients in turn, one at a time, each retried
/// with the same MsgRandom and MsgSeq until acknowledged. Sequential sends
/// mean each conversation's acknowledged order is its seq order.
pub async fn run_sender(
    rest: RestClient,
    from: String,
    recipients: Vec<String>,
    interval: Duration,
    stop_sending: CancellationToken,
    give_up: CancellationToken,
    log: Arc<Mutex<SendLog>>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    while !stop_sending.is_cancelled() {
        tick.tick().await;
        let to = recipients[n as usize % recipients.len()].clone();
        n += 1;
        let msg_random: u32 = rand::random();
        let body = json!({
            "From_Account": from, "To_Account": to,
            "MsgSeq": n, "MsgRandom": msg_random,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("{from} #{n}")}}],
            "OfflinePushInfo": {"PushFlag": 0, "Title": "chaos", "Desc": format!("#{n}")},
        });
        let mut attempts = 0u64;
        let mut backoff = Duration::from_millis(100);
        let outcome = loop {
            attempts += 1;
            match rest.call("openim/sendmsg", &body).await {
                Attempt::Ok(v) => break Ok(v["MsgKey"].as_str().unwrap_or_default().to_owned()),
                Attempt::Refused(v) => break Err(v.to_string()),
                Attempt::Retry(why) => {
                    tracing::debug!(%from, %why, "send failed; retrying with the same MsgRandom");
                    if give_up.is_cancelled() {
                        break Err(String::new());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        };
        let mut log = log.lock().expect("send log");
        log.retries += attempts - 1;
        match outcome {
            Ok(msg_key) => log.acked.push(Acked {
                msg_key,
                from: from.clone(),
                to,
            }),
            Err(e) if e.is_empty() => log.abandoned.push(Acked {
                msg_key: String::new(),
                from: from.clone(),
                to,
            }),
            Err(e) => log.refused.push(e),
        }
    }
}

/// What one device saw: message frames by MsgKey (new ones only).
#[derive(Debug, Default)]
pub struct DeviceLog {
    pub received: HashMap<String, u32>,
    pub cursor: i64,
    pub connections: u32,
}

/// One WebSocket device of an online recipient: logs in with its last
/// cursor, records every `message` frame, and reconnects when cut off.
pub struct Device {
    pub user: String,
    pub device: String,
    pub log: Arc<Mutex<DeviceLog>>,
    /// Notified to drop the connection abruptly (no close frame).
    pub cut: Arc<Notify>,
}

impl Device {
    pub fn new(user: &str, device: &str) -> Self {
        Self {
            user: user.to_owned(),
            device: device.to_owned(),
            log: Arc::default(),
            cut: Arc::new(Notify::new()),
        }
    }

    pub async fn run(
        self: Arc<Self>,
        delivery: SocketAddr,
        usersig: String,
        stop: CancellationToken,
    ) {
        let url = format!("ws://{delivery}/v1/ws");
        while !stop.is_cancelled() {
            let started = Instant::now();
            let result = tokio::select! {
                r = self.session(&url, &usersig) => r,
                _ = self.cut.notified() => Err("cut by the fault loop".into()),
                _ = stop.cancelled() => Ok(()),
            };
            if let Err(e) = result {
                tracing::debug!(user = %self.user, device = %self.device, error = %e, "device disconnected");
            }
            // Reconnect at once after a long session, with a pause after a failed attempt.
            if started.elapsed() < Duration::from_secs(1) {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }

    async fn session(&self, url: &str, usersig: &str) -> Result<(), String> {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| e.to_string())?;
        let cursor = {
            let mut log = self.log.lock().expect("device log");
            log.connections += 1;
            log.cursor
        };
        let mut login = json!({"type": "login", "user": self.user, "usersig": usersig,
            "device": self.device, "platform": "Android"});
        if cursor > 0 {
            login["cursor"] = cursor.into();
        }
        ws.send(Message::text(login.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        while let Some(frame) = ws.next().await {
            let frame = frame.map_err(|e| e.to_string())?;
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            match v["type"].as_str() {
                Some("message") => {
                    let mut log = self.log.lock().expect("device log");
                    if v["event"] == "new" {
                        let key = v["msg_key"].as_str().unwrap_or_default().to_owned();
                        *log.received.entry(key).or_default() += 1;
                    }
                    log.cursor = log.cursor.max(v["cursor"].as_i64().unwrap_or(0));
                }
                Some("read") => {
                    let mut log = self.log.lock().expect("device log");
                    log.cursor = log.cursor.max(v["cursor"].as_i64().unwrap_or(0));
                }
                Some("error") => return Err(format!("error frame: {v}")),
                _ => {}
            }
        }
        Err("closed by the server".into())
    }
}
