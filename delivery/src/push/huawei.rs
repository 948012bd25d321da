//! Huawei Push Kit, server API v1.
//!
//! Auth: OAuth 2.0 client credentials at `oauth2/v3/token`
//! (https://developer.huawei.com/consumer/en/doc/HMSCore-Guides/open-platform-oauth-0000001053629189).
//! Send: `POST {base}/v1/{appId}/messages:send`, `Authorization: Bearer`,
//! `{"validate_only": false, "message": {"notification", "android", "data", "token": [..]}}`;
//! the answer's `code` is "80000000" on success, "80300007" when the token is
//! invalid ("80100000" when some tokens are), "80200001"/"80200003" when the
//! access token was refused
//! (https://developer.huawei.com/consumer/en/doc/HMSCore-References/https-send-api-0000001050986197).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use missive_core::config::HuaweiConfig;

use super::{
    by_status, json_reply, reply, truncate, ttl_seconds, CachedToken, Notification, Platform,
    PushError,
};

pub struct Huawei {
    http: reqwest::Client,
    send_url: String,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    token: CachedToken,
}

impl Huawei {
    pub fn new(c: &HuaweiConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            send_url: format!(
                "{}/v1/{}/messages:send",
                c.base_url.trim_end_matches('/'),
                c.app_id
            ),
            token_url: c.token_url.clone(),
            client_id: if c.client_id.is_empty() {
                c.app_id.clone()
            } else {
                c.client_id.clone()
            },
            client_secret: c.client_secret.clone(),
            token: CachedToken::default(),
        }
    }

    async fn fetch_token(&self) -> Result<(String, Duration), PushError> {
        let (v, _) = json_reply(
            self.http.post(&self.token_url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
            ]),
            "token endpoint: ",
        )
        .await?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| PushError::Rejected("token endpoint gave no access_token".into()))?;
        Ok((
            token.to_owned(),
            Duration::from_secs(v["expires_in"].as_u64().unwrap_or(3600)),
        ))
    }

    pub fn payload(n: &Notification, token: &str) -> Value {
        let mut notification = json!({
            "title": n.title, "body": n.body,
            // 3: open the app's launch activity.
            "click_action": {"type": 3},
        });
        if n.android_sound.is_empty() {
            notification["default_sound"] = true.into();
        } else {
            notification["sound"] = n.android_sound.clone().into();
        }
        json!({
            "validate_only": false,
            "message": {
                "data": Value::Object(n.data()).to_string(),
                "notification": {"title": n.title, "body": n.body},
                "android": {
                    "urgency": "HIGH",
                    "ttl": format!("{}s", ttl_seconds(n)),
                    "bi_tag": n.msg_key,
                    "notification": notification,
                },
                "token": [token],
            }
        })
    }

    async fn send_one(&self, n: &Notification, token: &str) -> Result<(), PushError> {
        let access = self.token.get(|| self.fetch_token()).await?;
        let (status, retry, text) = reply(
            self.http
                .post(&self.send_url)
                .bearer_auth(&*access)
                .json(&Self::payload(n, token)),
        )
        .await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = v["code"].as_str().unwrap_or_default();
        match code {
            "80000000" => Ok(()),
            "80300007" | "80100000" => Err(PushError::InvalidToken(format!(
                "code {code}: {}",
                v["msg"].as_str().unwrap_or_default()
            ))),
            "80200001" | "80200003" => {
                self.token.invalidate(&access).await;
                Err(PushError::retry(format!(
                    "code {code}: access token refused"
                )))
            }
            // 81000001: internal error; 80300008 / flow control: throttled.
            "81000001" | "80300008" => Err(PushError::Retryable {
                reason: format!("code {code}"),
                retry_after: retry,
            }),
            _ if status.is_success() => Err(PushError::Rejected(format!(
                "code {code}: {}",
                truncate(&text, 200)
            ))),
            _ => Err(by_status(status, retry, &text)),
        }
    }
}

vendor!(Huawei, Platform::Huawei);
