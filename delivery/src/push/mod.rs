//! Offline push: when a delivered message's recipient has no online device,
//! each of their registered device tokens gets one notification through its
//! vendor (APNs, FCM, Huawei, Xiaomi, OPPO, vivo, Meizu). See docs/push.md.
//!
//! One module per vendor speaks its documented request format; the worker
//! (`worker.rs`) consumes the log, decides, dedupes, retries and dead-letters.

/// A vendor's [`Vendor`] impl: its platform, and `send` as its own
/// `async fn send_one(&self, n, token)`, boxed. Every vendor module ends with it.
macro_rules! vendor {
    ($vendor:ty, $platform:expr) => {
        impl super::Vendor for $vendor {
            fn platform(&self) -> super::Platform {
                $platform
            }

            fn send<'a>(
                &'a self,
                n: &'a super::Notification,
                token: &'a str,
            ) -> futures::future::BoxFuture<'a, Result<(), super::PushError>> {
                Box::pin(self.send_one(n, token))
            }
        }
    };
}

mod apns;
mod fcm;
mod huawei;
mod meizu;
mod notification;
mod oppo;
mod vivo;
mod worker;
mod xiaomi;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use missive_core::config::PushConfig;
use missive_schemas::PushPlatform;

pub use notification::{eligible, Notification, Skip};
pub use worker::{PushWorker, PushWorkerError};

/// The push services a token can belong to. Stored as `as_str()` in the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    Apns,
    Fcm,
    Huawei,
    Xiaomi,
    Oppo,
    Vivo,
    Meizu,
}

impl Platform {
    pub const ALL: [Platform; 7] = [
        Platform::Apns,
        Platform::Fcm,
        Platform::Huawei,
        Platform::Xiaomi,
        Platform::Oppo,
        Platform::Vivo,
        Platform::Meizu,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Apns => "apns",
            Platform::Fcm => "fcm",
            Platform::Huawei => "huawei",
            Platform::Xiaomi => "xiaomi",
            Platform::Oppo => "oppo",
            Platform::Vivo => "vivo",
            Platform::Meizu => "meizu",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The event contract's name of this platform.
    pub fn to_schema(self) -> PushPlatform {
        match self {
            Platform::Apns => PushPlatform::Apns,
            Platform::Fcm => PushPlatform::Fcm,
            Platform::Huawei => PushPlatform::Huawei,
            Platform::Xiaomi => PushPlatform::Xiaomi,
            Platform::Oppo => PushPlatform::Oppo,
            Platform::Vivo => PushPlatform::Vivo,
            Platform::Meizu => PushPlatform::Meizu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_match_the_event_contract() {
        for p in Platform::ALL {
            assert_eq!(p.to_schema().symbol().to_ascii_lowercase(), p.as_str());
            assert_eq!(Platform::parse(p.as_str()), Some(p));
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one vendor request ended, when it did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// The vendor says the token is unknown, expired or malformed: it is
    /// removed and never used again.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// Worth trying again (throttled, vendor unavailable, network, expired auth).
    #[error("{reason}")]
    Retryable {
        reason: String,
        /// What the vendor asked for (`Retry-After`), if anything.
        retry_after: Option<Duration>,
    },
    /// The vendor refused the request for a reason retrying will not fix
    /// (bad credentials, payload refused): dead-lettered at once.
    #[error("rejected: {0}")]
    Rejected(String),
}

impl PushError {
    fn retry(reason: impl Into<String>) -> Self {
        PushError::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    fn transport(e: reqwest::Error) -> Self {
        // The error text never holds our credentials: they travel in headers and bodies.
        PushError::retry(format!("transport: {e}"))
    }
}

/// One push service.
pub trait Vendor: Send + Sync {
    fn platform(&self) -> Platform;
    /// Sends `n` to one device token.
    fn send<'a>(
        &'a self,
        n: &'a Notification,
        token: &'a str,
    ) -> BoxFuture<'a, Result<(), PushError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum VendorSetupError {
    #[error("push.{vendor}: {reason}")]
    Config {
        vendor: &'static str,
        reason: String,
    },
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The configured vendors, by platform.
#[derive(Clone, Default)]
pub struct Vendors {
    by_platform: HashMap<Platform, Arc<dyn Vendor>>,
}

impl Vendors {
    pub fn from_config(c: &PushConfig) -> Result<Self, VendorSetupError> {
        let timeout = Duration::from_millis(c.request_timeout_ms.max(1));
        // One pool for the HTTP/1.1 + ALPN vendors; APNs needs HTTP/2 only.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("missive/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut v = Vendors::default();
        if let Some(a) = &c.apns {
            v.insert(Arc::new(apns::Apns::new(a, timeout)?));
        }
        if let Some(f) = &c.fcm {
            v.insert(Arc::new(fcm::Fcm::new(f, http.clone())?));
        }
        if let Some(h) = &c.huawei {
            v.insert(Arc::new(huawei::Huawei::new(h, http.clone())));
        }
        if let Some(x) = &c.xiaomi {
            v.insert(Arc::new(xiaomi::Xiaomi::new(x, http.clone())));
        }
        if let Some(o) = &c.oppo {
            v.insert(Arc::new(oppo::Oppo::new(o, http.clone())));
        }
        if let Some(o) = &c.vivo {
            v.insert(Arc::new(vivo::Vivo::new(o, http.clone())));
        }
        if let Some(m) = &c.meizu {
            v.insert(Arc::new(meizu::Meizu::new(m, http.clone())));
        }
        Ok(v)
    }

    pub fn insert(&mut self, vendor: Arc<dyn Vendor>) {
        self.by_platform.insert(vendor.platform(), vendor);
    }

    pub fn get(&self, p: Platform) -> Option<&Arc<dyn Vendor>> {
        self.by_platform.get(&p)
    }

    pub fn is_empty(&self) -> bool {
        self.by_platform.is_empty()
    }
}

/// A PEM from configuration: environment variables often carry `\n` escapes.
fn pem_bytes(secret: &SecretString) -> Vec<u8> {
    secret.expose_secret().replace("\\n", "\n").into_bytes()
}

/// An access token a vendor issued, shared by concurrent sends and renewed
/// shortly before it expires (or at once after the vendor refused it).
#[derive(Default)]
struct CachedToken {
    slot: tokio::sync::Mutex<Option<(Arc<str>, Instant)>>,
}

/// Renew this long before the vendor's expiry.
const TOKEN_MARGIN: Duration = Duration::from_secs(120);

impl CachedToken {
    /// The current token, fetching a new one (lifetime from the vendor) if needed.
    async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<str>, PushError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(String, Duration), PushError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((token, renew_at)) = slot.as_ref() {
            if Instant::now() < *renew_at {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = fetch().await?;
        let token: Arc<str> = token.into();
        let renew_at = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        *slot = Some((token.clone(), renew_at));
        Ok(token)
    }

    /// Forgets `token` (the vendor refused it), unless a newer one replaced it already.
    async fn invalidate(&self, token: &str) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|(t, _)| &**t == token) {
            *slot = None;
        }
    }
}

/// `Retry-After` in seconds (the form the vendors use).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// What a non-success HTTP status means when the body said nothing more precise.
fn by_status(status: reqwest::StatusCode, retry: Option<Duration>, body: &str) -> PushError {
    let reason = format!("HTTP {status}: {}", truncate(body, 300));
    if status.as_u16() == 429 || status.is_server_error() {
        PushError::Retryable {
            reason,
            retry_after: retry,
        }
    } else {
        PushError::Rejected(reason)
    }
}

/// Sends a vendor request: its status, `Retry-After` and body text, or the
/// transport error (retryable). Every vendor's request ends here.
async fn reply(
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, Option<Duration>, String), PushError> {
    let resp = request.send().await.map_err(PushError::transport)?;
    let status = resp.status();
    let retry = retry_after(&resp);
    let text = resp.text().await.unwrap_or_default();
    Ok((status, retry, text))
}

/// Sends a vendor request and parses its JSON answer, with its text for
/// error messages. A transport error, a non-success status or a body that is
/// not JSON becomes the error the retry policy expects; `what` prefixes the
/// reason (e.g. `"auth: "`).
async fn json_reply(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<(serde_json::Value, String), PushError> {
    let (status, retry, text) = reply(request).await?;
    if !status.is_success() {
        return Err(by_status(status, retry, &format!("{what}{text}")));
    }
    let v = serde_json::from_str(&text)
        .map_err(|e| PushError::retry(format!("{what}answered non-JSON: {e}")))?;
    Ok((v, text))
}

/// At most `max` characters of `s`.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// `sent_at + lifetime` as seconds left from now, at least 1.
fn ttl_seconds(n: &Notification) -> i64 {
    ((n.expires_at_ms - missive_core::time::now_millis()) / 1000).max(1)
}
