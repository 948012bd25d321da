//! `/v4/sns/*`: friends and blocklists, with Tencent's per-item results.
//! The changes are [`crate::actions::relationships`]; the checks (friend_check,
//! black_list_get) read the views here.

use serde_json::{json, Map, Value};

use missive_core::{views, ApiError, ErrorCode, UserId};

use super::{Admin, RestState};
use crate::actions::relationships::RelationshipChange;
use crate::tencent::fields::Body;
use crate::tencent::message::user_list;
use crate::tencent::sns::item_result;

/// Most targets in one relationship request.
const MAX_TARGETS: usize = 1000;
const MAX_BLOCK_PAGE: i64 = 1000;

fn from_account(body: &Body<'_>) -> Result<UserId, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = body.string(&["From_Account"], code)?;
    UserId::parse(from, "From_Account", code)
}

/// Applies `change` to every target and answers item by item.
async fn change(
    state: &RestState,
    admin: &Admin,
    from: &UserId,
    change: RelationshipChange,
    targets: &[UserId],
) -> Result<Map<String, Value>, ApiError> {
    let outcomes = state
        .actions
        .change_relationships(&admin.actor(), from, change, targets)
        .await?;
    let mut failed = Vec::new();
    let mut items = Vec::with_capacity(targets.len());
    for (to, outcome) in targets.iter().zip(&outcomes) {
        let (code, info) = item_result(change, outcome);
        if code != 0 {
            failed.push(to.as_str());
        }
        items.push(json!({"To_Account": to.as_str(), "ResultCode": code, "ResultInfo": info}));
    }
    let mut out = Map::new();
    if !failed.is_empty() {
        out.insert("Fail_Account".into(), json!(failed));
    }
    out.insert("ResultItem".into(), Value::Array(items));
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
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
        let to = UserId::parse(to, "To_Account", code)?;
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
        targets.push(to);
    }
    change(
        state,
        admin,
        &from,
        RelationshipChange::AddFriend { both },
        &targets,
    )
    .await
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
    change(
        state,
        admin,
        &from,
        RelationshipChange::DeleteFriend { both },
        &targets,
    )
    .await
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
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let mut items = Vec::new();
    let ids: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
    let rels = views::relationships(&client, &from, &ids)
        .await
        .map_err(ApiError::db_unavailable)?;
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
            json!({"To_Account": to.as_str(), "Relation": relation, "ResultCode": 0, "ResultInfo": ""}),
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
    let from = from_account(body)?;
    let targets = user_list(
        body,
        "To_Account",
        MAX_TARGETS,
        ErrorCode::SnsInvalidRequest,
    )?;
    let kind = if add {
        RelationshipChange::Block
    } else {
        RelationshipChange::Unblock
    };
    change(state, admin, &from, kind, &targets).await
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
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let mut page = views::block_page(&client, &from, start, limit + 1)
        .await
        .map_err(ApiError::db_unavailable)?;
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
