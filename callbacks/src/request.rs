//! One callback request: `POST <url>?SdkAppid=..&CallbackCommand=..&contenttype=json&ClientIP=..&OptPlatform=..`
//! (plus `RequestTime` and `Sign` when a token is configured), a JSON body,
//! and the app server's `{ActionStatus, ErrorCode, ErrorInfo, ...}` answer.

use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};

use missive_core::Config;

/// The header that carries the id of the event a callback reports, for the
/// app server to de-duplicate retries on (also in the body as `EventId`).
pub const EVENT_ID_HEADER: &str = "X-Missive-Event-Id";

/// Tencent's callback signature: lowercase hex SHA-256 of the token followed
/// by the request time (Unix seconds, as written in `RequestTime`).
pub fn sign(token: &str, request_time: i64) -> String {
    let mut h = Sha256::new();
    h.update(token.as_bytes());
    h.update(request_time.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Why a callback got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("the request failed: {0}")]
    Transport(String),
    #[error("the app server answered HTTP {0}")]
    Status(u16),
    #[error("the answer is not Tencent's callback JSON: {0}")]
    BadAnswer(String),
}

/// The app server's answer, as Tencent defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub action_status: String,
    pub error_code: i64,
    pub error_info: String,
    /// The whole JSON object (before-send rewrites read `MsgBody` and `CloudCustomData`).
    pub json: serde_json::Map<String, Value>,
}

/// Posts callbacks to the configured URL.
#[derive(Clone)]
pub struct CallbackClient {
    http: reqwest::Client,
    url: Url,
    sdkappid: u64,
    token: Option<SecretString>,
    timeout: Duration,
}

impl CallbackClient {
    /// A client for `config.callbacks.url`, or `None` when no URL is set or it does not parse.
    pub fn new(config: &Config, timeout: Duration) -> Option<Self> {
        let raw = config.callbacks.url.trim();
        if raw.is_empty() {
            return None;
        }
        let url = match Url::parse(raw) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "callbacks.url does not parse; callbacks are off");
                return None;
            }
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .ok()?;
        Some(Self {
            http,
            url,
            sdkappid: config.sdkappid,
            token: config
                .callbacks
                .token
                .clone()
                .filter(|t| !t.expose_secret().is_empty()),
            timeout,
        })
    }

    /// The request URL: the configured one plus Tencent's query fields.
    pub fn url_for(&self, command: &str, client_ip: &str, platform: &str, now_secs: i64) -> Url {
        let mut url = self.url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("SdkAppid", &self.sdkappid.to_string())
                .append_pair("CallbackCommand", command)
                .append_pair("contenttype", "json")
                .append_pair("ClientIP", client_ip)
                .append_pair("OptPlatform", platform);
            if let Some(token) = &self.token {
                q.append_pair("RequestTime", &now_secs.to_string())
                    .append_pair("Sign", &sign(token.expose_secret(), now_secs));
            }
        }
        url
    }

    /// Posts `body` for `command` and reads the answer. HTTP errors, time-outs
    /// and answers that are not Tencent's JSON are errors; what the answer's
    /// `ErrorCode` means is the caller's to judge.
    pub async fn post(
        &self,
        command: &str,
        client_ip: &str,
        platform: &str,
        body: &Value,
        event_id: Option<&str>,
    ) -> Result<Answer, CallError> {
        let url = self.url_for(
            command,
            client_ip,
            platform,
            missive_core::time::now_secs() as i64,
        );
        let mut req = self.http.post(url).json(body);
        if let Some(id) = event_id {
            req = req.header(EVENT_ID_HEADER, id);
        }
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CallError::Status(status.as_u16()));
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(CallError::BadAnswer("not a JSON object".into()));
        };
        let error_code = json
            .get("ErrorCode")
            .and_then(Value::as_i64)
            .ok_or_else(|| CallError::BadAnswer("ErrorCode missing or not an integer".into()))?;
        Ok(Answer {
            action_status: json
                .get("ActionStatus")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            error_code,
            error_info: json
                .get("ErrorInfo")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            json,
        })
    }

    fn transport(&self, e: reqwest::Error) -> CallError {
        if e.is_timeout() {
            CallError::Timeout(self.timeout.as_millis() as u64)
        } else {
            CallError::Transport(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_sha256_of_token_and_time() {
        // sha256("secret1700000000")
        let expected = hex::encode(Sha256::digest(b"secret1700000000"));
        assert_eq!(sign("secret", 1_700_000_000), expected);
        assert_ne!(sign("secret", 1_700_000_001), expected);
    }

    #[test]
    fn the_url_carries_tencents_query_fields_and_the_signature() {
        let mut config = Config::default();
        config.callbacks.url = "http://127.0.0.1:9/cb?app=1".into();
        config.callbacks.token = Some("tok".to_owned().into());
        let client = CallbackClient::new(&config, Duration::from_secs(1)).unwrap();
        let url = client.url_for("C2C.CallbackAfterSendMsg", "", "RESTAPI", 1_700_000_000);
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("app"), Some("1"), "the configured query is kept");
        assert_eq!(get("SdkAppid"), Some("1400000000"));
        assert_eq!(get("CallbackCommand"), Some("C2C.CallbackAfterSendMsg"));
        assert_eq!(get("contenttype"), Some("json"));
        assert_eq!(get("OptPlatform"), Some("RESTAPI"));
        assert_eq!(get("RequestTime"), Some("1700000000"));
        assert_eq!(get("Sign"), Some(sign("tok", 1_700_000_000).as_str()));
        config.callbacks.token = None;
        let unsigned = CallbackClient::new(&config, Duration::from_secs(1)).unwrap();
        let url = unsigned.url_for("C2C.CallbackAfterSendMsg", "", "RESTAPI", 1);
        assert!(!url.query().unwrap().contains("Sign="));
    }
}
