//! Firebase Cloud Messaging, HTTP v1 API.
//!
//! Auth: OAuth 2.0 access token for a service account, obtained with a
//! RS256-signed JWT bearer grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`)
//! at the account's `token_uri`, scope `https://www.googleapis.com/auth/firebase.messaging`
//! (https://developers.google.com/identity/protocols/oauth2/service-account#httprest).
//! Send: `POST {base}/v1/projects/{project}/messages:send` with
//! `{"message": {"token", "notification", "data", "android", "apns"}}`
//! (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send).
//! Errors: 404 `UNREGISTERED` and a token-related `INVALID_ARGUMENT` mean the
//! token is invalid; 429 / 5xx are retried honouring `Retry-After`
//! (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use missive_core::config::FcmConfig;

use super::{
    by_status, json_reply, pem_bytes, reply, truncate, ttl_seconds, CachedToken, Notification,
    Platform, PushError, VendorSetupError,
};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

pub struct Fcm {
    http: reqwest::Client,
    send_url: String,
    token_uri: String,
    client_email: String,
    key: EncodingKey,
    token: CachedToken,
}

impl Fcm {
    pub fn new(c: &FcmConfig, http: reqwest::Client) -> Result<Self, VendorSetupError> {
        let key = EncodingKey::from_rsa_pem(&pem_bytes(&c.private_key)).map_err(|e| {
            VendorSetupError::Config {
                vendor: "fcm",
                reason: format!("private_key is not an RSA PEM key: {e}"),
            }
        })?;
        Ok(Self {
            http,
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                c.base_url.trim_end_matches('/'),
                c.project_id
            ),
            token_uri: c.token_uri.clone(),
            client_email: c.client_email.clone(),
            key,
            token: CachedToken::default(),
        })
    }

    async fn fetch_token(&self) -> Result<(String, Duration), PushError> {
        let now = missive_core::time::now_secs();
        let claims = json!({
            "iss": self.client_email, "scope": SCOPE, "aud": self.token_uri,
            "iat": now, "exp": now + 3600,
        });
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| PushError::Rejected(format!("cannot sign the FCM grant: {e}")))?;
        let (v, _) = json_reply(
            self.http.post(&self.token_uri).form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ]),
            "token endpoint: ",
        )
        .await?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| PushError::Rejected("token endpoint gave no access_token".into()))?;
        let lifetime = v["expires_in"].as_u64().unwrap_or(3600);
        Ok((token.to_owned(), Duration::from_secs(lifetime)))
    }

    pub fn payload(n: &Notification, token: &str) -> Value {
        let mut android_notification = json!({});
        if !n.android_sound.is_empty() {
            android_notification["sound"] = n.android_sound.clone().into();
        }
        let mut aps =
            json!({"sound": if n.apns_sound.is_empty() { "default" } else { &n.apns_sound }});
        if let Some(b) = n.badge {
            aps["badge"] = b.into();
        }
        json!({"message": {
            "token": token,
            "notification": {"title": n.title, "body": n.body},
            "data": n.data(),
            "android": {
                "priority": "high",
                "ttl": format!("{}s", ttl_seconds(n)),
                "collapse_key": n.msg_key,
                "notification": android_notification,
            },
            "apns": {
                "headers": {"apns-expiration": (n.expires_at_ms / 1000).to_string()},
                "payload": {"aps": aps},
            },
        }})
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
        if status.is_success() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let grpc = v["error"]["status"].as_str().unwrap_or_default();
        let fcm_code = v["error"]["details"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|d| d["errorCode"].as_str())
            .unwrap_or_default();
        let message = v["error"]["message"].as_str().unwrap_or_default();
        let about_token = text.contains("message.token")
            || message.to_ascii_lowercase().contains("registration token");
        match (status.as_u16(), grpc, fcm_code) {
            (_, _, "UNREGISTERED") | (404, "NOT_FOUND", _) => Err(PushError::InvalidToken(
                format!("HTTP {status} UNREGISTERED"),
            )),
            (400, "INVALID_ARGUMENT", _) if about_token => Err(PushError::InvalidToken(format!(
                "HTTP {status} INVALID_ARGUMENT: {}",
                truncate(message, 200)
            ))),
            (401, _, _) => {
                self.token.invalidate(&access).await;
                Err(PushError::retry(format!(
                    "HTTP {status}: access token refused"
                )))
            }
            _ => Err(by_status(status, retry, truncate(&text, 200))),
        }
    }
}

vendor!(Fcm, Platform::Fcm);
