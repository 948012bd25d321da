//! vivo Push server API (v2.9.x).
//!
//! Auth: `POST {base}/message/auth`, JSON `{appId, appKey, timestamp, sign}` with
//! `sign` = lower-case hex MD5 of `appId + appKey + timestamp + appSecret`; the
//! answer's `authToken` is valid for one day.
//! Send: `POST {base}/message/send` with header `authToken` and JSON `{appId,
//! regId, notifyType, title, content, timeToLive, skipType, requestId,
//! clientCustomMap}`. `result` 0 is success; 10302 means the regId is invalid,
//! 10000 / 10050 an auth token that is missing or expired, 10070 over quota
//! (https://dev.vivo.com.cn/documentCenter/doc/362).

use std::time::Duration;

use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use missive_core::config::VivoConfig;

use super::notification::cut;
use super::{json_reply, truncate, ttl_seconds, CachedToken, Notification, Platform, PushError};

pub struct Vivo {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_key: String,
    app_secret: SecretString,
    token: CachedToken,
}

impl Vivo {
    pub fn new(c: &VivoConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: c.base_url.trim_end_matches('/').to_owned(),
            app_id: c.app_id.clone(),
            app_key: c.app_key.clone(),
            app_secret: c.app_secret.clone(),
            token: CachedToken::default(),
        }
    }

    pub fn sign(app_id: &str, app_key: &str, timestamp: &str, app_secret: &str) -> String {
        hex::encode(Md5::digest(
            format!("{app_id}{app_key}{timestamp}{app_secret}").as_bytes(),
        ))
    }

    async fn fetch_token(&self) -> Result<(String, Duration), PushError> {
        let timestamp = missive_core::time::now_millis().to_string();
        let sign = Self::sign(
            &self.app_id,
            &self.app_key,
            &timestamp,
            self.app_secret.expose_secret(),
        );
        let (v, text) = json_reply(
            self.http
                .post(format!("{}/message/auth", self.base_url))
                .json(&json!({
                    "appId": self.app_id, "appKey": self.app_key,
                    "timestamp": timestamp, "sign": sign,
                })),
            "auth: ",
        )
        .await?;
        match (v["result"].as_i64(), v["authToken"].as_str()) {
            (Some(0), Some(t)) => Ok((t.to_owned(), Duration::from_secs(24 * 3600))),
            _ => Err(PushError::Rejected(format!(
                "auth: {}",
                truncate(&text, 200)
            ))),
        }
    }

    pub fn body(&self, n: &Notification, token: &str) -> Value {
        json!({
            "appId": self.app_id,
            "regId": token,
            // 4: sound and vibration.
            "notifyType": 4,
            // vivo's limits: a title of 20 and a content of 50 Chinese characters.
            "title": cut(&n.title, 20),
            "content": cut(&n.body, 50),
            // vivo accepts 900 s to 7 days.
            "timeToLive": ttl_seconds(n).clamp(900, 7 * 86_400),
            // 1: open the app's home page.
            "skipType": 1,
            "requestId": n.request_id(token),
            "clientCustomMap": n.data(),
        })
    }

    async fn send_one(&self, n: &Notification, token: &str) -> Result<(), PushError> {
        let auth = self.token.get(|| self.fetch_token()).await?;
        let (v, _) = json_reply(
            self.http
                .post(format!("{}/message/send", self.base_url))
                .header("authToken", &*auth)
                .json(&self.body(n, token)),
            "",
        )
        .await?;
        let code = v["result"].as_i64().unwrap_or(i64::MIN);
        let info = v["desc"].as_str().unwrap_or_default();
        match code {
            0 => Ok(()),
            10302 => Err(PushError::InvalidToken(format!("result {code}: {info}"))),
            10000 | 10050 => {
                self.token.invalidate(&auth).await;
                Err(PushError::retry(format!(
                    "result {code}: auth token refused"
                )))
            }
            _ => Err(PushError::Rejected(format!("result {code}: {info}"))),
        }
    }
}

vendor!(Vivo, Platform::Vivo);
