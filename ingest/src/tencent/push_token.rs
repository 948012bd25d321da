//! The push-token request fields (`/v4/missive_push/*` and the WebSocket
//! `push_token` request share them): `From_Account`, `DeviceId`, `Platform`,
//! `Token`.

use serde_json::Value;

use missive_core::{ApiError, ErrorCode, UserId};

use super::fields::Body;
use crate::actions::push_tokens::{check_token, parse_platform, TokenRequest, MAX_DEVICE_ID_BYTES};

/// Parses `{"From_Account", "DeviceId", "Platform", "Token"}`; `DeviceId`
/// is required when `registering`.
pub fn parse_token_request(
    body: &serde_json::Map<String, Value>,
    registering: bool,
) -> Result<TokenRequest, ApiError> {
    let code = ErrorCode::PushInvalidParameters;
    let body = Body::new(body);
    let user = body.string(&["From_Account"], code)?;
    let user = UserId::parse(user, "From_Account", code)?;
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
    Ok(TokenRequest {
        user_id: user,
        device_id: device.to_owned(),
        platform,
        token: token.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::push_tokens::MAX_TOKEN_BYTES;
    use missive_schemas::PushPlatform;
    use serde_json::json;

    fn parse(v: Value, registering: bool) -> Result<TokenRequest, u32> {
        parse_token_request(v.as_object().unwrap(), registering).map_err(|e| e.code.code())
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
