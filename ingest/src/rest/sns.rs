//! `/v4/sns/*`: friends and blocklists, with Tencent's per-item results.
//! Every item is checked against the views; the changes that pass are
//! appended together and answered once the views include them.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use missive_core::{views, ApiError, ErrorCode};
use missive_schemas::{BlockChange, Event, FriendChange};

use super::fields::Body;
use super::{admin_actor, db_unavailable, Admin, RestState};
use crate::send::{builtin, builtin_notice, check_user_id};

/// Item results that mean "already as asked": the commands topic counts them
/// as done, so a retried command is not dead-lettered.
pub(crate) const ALREADY_FRIENDS: &str = "Err_SNS_FriendAdd_Friend_Exist: already friends";
pub(crate) const ALREADY_BLOCKED: &str = "Err_SNS_BlackListAdd_Already_Exist: already blocked";
pub(crate) const NOT_BLOCKED: &str = "not in your blocklist";
pub(crate) const NOT_FRIENDS: &str = "not in your friend list";

/// Most targets in one relationship request.
const MAX_TARGETS: usize = 1000;
const MAX_BLOCK_PAGE: i64 = 1000;

/// A list of user ids in `field`, checked.
pub(super) fn user_list(
    body: &Body<'_>,
    field: &str,
    max: usize,
    code: ErrorCode,
) -> Result<Vec<String>, ApiError> {
    let items = match body.get(field) {
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ApiError::new(
                code,
                format!("{field} must be an array of user ids"),
            ))
        }
        None => return Err(ApiError::new(code, format!("{field} is missing"))),
    };
    if items.is_empty() || items.len() > max {
        return Err(ApiError::new(
            code,
            format!("{field} must hold 1 to {max} user ids"),
        ));
    }
    items
        .iter()
        .map(|v| {
            let id = v
                .as_str()
                .ok_or_else(|| ApiError::new(code, format!("{field} items must be strings")))?;
            check_user_id(id, field, code)?;
            Ok(id.to_owned())
        })
        .collect()
}

fn from_account<'a>(body: &Body<'a>) -> Result<&'a str, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = body.string(&["From_Account"], code)?;
    check_user_id(from, "From_Account", code)?;
    Ok(from)
}

struct ItemResult {
    to: String,
    code: u32,
    info: String,
}

fn results_reply(results: Vec<ItemResult>) -> Map<String, Value> {
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.code != 0)
        .map(|r| r.to.as_str())
        .collect();
    let mut out = Map::new();
    if !failed.is_empty() {
        out.insert("Fail_Account".into(), json!(failed));
    }
    out.insert(
        "ResultItem".into(),
        Value::Array(
            results
                .iter()
                .map(|r| json!({"To_Account": r.to, "ResultCode": r.code, "ResultInfo": r.info}))
                .collect(),
        ),
    );
    out.insert("ErrorDisplay".into(), "".into());
    out
}

/// Appends the accepted changes, waits for the views, answers per item.
async fn commit(
    state: &RestState,
    admin: &Admin,
    events: Vec<Event>,
    results: Vec<ItemResult>,
) -> Result<Map<String, Value>, ApiError> {
    state.changes.apply(&admin_actor(admin), events).await?;
    Ok(results_reply(results))
}

/// How `from` stands with each target, in one query.
async fn relationships_of(
    client: &deadpool_postgres::Client,
    from: &str,
    targets: &[String],
) -> Result<Vec<views::Relationship>, ApiError> {
    let ids: Vec<&str> = targets.iter().map(String::as_str).collect();
    views::relationships(client, from, &ids)
        .await
        .map_err(db_unavailable)
}

/// The per-target checks every change shares: each target once, never
/// oneself, and (when `must_exist`) an imported account.
fn refuse_target<'a>(
    to: &'a str,
    from: &str,
    seen: &mut HashSet<&'a str>,
    known: &HashSet<String>,
    must_exist: bool,
    self_action: &str,
) -> Option<ItemResult> {
    let code = ErrorCode::SnsInvalidRequest;
    if !seen.insert(to) {
        Some(fail(to, code, "listed more than once"))
    } else if to == from {
        Some(fail(to, code, &format!("cannot {self_action}")))
    } else if must_exist && !known.contains(to) {
        Some(fail(
            to,
            ErrorCode::SnsAccountNotFound,
            "account was never imported",
        ))
    } else {
        None
    }
}

fn fail(to: &str, code: ErrorCode, info: &str) -> ItemResult {
    ItemResult {
        to: to.to_owned(),
        code: code.code(),
        info: info.to_owned(),
    }
}

fn ok(to: &str) -> ItemResult {
    ItemResult {
        to: to.to_owned(),
        code: 0,
        info: String::new(),
    }
}

/// The accounts among `users`, and a 30003 error if `from` is not one.
async fn accounts(
    client: &deadpool_postgres::Client,
    from: &str,
    targets: &[String],
) -> Result<HashSet<String>, ApiError> {
    let mut ids: Vec<&str> = targets.iter().map(String::as_str).collect();
    ids.push(from);
    let known = views::accounts_among(client, &ids)
        .await
        .map_err(db_unavailable)?;
    if !known.contains(from) {
        return Err(ApiError::new(
            ErrorCode::SnsAccountNotFound,
            format!("account `{from}` was never imported"),
        ));
    }
    Ok(known)
}

pub(super) async fn friend_add(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let both = match body.opt_string("AddType", code)? {
        None | Some("Add_Type_Both") => true,
        Some("Add_Type_Single") => false,
        Some(other) => {
            return Err(ApiError::new(
                code,
                format!("AddType `{other}` must be Add_Type_Both or Add_Type_Single"),
            ))
        }
    };
    let items = match body.get("AddFriendItem") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_TARGETS => a,
        _ => {
            return Err(ApiError::new(
                code,
                format!("AddFriendItem must be an array of 1 to {MAX_TARGETS} items"),
            ))
        }
    };
    let mut targets = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let map = item
            .as_object()
            .ok_or_else(|| ApiError::new(code, format!("AddFriendItem[{i}] must be an object")))?;
        let b = Body::at(map, format!("AddFriendItem[{i}]"));
        let to = b.string(&["To_Account"], code)?;
        check_user_id(to, "To_Account", code)?;
        match b.opt_string("AddSource", code)? {
            Some(s) if s.starts_with("AddSource_Type_") => {}
            _ => {
                return Err(ApiError::new(
                    code,
                    format!(
                    "AddFriendItem[{i}].AddSource must be a string starting with AddSource_Type_"
                ),
                ))
            }
        }
        targets.push(to.to_owned());
    }
    let client = state.pool.get().await.map_err(db_unavailable)?;
    let known = accounts(&client, from, &targets).await?;
    let mut results = Vec::new();
    let mut events = Vec::new();
    let mut seen = HashSet::new();
    let rels = relationships_of(&client, from, &targets).await?;
    for (to, rel) in targets.iter().zip(rels) {
        if let Some(refused) = refuse_target(
            to,
            from,
            &mut seen,
            &known,
            true,
            "add yourself as a friend",
        ) {
            results.push(refused);
            continue;
        }
        if rel.sender_blocks_recipient {
            results.push(fail(
                to,
                ErrorCode::SnsInYourBlocklist,
                "the user is in your blocklist",
            ));
        } else if rel.recipient_blocks_sender {
            results.push(fail(
                to,
                ErrorCode::SnsInTheirBlocklist,
                "you are in the user's blocklist",
            ));
        } else if rel.sender_lists_recipient && (!both || rel.recipient_lists_sender) {
            results.push(fail(to, code, ALREADY_FRIENDS));
        } else {
            events.push(Event::FriendAdded(FriendChange {
                user_id: from.to_owned(),
                friend_id: to.clone(),
                both,
            }));
            // Both sides see "you are now friends" in their conversation.
            events.push(Event::MessageSent(Box::new(builtin_notice(
                from,
                to,
                builtin::FRIEND_ADDED,
                "",
                json!({"user": from, "friend": to, "both": both}),
            ))));
            results.push(ok(to));
        }
    }
    drop(client);
    commit(state, admin, events, results).await
}

pub(super) async fn friend_delete(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let targets = user_list(body, "To_Account", MAX_TARGETS, code)?;
    let both = match body.opt_string("DeleteType", code)? {
        None | Some("Delete_Type_Single") => false,
        Some("Delete_Type_Both") => true,
        Some(other) => {
            return Err(ApiError::new(
                code,
                format!("DeleteType `{other}` must be Delete_Type_Single or Delete_Type_Both"),
            ))
        }
    };
    let client = state.pool.get().await.map_err(db_unavailable)?;
    accounts(&client, from, &targets).await?;
    let mut results = Vec::new();
    let mut events = Vec::new();
    let rels = relationships_of(&client, from, &targets).await?;
    for (to, rel) in targets.iter().zip(rels) {
        let listed = rel.sender_lists_recipient || (both && rel.recipient_lists_sender);
        if !listed {
            results.push(fail(to, ErrorCode::SnsNotFriends, NOT_FRIENDS));
        } else {
            events.push(Event::FriendDeleted(FriendChange {
                user_id: from.to_owned(),
                friend_id: to.clone(),
                both,
            }));
            results.push(ok(to));
        }
    }
    drop(client);
    commit(state, admin, events, results).await
}

pub(super) async fn friend_check(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let targets = user_list(body, "To_Account", MAX_TARGETS, code)?;
    let both = match body.string(&["CheckType"], code)? {
        "CheckResult_Type_Both" => true,
        "CheckResult_Type_Single" => false,
        other => {
            return Err(ApiError::new(
                code,
                format!(
                    "CheckType `{other}` must be CheckResult_Type_Both or CheckResult_Type_Single"
                ),
            ))
        }
    };
    let client = state.pool.get().await.map_err(db_unavailable)?;
    let mut items = Vec::new();
    let rels = relationships_of(&client, from, &targets).await?;
    for (to, rel) in targets.iter().zip(rels) {
        let relation = match (
            rel.sender_lists_recipient,
            both && rel.recipient_lists_sender,
        ) {
            (true, true) => "CheckResult_Type_BothWay",
            (true, false) => "CheckResult_Type_AWithB",
            (false, true) => "CheckResult_Type_BWithA",
            (false, false) => "CheckResult_Type_NoRelation",
        };
        items.push(
            json!({"To_Account": to, "Relation": relation, "ResultCode": 0, "ResultInfo": ""}),
        );
    }
    let mut out = Map::new();
    out.insert("InfoItem".into(), Value::Array(items));
    out.insert("Fail_Account".into(), json!([]));
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}

pub(super) async fn black_list_add(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    change_blocks(state, admin, body, true).await
}

pub(super) async fn black_list_delete(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    change_blocks(state, admin, body, false).await
}

async fn change_blocks(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
    add: bool,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let targets = user_list(body, "To_Account", MAX_TARGETS, code)?;
    let client = state.pool.get().await.map_err(db_unavailable)?;
    let known = accounts(&client, from, &targets).await?;
    let mut results = Vec::new();
    let mut events = Vec::new();
    let mut seen = HashSet::new();
    let rels = relationships_of(&client, from, &targets).await?;
    for (to, rel) in targets.iter().zip(rels) {
        if let Some(refused) = refuse_target(to, from, &mut seen, &known, add, "block yourself") {
            results.push(refused);
            continue;
        }
        let blocked = rel.sender_blocks_recipient;
        let change = BlockChange {
            user_id: from.to_owned(),
            blocked_id: to.clone(),
        };
        match (add, blocked) {
            (true, true) => results.push(fail(to, code, ALREADY_BLOCKED)),
            (false, false) => results.push(fail(to, code, NOT_BLOCKED)),
            (true, false) => {
                events.push(Event::BlockAdded(change));
                results.push(ok(to));
            }
            (false, true) => {
                events.push(Event::BlockRemoved(change));
                results.push(ok(to));
            }
        }
    }
    drop(client);
    commit(state, admin, events, results).await
}

pub(super) async fn black_list_get(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let start = body.i64("StartIndex", code)?;
    let limit = body.i64("MaxLimited", code)?;
    body.i64("LastSequence", code)?;
    if start < 0 || !(1..=MAX_BLOCK_PAGE).contains(&limit) {
        return Err(ApiError::new(
            code,
            format!("StartIndex must be >= 0 and MaxLimited between 1 and {MAX_BLOCK_PAGE}"),
        ));
    }
    let client = state.pool.get().await.map_err(db_unavailable)?;
    let mut page = views::block_page(&client, from, start, limit + 1)
        .await
        .map_err(db_unavailable)?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let next = if more { start + limit } else { 0 };
    let mut out = Map::new();
    out.insert(
        "BlackListItem".into(),
        Value::Array(
            page.iter()
                .map(|(to, at)| json!({"To_Account": to, "AddBlackTimeStamp": at / 1000}))
                .collect(),
        ),
    );
    out.insert("StartIndex".into(), next.into());
    // Tencent's spelling.
    out.insert("CurruentSequence".into(), 0.into());
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}
