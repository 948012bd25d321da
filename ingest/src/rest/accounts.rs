//! `/v4/im_open_login_svc/*`: importing accounts.

use serde_json::{Map, Value};

use missive_core::{ApiError, ErrorCode, UserId};

use super::{Admin, RestState};
use crate::actions::accounts::{check_profile_value, NewAccount};
use crate::tencent::fields::Body;

const MAX_BATCH_IMPORT: usize = 100;

pub(super) async fn account_import(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::AccountInvalidParameters;
    // Older documents call the field `Identifier`.
    let user = body.string(&["UserID", "Identifier"], code)?;
    let user = UserId::parse(user, "UserID", code)?;
    let nickname = body.opt_string("Nick", code)?.unwrap_or_default();
    let avatar_url = body.opt_string("FaceUrl", code)?.unwrap_or_default();
    check_profile_value("Nick", nickname)?;
    check_profile_value("FaceUrl", avatar_url)?;
    let account = NewAccount {
        user_id: user,
        nickname: nickname.to_owned(),
        avatar_url: avatar_url.to_owned(),
    };
    state
        .actions
        .import_accounts(&admin.actor(), vec![account])
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
    let mut new = Vec::new();
    let mut failed = Vec::new();
    for a in accounts {
        match a.as_str().map(|id| UserId::parse(id, "Accounts[]", code)) {
            Some(Ok(user_id)) => new.push(NewAccount {
                user_id,
                nickname: String::new(),
                avatar_url: String::new(),
            }),
            _ => failed.push(a.clone()),
        }
    }
    state.actions.import_accounts(&admin.actor(), new).await?;
    let mut out = Map::new();
    out.insert("FailAccounts".into(), Value::Array(failed));
    Ok(out)
}
