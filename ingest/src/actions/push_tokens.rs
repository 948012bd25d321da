//! Device tokens for offline push: registered and removed through the log
//! (`PushTokenRegistered` / `PushTokenRemoved`) and acknowledged once the
//! projector has applied them, so the push worker sees them at once.
//!
//! REST (`/v4/missive_push/set_token`, `delete_token`) calls these as the
//! administrator; a WebSocket session calls them as its own user. The
//! request fields are parsed on the Tencent floor (`tencent/push_token.rs`).

use missive_core::{views, ApiError, ErrorCode, UserId};
use missive_schemas::{
    Event, PushPlatform, PushTokenRegistered, PushTokenRemovalReason, PushTokenRemoved,
};

use super::{Actions, Actor};

/// Longest token accepted (vendors' tokens are well under 1 KiB today).
pub const MAX_TOKEN_BYTES: usize = 4096;
pub const MAX_DEVICE_ID_BYTES: usize = 128;

/// The platforms, as clients spell them.
pub const PLATFORMS: [(&str, PushPlatform); 7] = [
    ("apns", PushPlatform::Apns),
    ("fcm", PushPlatform::Fcm),
    ("huawei", PushPlatform::Huawei),
    ("xiaomi", PushPlatform::Xiaomi),
    ("oppo", PushPlatform::Oppo),
    ("vivo", PushPlatform::Vivo),
    ("meizu", PushPlatform::Meizu),
];

/// A token to register or remove, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub user_id: UserId,
    /// Empty when removing (the device is not needed to name a token).
    pub device_id: String,
    pub platform: PushPlatform,
    pub token: String,
}

pub fn parse_platform(s: &str) -> Result<PushPlatform, ApiError> {
    PLATFORMS
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::PushPlatformInvalid,
                format!(
                    "Platform `{}` is not one of apns, fcm, huawei, xiaomi, oppo, vivo, meizu",
                    s.chars().take(32).collect::<String>()
                ),
            )
        })
}

/// Checks a token's shape for its platform.
pub fn check_token(platform: PushPlatform, token: &str) -> Result<(), ApiError> {
    let bad = |why: String| ApiError::new(ErrorCode::PushTokenInvalid, why);
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(bad(format!(
            "Token must be 1 to {MAX_TOKEN_BYTES} bytes long"
        )));
    }
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(bad(format!(
            "Token contains {c:?}; tokens are printable ASCII without spaces"
        )));
    }
    // APNs device tokens are hexadecimal (64 digits today; Apple warns the
    // length may grow).
    if platform == PushPlatform::Apns
        && (token.len() % 2 != 0 || !token.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(bad(
            "an APNs Token must be the device token in hexadecimal".into()
        ));
    }
    Ok(())
}

impl Actions {
    /// Registers a device token; returns once the views include it.
    pub async fn register_push_token(
        &self,
        actor: &Actor,
        req: TokenRequest,
    ) -> Result<(), ApiError> {
        let event = Event::PushTokenRegistered(PushTokenRegistered {
            user_id: req.user_id.into_string(),
            device_id: req.device_id,
            platform: req.platform,
            token: req.token,
        });
        self.changes.apply(actor, vec![event]).await
    }

    /// Removes a token registered to `req.user_id` (96004 if it is not); returns
    /// once the views no longer hold it.
    pub async fn remove_push_token(
        &self,
        actor: &Actor,
        req: TokenRequest,
    ) -> Result<(), ApiError> {
        let platform = req.platform.symbol().to_ascii_lowercase();
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let owner = views::push_token_owner(&client, &platform, &req.token)
            .await
            .map_err(ApiError::db_unavailable)?;
        drop(client);
        if owner.as_deref() != Some(req.user_id.as_str()) {
            return Err(ApiError::new(
                ErrorCode::PushTokenNotRegistered,
                format!(
                    "this {platform} token is not registered to `{}`",
                    req.user_id
                ),
            ));
        }
        let event = Event::PushTokenRemoved(PushTokenRemoved {
            user_id: req.user_id.into_string(),
            platform: req.platform,
            token: req.token,
            reason: PushTokenRemovalReason::Unregistered,
        });
        self.changes.apply(actor, vec![event]).await
    }
}
