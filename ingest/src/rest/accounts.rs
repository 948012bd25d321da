//! `/v4/im_open_login_svc/*`: importing accounts.

use serde_json::{Map, Value};

use missive_core::{ApiError, ErrorCode};
use missive_schemas::{AccountImported, Event};

use super::fields::Body;
use super::{admin_actor, Admin, RestState};
use crate::send::check_user_id;

/// Longest nickname or avatar URL (Tencent's profile field limit).
const MAX_PROFILE_VALUE_BYTES: usize = 500;

/// Tencent's 500-byte limit on a profile value (40601).
pub(super) fn check_profile_value(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_PROFILE_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::ProfileValueTooLong,
            format!(
                "{field} is {} bytes; at most {MAX_PROFILE_VALUE_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(())
}
const MAX_BATCH_IMPORT: usize = 100;

pub(super) async fn account_import(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::AccountInvalidParameters;
    // Older documents call the field `Identifier`.
    let user = body.string(&["UserID", "Identifier"], code)?;
    check_user_id(user, "UserID", code)?;
    let nickname = body.opt_string("Nick", code)?.unwrap_or_default();
    let avatar_url = body.opt_string("FaceUrl", code)?.unwrap_or_default();
    check_profile_value("Nick", nickname)?;
    check_profile_value("FaceUrl", avatar_url)?;
    let event = Event::AccountImported(AccountImported {
        user_id: user.to_owned(),
        nickname: nickname.to_owned(),
        avatar_url: avatar_url.to_owned(),
    });
    state
        .changes
        .apply(&admin_actor(admin), vec![event])
        .await?;
    Ok(Map::new())
}

pub(super) async fn multiaccount_import(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::AccountInvalidParameters;
    let accounts = match body.get("Accounts") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ApiError::new(code, "Accounts must be an array of user ids")),
        None => return Err(ApiError::new(code, "Accounts is missing")),
    };
    if accounts.is_empty() || accounts.len() > MAX_BATCH_IMPORT {
        return Err(ApiError::new(
            code,
            format!("Accounts must hold 1 to {MAX_BATCH_IMPORT} user ids"),
        ));
    }
    let mut events = Vec::new();
    let mut failed = Vec::new();
    for a in accounts {
        match a.as_str() {
            Some(id) if check_user_id(id, "Accounts[]", code).is_ok() => {
                events.push(Event::AccountImported(AccountImported {
                    user_id: id.to_owned(),
                    nickname: String::new(),
                    avatar_url: String::new(),
                }))
            }
            _ => failed.push(a.clone()),
        }
    }
    state.changes.apply(&admin_actor(admin), events).await?;
    let mut out = Map::new();
    out.insert("FailAccounts".into(), Value::Array(failed));
    Ok(out)
}
