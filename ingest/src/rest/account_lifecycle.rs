//! The account lifecycle APIs (issue #18): `im_open_login_svc/account_check`,
//! `account_delete` and `kick`, and the one-to-one global mute
//! `openconfigsvr/setnospeaking` / `getnospeaking`. An adapter: the bodies
//! are parsed here, the changes are [`crate::actions`]' (each an event on
//! the log, answered once the views include it).

use serde_json::{json, Map, Value};

use missive_core::{ApiError, ErrorCode, UserId};

use super::fields::Body;
use super::{Admin, RestState};
use crate::actions::accounts::MUTE_FOREVER_SECONDS;
use crate::actions::Outcome;

/// Most accounts one account_check or account_delete names (Tencent's limit).
const MAX_ITEMS: usize = 100;

/// The user ids of `field` (`[{"UserID": ..}, ..]`), each checked.
fn user_items(body: &Body<'_>, field: &str) -> Result<Vec<UserId>, ApiError> {
    let code = ErrorCode::AccountInvalidParameters;
    let items = match body.get(field) {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_ITEMS => a,
        Some(Value::Array(_)) => {
            return Err(ApiError::new(
                code,
                format!("{field} must list 1 to {MAX_ITEMS} accounts"),
            ))
        }
        Some(_) => return Err(ApiError::new(code, format!("{field} must be an array"))),
        None => return Err(ApiError::new(code, format!("{field} is missing"))),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(obj) = item else {
                return Err(ApiError::new(
                    code,
                    format!("{field}[{i}] must be an object with UserID"),
                ));
            };
            let id = Body::at(obj, format!("{field}[{i}]")).string(&["UserID"], code)?;
            UserId::parse(id, &format!("{field}[{i}].UserID"), code)
        })
        .collect()
}

/// One account id from `names` (`UserID`, or the older `Identifier`), checked.
fn one_user(body: &Body<'_>, names: &[&str]) -> Result<UserId, ApiError> {
    let code = ErrorCode::AccountInvalidParameters;
    UserId::parse(body.string(names, code)?, names[0], code)
}

/// `account_check`: whether each account is imported.
pub(super) async fn account_check(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let users = user_items(body, "CheckItem")?;
    let exist = state.actions.accounts_exist(&users).await?;
    let items: Vec<Value> = users
        .iter()
        .zip(exist)
        .map(|(u, e)| {
            json!({"UserID": u.as_str(), "ResultCode": 0, "ResultInfo": "",
                "AccountStatus": if e { "Imported" } else { "NotImported" }})
        })
        .collect();
    let mut out = Map::new();
    out.insert("ResultItem".into(), Value::Array(items));
    Ok(out)
}

/// `account_delete`: each existing account is deleted; the others are
/// listed with 70107.
pub(super) async fn account_delete(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let users = user_items(body, "DeleteItem")?;
    let outcomes = state
        .actions
        .delete_accounts(&admin.actor(), &users)
        .await?;
    let items: Vec<Value> = users
        .iter()
        .zip(outcomes)
        .map(|(u, outcome)| match outcome {
            Outcome::Done | Outcome::AlreadyDone => {
                json!({"UserID": u.as_str(), "ResultCode": 0, "ResultInfo": ""})
            }
            Outcome::Refused(code, info) => {
                json!({"UserID": u.as_str(), "ResultCode": code.code(), "ResultInfo": info})
            }
        })
        .collect();
    let mut out = Map::new();
    out.insert("ResultItem".into(), Value::Array(items));
    Ok(out)
}

/// `kick`: closes every session of the account now and refuses the UserSigs
/// issued before (a new UserSig logs in again).
pub(super) async fn kick(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let user = one_user(body, &["UserID", "Identifier"])?;
    state.actions.kick(&admin.actor(), &user).await?;
    Ok(Map::new())
}

/// `setnospeaking`: `C2CmsgNospeakingTime` seconds of one-to-one mute (0
/// lifts it, 4294967295 is for ever). Group mutes are accepted and ignored:
/// missive has no groups.
pub(super) async fn setnospeaking(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::AccountInvalidParameters;
    let user = one_user(body, &["Set_Account"])?;
    let c2c = body.opt_i64("C2CmsgNospeakingTime", code)?;
    let group = body.opt_i64("GroupmsgNospeakingTime", code)?;
    for (name, v) in [
        ("C2CmsgNospeakingTime", c2c),
        ("GroupmsgNospeakingTime", group),
    ] {
        if let Some(v) = v.filter(|v| !(0..=MUTE_FOREVER_SECONDS).contains(v)) {
            return Err(ApiError::new(
                code,
                format!("{name} is {v}; it must be between 0 and {MUTE_FOREVER_SECONDS} seconds"),
            ));
        }
    }
    match (c2c, group) {
        (None, None) => Err(ApiError::new(
            code,
            "set C2CmsgNospeakingTime (or GroupmsgNospeakingTime)",
        )),
        (Some(seconds), _) => {
            let actions = &state.actions;
            actions
                .set_no_speaking(&admin.actor(), &user, seconds)
                .await?;
            Ok(Map::new())
        }
        // A group mute alone: still 70107 for an account that does not exist.
        (None, Some(_)) => {
            state.actions.no_speaking(&user).await?;
            Ok(Map::new())
        }
    }
}

/// `getnospeaking`: the one-to-one mute as set (0 once it has run out).
pub(super) async fn getnospeaking(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let user = one_user(body, &["Get_Account"])?;
    let c2c = state.actions.no_speaking(&user).await?;
    let mut out = Map::new();
    out.insert("C2CmsgNospeakingTime".into(), c2c.into());
    out.insert("GroupmsgNospeakingTime".into(), 0.into());
    Ok(out)
}
