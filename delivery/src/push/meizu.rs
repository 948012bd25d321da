//! Meizu (Flyme) Push server API.
//!
//! Send: `POST {base}/garcia/api/server/push/varnished/pushByPushId`, form
//! `appId`, `pushIds`, `messageJson` and `sign` = hex MD5 of the other
//! parameters sorted by name as `k=v` concatenated, then the app secret. The
//! answer: `code` "200" on success; `value` maps error codes to the push ids
//! they concern ("110002": unsubscribed, "110003": illegal push id); "1003"
//! is "server busy"
//! (http://open-wiki.flyme.cn/doc-wiki/index#id?129 "Flyme推送服务端API").

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use missive_core::config::MeizuConfig;

use super::{json_reply, truncate, Notification, Platform, PushError};

pub struct Meizu {
    http: reqwest::Client,
    url: String,
    app_id: String,
    app_secret: SecretString,
}

impl Meizu {
    pub fn new(c: &MeizuConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            url: format!(
                "{}/garcia/api/server/push/varnished/pushByPushId",
                c.base_url.trim_end_matches('/')
            ),
            app_id: c.app_id.clone(),
            app_secret: c.app_secret.clone(),
        }
    }

    /// MD5 over `k=v` pairs sorted by key, then the secret.
    pub fn sign(params: &BTreeMap<&str, String>, app_secret: &str) -> String {
        let mut s = String::new();
        for (k, v) in params {
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s.push_str(app_secret);
        hex::encode(Md5::digest(s.as_bytes()))
    }

    pub fn message_json(n: &Notification) -> Value {
        let valid_hours =
            ((n.expires_at_ms - missive_core::time::now_millis()) / 3_600_000).clamp(1, 72);
        json!({
            "noticeBarInfo": {"noticeBarType": 0, "title": n.title, "content": n.body},
            // 0: open the app.
            "clickTypeInfo": {"clickType": 0, "parameters": n.data()},
            "pushTimeInfo": {"offLine": 1, "validTime": valid_hours},
        })
    }

    pub fn form(&self, n: &Notification, token: &str) -> BTreeMap<&'static str, String> {
        let mut params = BTreeMap::new();
        params.insert("appId", self.app_id.clone());
        params.insert("pushIds", token.to_owned());
        params.insert("messageJson", Self::message_json(n).to_string());
        let sign = Self::sign(&params, self.app_secret.expose_secret());
        params.insert("sign", sign);
        params
    }

    async fn send_one(&self, n: &Notification, token: &str) -> Result<(), PushError> {
        let (v, text) =
            json_reply(self.http.post(&self.url).form(&self.form(n, token)), "").await?;
        let code = match &v["code"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let listed = |c: &str| {
            v["value"][c]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i.as_str() == Some(token)))
        };
        if listed("110002") || listed("110003") {
            return Err(PushError::InvalidToken(format!(
                "push id listed under {}",
                if listed("110002") { "110002" } else { "110003" }
            )));
        }
        match code.as_str() {
            "200" => Ok(()),
            "1003" | "1001" => Err(PushError::Retryable {
                reason: format!("code {code}"),
                retry_after: None,
            }),
            _ => Err(PushError::Rejected(format!(
                "code {code}: {}",
                truncate(&text, 200)
            ))),
        }
    }
}

vendor!(Meizu, Platform::Meizu);
