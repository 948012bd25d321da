//! The account lifecycle APIs (issue #18): `im_open_login_svc/account_check`,
//! `account_delete` and `kick`, and the one-to-one global mute
//! `openconfigsvr/setnospeaking` / `getnospeaking`. Each change is an event
//! on the log (AccountDeleted, AccountKicked, NoSpeakingSet), answered once
//! the views include it.

use serde_json::{json, Map, Value};

use missive_core::views::{self, Lifecycle};
use missive_core::{time, ApiError, ErrorCode};
use missive_schemas::{AccountChange, Event, NoSpeakingSet};

use super::fields::Body;
use super::{admin_actor, db_unavailable, Admin, RestState};
use crate::send::check_user_id;

/// Most accounts one account_check or account_delete names (Tencent's limit).
const MAX_ITEMS: usize = 100;
/// `C2CmsgNospeakingTime` meaning "for ever".
const FOREVER: i64 = 4_294_967_295;

/// The user ids of `field` (`[{"UserID": ..}, ..]`), each checked.
fn user_items<'a>(body: &Body<'a>, field: &str) -> Result<Vec<&'a str>, ApiError> {
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
            check_user_id(id, &format!("{field}[{i}].UserID"), code)?;
            Ok(id)
        })
        .collect()
}

async fn lifecycles(state: &RestState, users: &[&str]) -> Result<Vec<Lifecycle>, ApiError> {
    let client = state.pool.get().await.map_err(db_unavailable)?;
    views::lifecycles(&client, users)
        .await
        .map_err(db_unavailable)
}

fn exists(l: &Lifecycle) -> bool {
    l.imported && !l.deleted
}

fn not_found(user: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AccountNotFound,
        format!("{user:?} is not an account: it was never imported, or was deleted"),
    )
}

/// One account id from `names` (`UserID`, or the older `Identifier`), checked.
fn one_user<'a>(body: &Body<'a>, names: &[&str]) -> Result<&'a str, ApiError> {
    let code = ErrorCode::AccountInvalidParameters;
    let user = body.string(names, code)?;
    check_user_id(user, names[0], code)?;
    Ok(user)
}

/// `account_check`: whether each account is imported.
pub(super) async fn account_check(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let users = user_items(body, "CheckItem")?;
    let states = lifecycles(state, &users).await?;
    let items: Vec<Value> = users
        .iter()
        .zip(&states)
        .map(|(u, l)| {
            json!({"UserID": u, "ResultCode": 0, "ResultInfo": "",
                "AccountStatus": if exists(l) { "Imported" } else { "NotImported" }})
        })
        .collect();
    let mut out = Map::new();
    out.insert("ResultItem".into(), Value::Array(items));
    Ok(out)
}

/// `account_delete`: each existing account is deleted (an AccountDeleted
/// event each); the others are listed with 70107.
pub(super) async fn account_delete(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let users = user_items(body, "DeleteItem")?;
    let states = lifecycles(state, &users).await?;
    let mut events = Vec::new();
    let mut items = Vec::new();
    for (u, l) in users.iter().zip(&states) {
        if exists(l) {
            events.push(Event::AccountDeleted(AccountChange {
                user_id: (*u).to_owned(),
            }));
            items.push(json!({"UserID": u, "ResultCode": 0, "ResultInfo": ""}));
        } else {
            let e = not_found(u);
            items.push(json!({"UserID": u, "ResultCode": e.code.code(), "ResultInfo": e.info}));
        }
    }
    state.changes.apply(&admin_actor(admin), events).await?;
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
    let l = lifecycles(state, &[user]).await?;
    if !l.first().is_some_and(exists) {
        return Err(not_found(user));
    }
    state
        .changes
        .apply(
            &admin_actor(admin),
            vec![Event::AccountKicked(AccountChange {
                user_id: user.to_owned(),
            })],
        )
        .await?;
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
        if let Some(v) = v.filter(|v| !(0..=FOREVER).contains(v)) {
            return Err(ApiError::new(
                code,
                format!("{name} is {v}; it must be between 0 and {FOREVER} seconds"),
            ));
        }
    }
    if c2c.is_none() && group.is_none() {
        return Err(ApiError::new(
            code,
            "set C2CmsgNospeakingTime (or GroupmsgNospeakingTime)",
        ));
    }
    let l = lifecycles(state, &[user]).await?;
    if !l.first().is_some_and(exists) {
        return Err(not_found(user));
    }
    if let Some(seconds) = c2c {
        // The end of the mute is decided here and recorded, so a replay
        // gives the same mute whenever it runs.
        let muted_until = match seconds {
            0 => 0,
            FOREVER => i64::MAX,
            s => time::now_millis().saturating_add(s.saturating_mul(1000)),
        };
        state
            .changes
            .apply(
                &admin_actor(admin),
                vec![Event::NoSpeakingSet(NoSpeakingSet {
                    user_id: user.to_owned(),
                    c2c_nospeaking_seconds: seconds,
                    muted_until,
                })],
            )
            .await?;
    }
    Ok(Map::new())
}

/// `getnospeaking`: the one-to-one mute as set (0 once it has run out).
pub(super) async fn getnospeaking(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let user = one_user(body, &["Get_Account"])?;
    let l = lifecycles(state, &[user]).await?;
    let Some(l) = l.first().filter(|l| exists(l)) else {
        return Err(not_found(user));
    };
    let c2c = if l.c2c_muted_until_ms > time::now_millis() {
        l.c2c_nospeaking_seconds
    } else {
        0
    };
    let mut out = Map::new();
    out.insert("C2CmsgNospeakingTime".into(), c2c.into());
    out.insert("GroupmsgNospeakingTime".into(), 0.into());
    Ok(out)
}
