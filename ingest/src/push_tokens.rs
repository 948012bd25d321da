//! Device tokens for offline push: registered and removed through the log
//! (`PushTokenRegistered` / `PushTokenRemoved`) and acknowledged once the
//! projector has applied them, so the push worker sees them at once.
//!
//! REST (`/v4/missive_push/set_token`, `delete_token`) calls these as the
//! administrator; a WebSocket session calls them as its own user.

use serde_json::Value;

use missive_core::{views, ApiError, ErrorCode};
use missive_schemas::{
    Event, PushPlatform, PushTokenRegistered, PushTokenRemovalReason, PushTokenRemoved,
};

use crate::changes::ChangePipeline;
use crate::rest::fields::Body;
use crate::send::{check_user_id, db_unavailable, Actor};

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
    pub user_id: String,
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

impl TokenRequest {
    /// Parses `{"From_Account", "DeviceId", "Platform", "Token"}`; `DeviceId`
    /// is required when `registering`.
    pub fn parse(
        body: &serde_json::Map<String, Value>,
        registering: bool,
    ) -> Result<Self, ApiError> {
        let code = ErrorCode::PushInvalidParameters;
        let body = Body::new(body);
        let user = body.string(&["From_Account"], code)?;
        check_user_id(user, "From_Account", code)?;
        let device = body.opt_string("DeviceId", code)?;
        let device = match device {
            None if registering => return Err(ApiError::new(code, "DeviceId is missing")),
            None => "",
            Some(d) => {
                if d.is_empty() || d.len() > MAX_DEVICE_ID_BYTES {
                    return Err(ApiError::new(
                        code,
                        format!("DeviceId must be 1 to {MAX_DEVICE_ID_BYTES} bytes long"),
                    ));
                }
                if let Some(c) = d.chars().find(|c| c.is_control()) {
                    return Err(ApiError::new(
                        code,
                        format!("DeviceId contains the control character {c:?}"),
                    ));
                }
                d
            }
        };
        let platform = body.string(&["Platform"], ErrorCode::PushPlatformInvalid)?;
        let platform = parse_platform(platform)?;
        let token = body.string(&["Token"], ErrorCode::PushTokenInvalid)?;
        check_token(platform, token)?;
        Ok(Self {
            user_id: user.to_owned(),
            device_id: device.to_owned(),
            platform,
            token: token.to_owned(),
        })
    }
}

/// Registers a device token; returns once the views include it.
pub async fn register(
    changes: &ChangePipeline,
    actor: &Actor,
    req: TokenRequest,
) -> Result<(), ApiError> {
    let event = Event::PushTokenRegistered(PushTokenRegistered {
        user_id: req.user_id,
        device_id: req.device_id,
        platform: req.platform,
        token: req.token,
    });
    changes.apply(actor, vec![event]).await
}

/// Removes a token registered to `req.user_id` (96004 if it is not); returns
/// once the views no longer hold it.
pub async fn unregister(
    changes: &ChangePipeline,
    pool: &deadpool_postgres::Pool,
    actor: &Actor,
    req: TokenRequest,
) -> Result<(), ApiError> {
    let platform = req.platform.symbol().to_ascii_lowercase();
    let client = pool.get().await.map_err(db_unavailable)?;
    let owner = views::push_token_owner(&client, &platform, &req.token)
        .await
        .map_err(db_unavailable)?;
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
        user_id: req.user_id,
        platform: req.platform,
        token: req.token,
        reason: PushTokenRemovalReason::Unregistered,
    });
    changes.apply(actor, vec![event]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value, registering: bool) -> Result<TokenRequest, u32> {
        TokenRequest::parse(v.as_object().unwrap(), registering).map_err(|e| e.code.code())
    }

    #[test]
    fn a_valid_request_parses() {
        let r = parse(
            json!({"From_Account": "bob", "DeviceId": "phone-1", "Platform": "apns", "Token": "ab12"}),
            true,
        )
        .unwrap();
        assert_eq!(r.platform, PushPlatform::Apns);
        assert_eq!(r.token, "ab12");
    }

    #[test]
    fn bad_input_has_precise_codes() {
        let ok = json!({"From_Account": "bob", "DeviceId": "d", "Platform": "fcm", "Token": "t:1"});
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        assert!(parse(ok.clone(), true).is_ok());
        assert_eq!(parse(with("From_Account", json!("a:b")), true), Err(96001));
        assert_eq!(parse(with("From_Account", json!(7)), true), Err(96001));
        assert_eq!(parse(with("DeviceId", Value::Null), true), Err(96001));
        assert!(parse(with("DeviceId", Value::Null), false).is_ok());
        assert_eq!(
            parse(with("Platform", json!("blackberry")), true),
            Err(96002)
        );
        assert_eq!(parse(with("Platform", json!("APNS")), true), Err(96002));
        assert_eq!(parse(with("Token", json!("")), true), Err(96003));
        assert_eq!(parse(with("Token", json!("has space")), true), Err(96003));
        assert_eq!(parse(with("Token", json!("t\u{0}")), true), Err(96003));
        assert_eq!(parse(with("DeviceId", json!("d\u{0}")), true), Err(96001));
        assert_eq!(
            parse(with("Token", json!("x".repeat(MAX_TOKEN_BYTES + 1))), true),
            Err(96003)
        );
        let apns = with("Platform", json!("apns"));
        let mut not_hex = apns.clone();
        not_hex["Token"] = json!("zz");
        assert_eq!(parse(not_hex, true), Err(96003));
    }
}
