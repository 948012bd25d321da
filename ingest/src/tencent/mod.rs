//! The Tencent floor: Tencent IM's request shapes and field rules, turned
//! into the actions' typed inputs. Every adapter that receives Tencent
//! fields (REST bodies, a device's `send` frame, the JSON a command carries
//! in `msg_body` / `offline_push_info`) parses them here, so each rule (a
//! field's error code, a size limit, a default) is written once.
//!
//! Imports only [`crate::actions`] (for the typed inputs) and core.

pub mod conversation;
pub mod fields;
pub mod message;
pub mod profile;
pub mod push_token;
pub mod sns;

use serde_json::{Map, Value};

use missive_core::{ApiError, ErrorCode};

/// A request body: a JSON object nested at most `max_depth` deep. Message
/// APIs answer 90001 when it is not, the others 60003.
pub fn parse_body(
    bytes: &[u8],
    is_msg_api: bool,
    max_depth: usize,
) -> Result<Map<String, Value>, ApiError> {
    let parse_code = if is_msg_api {
        ErrorCode::MsgJsonParse
    } else {
        ErrorCode::JsonParse
    };
    if missive_core::limits::json_too_deep(bytes, max_depth).is_some() {
        return Err(ApiError::new(
            parse_code,
            format!("the body nests arrays and objects more than {max_depth} deep"),
        ));
    }
    let json: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(parse_code, format!("the body is not valid JSON: {e}")))?;
    let Value::Object(map) = json else {
        return Err(ApiError::new(parse_code, "the body must be a JSON object"));
    };
    Ok(map)
}
