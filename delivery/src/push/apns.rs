//! Apple Push Notification service, HTTP/2 provider API with token-based
//! authentication.
//!
//! Request: `POST {base}/3/device/{token}` over HTTP/2 with
//! `authorization: bearer <ES256 JWT {iss: team id, iat}, header kid>`,
//! `apns-topic`, `apns-push-type`, `apns-priority`, `apns-expiration`,
//! `apns-id`, `apns-collapse-id`; body `{"aps": {"alert": {...}, "badge", "sound"}, ...}`.
//! Docs: https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
//! and https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns
//! (the token must be refreshed at most every 20 and at least every 60 minutes).
//! Errors: https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use missive_core::config::ApnsConfig;

use super::{
    by_status, pem_bytes, reply, truncate, Notification, Platform, PushError, VendorSetupError,
};

/// A provider token is reused for this long (Apple: between 20 and 60 minutes).
const JWT_LIFETIME: Duration = Duration::from_secs(50 * 60);

pub struct Apns {
    http: reqwest::Client,
    base_url: String,
    team_id: String,
    key_id: String,
    bundle_id: String,
    key: EncodingKey,
    jwt: std::sync::Mutex<Option<(Arc<str>, Instant)>>,
}

impl Apns {
    pub fn new(c: &ApnsConfig, timeout: Duration) -> Result<Self, VendorSetupError> {
        let key = EncodingKey::from_ec_pem(&pem_bytes(&c.private_key)).map_err(|e| {
            VendorSetupError::Config {
                vendor: "apns",
                reason: format!("private_key is not a PKCS#8 EC key (.p8): {e}"),
            }
        })?;
        // APNs speaks HTTP/2 only; prior knowledge also lets tests use h2c on loopback.
        let http = reqwest::Client::builder()
            .http2_prior_knowledge()
            .timeout(timeout)
            .build()?;
        Ok(Self {
            http,
            base_url: c.base_url.trim_end_matches('/').to_owned(),
            team_id: c.team_id.clone(),
            key_id: c.key_id.clone(),
            bundle_id: c.bundle_id.clone(),
            key,
            jwt: std::sync::Mutex::new(None),
        })
    }

    /// The provider token, signed anew once it is older than `JWT_LIFETIME`.
    fn provider_token(&self) -> Result<Arc<str>, PushError> {
        let mut slot = self.jwt.lock().expect("jwt lock");
        if let Some((jwt, issued)) = slot.as_ref() {
            if issued.elapsed() < JWT_LIFETIME {
                return Ok(jwt.clone());
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = json!({"iss": self.team_id, "iat": missive_core::time::now_secs()});
        let jwt: Arc<str> = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| PushError::Rejected(format!("cannot sign the APNs token: {e}")))?
            .into();
        *slot = Some((jwt.clone(), Instant::now()));
        Ok(jwt)
    }

    fn forget_token(&self, jwt: &str) {
        let mut slot = self.jwt.lock().expect("jwt lock");
        if slot.as_ref().is_some_and(|(t, _)| &**t == jwt) {
            *slot = None;
        }
    }

    pub fn payload(n: &Notification) -> Value {
        let title = if n.apns_title.is_empty() {
            &n.title
        } else {
            &n.apns_title
        };
        let mut alert = json!({"title": title, "body": n.body});
        if !n.apns_subtitle.is_empty() {
            alert["subtitle"] = n.apns_subtitle.clone().into();
        }
        let sound = if n.apns_sound.is_empty() {
            "default"
        } else {
            &n.apns_sound
        };
        let mut aps = json!({"alert": alert, "sound": sound});
        if let Some(b) = n.badge {
            aps["badge"] = b.into();
        }
        if !n.apns_image.is_empty() {
            // A notification service extension downloads the image.
            aps["mutable-content"] = 1.into();
        }
        let mut body = json!({"aps": aps, "msg_key": n.msg_key, "conversation": n.conversation_id});
        if !n.apns_image.is_empty() {
            body["image"] = n.apns_image.clone().into();
        }
        if !n.ext.is_empty() {
            // Tencent IM's iOS payload carries OfflinePushInfo.Ext as `ext`.
            body["ext"] = n.ext.clone().into();
        }
        body
    }

    async fn send_one(&self, n: &Notification, token: &str) -> Result<(), PushError> {
        let jwt = self.provider_token()?;
        // The collapse id makes a repeated notification replace the first on the device.
        let collapse: String = n.msg_key.chars().take(64).collect();
        let (status, retry, text) = reply(
            self.http
                .post(format!("{}/3/device/{}", self.base_url, token))
                .header("authorization", format!("bearer {jwt}"))
                .header("apns-topic", &self.bundle_id)
                .header("apns-push-type", "alert")
                .header("apns-priority", "10")
                .header("apns-expiration", (n.expires_at_ms / 1000).to_string())
                .header("apns-id", n.request_id(token))
                .header("apns-collapse-id", collapse)
                .json(&Self::payload(n)),
        )
        .await?;
        if status.is_success() {
            return Ok(());
        }
        let reason = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        match (status.as_u16(), reason.as_str()) {
            (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
                Err(PushError::InvalidToken(format!("HTTP {status} {reason}")))
            }
            (403, "ExpiredProviderToken" | "InvalidProviderToken") => {
                self.forget_token(&jwt);
                Err(PushError::retry(format!("HTTP {status} {reason}")))
            }
            _ => Err(by_status(status, retry, truncate(&text, 200))),
        }
    }
}

vendor!(Apns, Platform::Apns);
