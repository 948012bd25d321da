//! Xiaomi (Mi Push) server API.
//!
//! Send: `POST {base}/v3/message/regid`, form-encoded, `Authorization: key=<AppSecret>`,
//! fields `registration_id`, `restricted_package_name`, `pass_through=0`
//! (a notification), `title`, `description`, `payload`, `notify_type`,
//! `time_to_live` (ms), `extra.*`. The answer is JSON: `result` "ok" / `code` 0 on
//! success; invalid registration ids come back in `data.bad_regids` (or as
//! code 20301)
//! (https://dev.mi.com/console/doc/detail?pId=1163 "服务端API", https://dev.mi.com/console/doc/detail?pId=230).

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use missive_core::config::XiaomiConfig;

use super::{json_reply, truncate, Notification, Platform, PushError};

pub struct Xiaomi {
    http: reqwest::Client,
    url: String,
    package_name: String,
    app_secret: SecretString,
}

impl Xiaomi {
    pub fn new(c: &XiaomiConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            url: format!("{}/v3/message/regid", c.base_url.trim_end_matches('/')),
            package_name: c.package_name.clone(),
            app_secret: c.app_secret.clone(),
        }
    }

    pub fn form(&self, n: &Notification, token: &str) -> Vec<(String, String)> {
        let ttl_ms = (n.expires_at_ms - missive_core::time::now_millis()).max(1000);
        let mut f: Vec<(String, String)> = vec![
            ("registration_id".into(), token.into()),
            ("restricted_package_name".into(), self.package_name.clone()),
            ("pass_through".into(), "0".into()),
            ("title".into(), n.title.clone()),
            ("description".into(), n.body.clone()),
            ("payload".into(), Value::Object(n.data()).to_string()),
            // -1: the default sound, vibration and lights.
            ("notify_type".into(), "-1".into()),
            ("time_to_live".into(), ttl_ms.to_string()),
            // 1: open the app's launcher activity on tap.
            ("extra.notify_effect".into(), "1".into()),
        ];
        if !n.android_sound.is_empty() {
            f.push(("extra.sound_uri".into(), n.android_sound.clone()));
        }
        f
    }

    async fn send_one(&self, n: &Notification, token: &str) -> Result<(), PushError> {
        let (v, text) = json_reply(
            self.http
                .post(&self.url)
                .header(
                    "Authorization",
                    format!("key={}", self.app_secret.expose_secret()),
                )
                .form(&self.form(n, token)),
            "",
        )
        .await?;
        let code = v["code"].as_i64().unwrap_or(-1);
        let bad = v["data"]["bad_regids"].as_str().unwrap_or_default();
        if bad.split(',').any(|t| t == token) || code == 20301 {
            return Err(PushError::InvalidToken(format!(
                "code {code}: {}",
                v["description"].as_str().unwrap_or("bad registration id")
            )));
        }
        match code {
            0 => Ok(()),
            // 10000-range: Mi Push internal / busy.
            c if (10000..11000).contains(&c) => Err(PushError::Retryable {
                reason: format!("code {c}: {}", truncate(&text, 200)),
                retry_after: None,
            }),
            c => Err(PushError::Rejected(format!(
                "code {c}: {}",
                truncate(&text, 200)
            ))),
        }
    }
}

vendor!(Xiaomi, Platform::Xiaomi);
