//! OPPO Push (HeyTap) server API.
//!
//! Auth: `POST {base}/server/v1/auth`, form `app_key`, `timestamp` (ms) and
//! `sign` = hex SHA-256 of `app_key + timestamp + master_secret`; the answer's
//! `data.auth_token` is valid for 24 hours.
//! Send: `POST {base}/server/v1/message/notification/unicast` with header
//! `auth_token` and form field `message` = JSON `{"target_type": 2,
//! "target_value": <registration id>, "notification": {...}}`. `code` 0 is
//! success, 11 a refused auth token, 10000 an invalid registration id, -1/-2
//! busy or flow-controlled
//! (https://open.oppomobile.com/new/developmentDoc/info?id=11238).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use missive_core::config::OppoConfig;

use super::{json_reply, truncate, ttl_seconds, CachedToken, Notification, Platform, PushError};

pub struct Oppo {
    http: reqwest::Client,
    base_url: String,
    app_key: String,
    master_secret: SecretString,
    token: CachedToken,
}

impl Oppo {
    pub fn new(c: &OppoConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: c.base_url.trim_end_matches('/').to_owned(),
            app_key: c.app_key.clone(),
            master_secret: c.master_secret.clone(),
            token: CachedToken::default(),
        }
    }

    pub fn sign(app_key: &str, timestamp: &str, master_secret: &str) -> String {
        hex::encode(Sha256::digest(
            format!("{app_key}{timestamp}{master_secret}").as_bytes(),
        ))
    }

    async fn fetch_token(&self) -> Result<(String, Duration), PushError> {
        let timestamp = missive_core::time::now_millis().to_string();
        let sign = Self::sign(
            &self.app_key,
            &timestamp,
            self.master_secret.expose_secret(),
        );
        let (v, text) = json_reply(
            self.http
                .post(format!("{}/server/v1/auth", self.base_url))
                .form(&[
                    ("app_key", self.app_key.as_str()),
                    ("timestamp", timestamp.as_str()),
                    ("sign", sign.as_str()),
                ]),
            "auth: ",
        )
        .await?;
        match (v["code"].as_i64(), v["data"]["auth_token"].as_str()) {
            (Some(0), Some(t)) => Ok((t.to_owned(), Duration::from_secs(24 * 3600))),
            _ => Err(PushError::Rejected(format!(
                "auth: {}",
                truncate(&text, 200)
            ))),
        }
    }

    pub fn message(n: &Notification, token: &str) -> Value {
        json!({
            "target_type": 2,
            "target_value": token,
            "notification": {
                "title": n.title,
                "content": n.body,
                // 0: open the app's home page on tap.
                "click_action_type": 0,
                "action_parameters": Value::Object(n.data()).to_string(),
                "off_line": true,
                "off_line_ttl": ttl_seconds(n).min(10 * 86_400),
            }
        })
    }

    async fn send_one(&self, n: &Notification, token: &str) -> Result<(), PushError> {
        let auth = self.token.get(|| self.fetch_token()).await?;
        let message = Self::message(n, token).to_string();
        let (v, _) = json_reply(
            self.http
                .post(format!(
                    "{}/server/v1/message/notification/unicast",
                    self.base_url
                ))
                .header("auth_token", &*auth)
                .form(&[("message", message.as_str())]),
            "",
        )
        .await?;
        let code = v["code"].as_i64().unwrap_or(i64::MIN);
        let info = v["message"].as_str().unwrap_or_default();
        match code {
            0 => Ok(()),
            10000 => Err(PushError::InvalidToken(format!("code {code}: {info}"))),
            11 => {
                self.token.invalidate(&auth).await;
                Err(PushError::retry(format!("code {code}: auth token refused")))
            }
            -1 | -2 => Err(PushError::Retryable {
                reason: format!("code {code}: {info}"),
                retry_after: None,
            }),
            _ => Err(PushError::Rejected(format!("code {code}: {info}"))),
        }
    }
}

vendor!(Oppo, Platform::Oppo);
