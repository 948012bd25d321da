//! `/v4/sns/*`: friends, blocklists and friend requests, with Tencent's
//! per-item results. The changes are [`crate::actions::relationships`]; the
//! reads (friend_check, friend_get, friend_get_list, black_list_get,
//! black_list_check, friend_pendency_get) read the views here.

use serde_json::{json, Map, Value};

use missive_core::{views, ApiError, ErrorCode, UserId};

use super::{Admin, RestState};
use crate::actions::relationships::{
    AddMode, FriendEntry, FriendResponse, FriendUpdate, RelationshipChange,
};
use crate::actions::Outcome;
use crate::tencent::fields::Body;
use crate::tencent::message::user_list;
use crate::tencent::profile;
use crate::tencent::sns::{self as fields, item_result};

/// Most targets in one relationship request.
const MAX_TARGETS: usize = 1000;
const MAX_BLOCK_PAGE: i64 = 1000;
/// Most items in friend_update, friend_get_list and friend_response.
const MAX_ITEMS: usize = 100;
/// Friends in one friend_get page.
const FRIEND_PAGE: i64 = 500;
const MAX_PENDENCY_PAGE: i64 = 100;

fn from_account(body: &Body<'_>) -> Result<UserId, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = body.string(&["From_Account"], code)?;
    UserId::parse(from, "From_Account", code)
}

/// Applies `change` to every target (with the adder's `entries`, for adds)
/// and answers item by item.
async fn change(
    state: &RestState,
    admin: &Admin,
    from: &UserId,
    change: RelationshipChange,
    targets: &[UserId],
    entries: &[FriendEntry],
) -> Result<Map<String, Value>, ApiError> {
    let outcomes = state
        .actions
        .change_relationships(&admin.actor(), from, change, targets, entries)
        .await?;
    Ok(result_items(Some(change), targets, &outcomes))
}

/// Tencent's `ResultItem` list, with `Fail_Account` when an item failed.
fn result_items(
    change: Option<RelationshipChange>,
    targets: &[UserId],
    outcomes: &[Outcome],
) -> Map<String, Value> {
    let mut failed = Vec::new();
    let mut items = Vec::with_capacity(targets.len());
    for (to, outcome) in targets.iter().zip(outcomes) {
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
    out
}

/// The `AddFriendItem` list of friend_add and friend_import: the targets and
/// the adder's entry for each.
fn add_friend_items(
    body: &Body<'_>,
    import: bool,
) -> Result<(Vec<UserId>, Vec<FriendEntry>), ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
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
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let map = item
            .as_object()
            .ok_or_else(|| ApiError::new(code, format!("AddFriendItem[{i}] must be an object")))?;
        let b = Body::at(map, format!("AddFriendItem[{i}]"));
        let to = b.string(&["To_Account"], code)?;
        targets.push(UserId::parse(to, "To_Account", code)?);
        entries.push(fields::friend_entry(&b, import)?);
    }
    Ok((targets, entries))
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
    // Tencent: 1 adds whatever the target's AllowType (the administrator's force).
    let mode = match body.opt_i64("ForceAddFlags", code)? {
        None | Some(0) => AddMode::Request,
        Some(1) => AddMode::Force,
        Some(other) => {
            return Err(ApiError::new(
                code,
                format!("ForceAddFlags is {other}; it must be 0 or 1"),
            ))
        }
    };
    let (targets, entries) = add_friend_items(body, false)?;
    change(
        state,
        admin,
        &from,
        RelationshipChange::AddFriend { both, mode },
        &targets,
        &entries,
    )
    .await
}

/// One-way friends carried over from another system: no request, no notice.
pub(super) async fn friend_import(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let from = from_account(body)?;
    let (targets, entries) = add_friend_items(body, true)?;
    let import = RelationshipChange::AddFriend {
        both: false,
        mode: AddMode::Import,
    };
    change(state, admin, &from, import, &targets, &entries).await
}

pub(super) async fn friend_update(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let items = match body.get("UpdateItem") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_ITEMS => a,
        _ => {
            return Err(ApiError::new(
                code,
                format!("UpdateItem must be an array of 1 to {MAX_ITEMS} items"),
            ))
        }
    };
    let mut updates: Vec<(UserId, FriendUpdate)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let map = item
            .as_object()
            .ok_or_else(|| ApiError::new(code, format!("UpdateItem[{i}] must be an object")))?;
        let b = Body::at(map, format!("UpdateItem[{i}]"));
        let to = b.string(&["To_Account"], code)?;
        updates.push((
            UserId::parse(to, "To_Account", code)?,
            fields::friend_update(&b)?,
        ));
    }
    let outcomes = state
        .actions
        .update_friends(&admin.actor(), &from, &updates)
        .await?;
    let targets: Vec<UserId> = updates.into_iter().map(|(t, _)| t).collect();
    Ok(result_items(None, &targets, &outcomes))
}

/// A friend's standard and custom friend fields as Tencent lists them.
fn friend_fields(f: &views::FriendRow, tags: Option<&[&str]>) -> Vec<Value> {
    let standard = [
        fields::TAG_ADD_SOURCE,
        fields::TAG_REMARK,
        fields::TAG_GROUP,
        fields::TAG_ADD_WORDING,
        fields::TAG_ADD_TIME,
    ];
    let custom: Vec<&str> = f
        .custom
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let wanted: Vec<&str> = match tags {
        Some(t) => t.to_vec(),
        None => standard.iter().copied().chain(custom).collect(),
    };
    wanted
        .into_iter()
        .map(|tag| {
            let value = match tag {
                fields::TAG_ADD_SOURCE => json!(f.add_source),
                fields::TAG_REMARK => json!(f.remark),
                fields::TAG_GROUP => json!(f.groups),
                fields::TAG_ADD_WORDING => json!(f.add_wording),
                fields::TAG_ADD_TIME => json!(f.added_at_ms / 1000),
                _ => f.custom.get(tag).cloned().unwrap_or_else(|| json!("")),
            };
            json!({"Tag": tag, "Value": value})
        })
        .collect()
}

/// Every friend, page by page, with all their friend fields.
pub(super) async fn friend_get(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let start = body.i64("StartIndex", code)?;
    // missive does not version friend lists: every page carries the data.
    body.opt_i64("StandardSequence", code)?;
    body.opt_i64("CustomSequence", code)?;
    if start < 0 {
        return Err(ApiError::new(code, "StartIndex must be >= 0"));
    }
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let (page, total) = views::friend_page(&client, &from, start, FRIEND_PAGE)
        .await
        .map_err(ApiError::db_unavailable)?;
    let next = start + page.len() as i64;
    let complete = next >= total;
    let mut out = Map::new();
    out.insert(
        "UserDataItem".into(),
        Value::Array(
            page.iter()
                .map(|f| json!({"To_Account": f.friend_id, "ValueItem": friend_fields(f, None)}))
                .collect(),
        ),
    );
    out.insert("StandardSequence".into(), 0.into());
    out.insert("CustomSequence".into(), 0.into());
    out.insert("FriendNum".into(), total.into());
    out.insert("CompleteFlag".into(), u8::from(complete).into());
    out.insert(
        "NextStartIndex".into(),
        (if complete { 0 } else { next }).into(),
    );
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}

/// Chosen friends' friend fields (`Tag_SNS_*`) and profile tags (`Tag_Profile_*`).
pub(super) async fn friend_get_list(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let targets = user_list(body, "To_Account", MAX_ITEMS, code)?;
    let tags = match body.get("TagList") {
        Some(Value::Array(t)) if !t.is_empty() => t
            .iter()
            .map(|t| match t.as_str() {
                Some(s) if fields::is_friend_tag(s) || profile::is_profile_tag(s) => Ok(s),
                _ => Err(ApiError::new(
                    code,
                    format!("TagList holds {t}, which is neither a friend field nor a profile tag"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(ApiError::new(code, "TagList must be a non-empty array")),
    };
    let (sns_tags, profile_tags): (Vec<&str>, Vec<&str>) =
        tags.iter().copied().partition(|t| fields::is_friend_tag(t));
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let ids: Vec<&str> = targets.iter().map(UserId::as_str).collect();
    let friends = views::friends_among(&client, &from, &ids)
        .await
        .map_err(ApiError::db_unavailable)?;
    let profiles = views::profile_tags_of(&client, &ids)
        .await
        .map_err(ApiError::db_unavailable)?;
    let mut items = Vec::new();
    let mut failed = Vec::new();
    for to in &targets {
        match friends.get(to.as_str()) {
            Some(f) => {
                let mut values = friend_fields(f, Some(sns_tags.as_slice()));
                if let Some(p) = profiles.get(to.as_str()) {
                    values.extend(
                        profile_tags
                            .iter()
                            .map(|t| json!({"Tag": t, "Value": super::profile::tag_value(p, t)})),
                    );
                }
                items.push(json!({"To_Account": to.as_str(), "SnsProfileItem": values,
                    "ResultCode": 0, "ResultInfo": ""}));
            }
            None => {
                failed.push(to.as_str());
                items.push(json!({"To_Account": to.as_str(), "SnsProfileItem": [],
                    "ResultCode": ErrorCode::SnsInvalidRequest.code(),
                    "ResultInfo": "not in From_Account's friend list"}));
            }
        }
    }
    let mut out = Map::new();
    out.insert("InfoItem".into(), Value::Array(items));
    if !failed.is_empty() {
        out.insert("Fail_Account".into(), json!(failed));
    }
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}

/// missive's own (Tencent serves pending requests to its SDK only): the
/// requests `From_Account` received (`Pendency_Type_ComeIn`) or sent
/// (`Pendency_Type_SendOut`), oldest first, paged like black_list_get.
pub(super) async fn friend_pendency_get(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let incoming = match body.string(&["PendencyType"], code)? {
        "Pendency_Type_ComeIn" => true,
        "Pendency_Type_SendOut" => false,
        other => {
            return Err(ApiError::new(
                code,
                format!(
                    "PendencyType `{other}` must be Pendency_Type_ComeIn or Pendency_Type_SendOut"
                ),
            ))
        }
    };
    let start = body.opt_i64("StartIndex", code)?.unwrap_or(0);
    let limit = body
        .opt_i64("MaxLimited", code)?
        .unwrap_or(MAX_PENDENCY_PAGE);
    if start < 0 || !(1..=MAX_PENDENCY_PAGE).contains(&limit) {
        return Err(ApiError::new(
            code,
            format!("StartIndex must be >= 0 and MaxLimited between 1 and {MAX_PENDENCY_PAGE}"),
        ));
    }
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let mut page = views::friend_request_page(&client, &from, incoming, start, limit + 1)
        .await
        .map_err(ApiError::db_unavailable)?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let mut out = Map::new();
    out.insert(
        "PendencyItem".into(),
        Value::Array(
            page.iter()
                .map(|p| {
                    json!({"To_Account": p.other, "AddSource": p.add_source,
                        "AddWording": p.add_wording, "AddTime": p.requested_at_ms / 1000})
                })
                .collect(),
        ),
    );
    out.insert(
        "StartIndex".into(),
        (if more { start + limit } else { 0 }).into(),
    );
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}

/// missive's own: `From_Account` answers pending requests, item by item.
pub(super) async fn friend_response(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let items = match body.get("ResponseFriendItem") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_ITEMS => a,
        _ => {
            return Err(ApiError::new(
                code,
                format!("ResponseFriendItem must be an array of 1 to {MAX_ITEMS} items"),
            ))
        }
    };
    let mut answers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let map = item.as_object().ok_or_else(|| {
            ApiError::new(code, format!("ResponseFriendItem[{i}] must be an object"))
        })?;
        let b = Body::at(map, format!("ResponseFriendItem[{i}]"));
        let to = UserId::parse(b.string(&["To_Account"], code)?, "To_Account", code)?;
        let response = match b.string(&["ResponseAction"], code)? {
            "Response_Action_Agree" => FriendResponse::Agree,
            "Response_Action_AgreeAndAdd" => FriendResponse::AgreeAndAdd,
            "Response_Action_Reject" => FriendResponse::Reject,
            other => return Err(ApiError::new(
                code,
                format!("ResponseFriendItem[{i}].ResponseAction `{other}` must be Response_Action_Agree, Response_Action_AgreeAndAdd or Response_Action_Reject"),
            )),
        };
        answers.push((to, response));
    }
    let outcomes = state
        .actions
        .answer_friend_requests(&admin.actor(), &from, &answers)
        .await?;
    let targets: Vec<UserId> = answers.into_iter().map(|(t, _)| t).collect();
    Ok(result_items(None, &targets, &outcomes))
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
        &[],
    )
    .await
}

pub(super) async fn friend_check(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    check_relations(state, body, &FRIEND_CHECK).await
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
    change(state, admin, &from, kind, &targets, &[]).await
}

pub(super) async fn black_list_check(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    check_relations(state, body, &BLACK_LIST_CHECK).await
}

/// What `friend_check` and `black_list_check` differ in: Tencent's names,
/// and which relation each looks at.
struct RelationCheck {
    /// Prefix of the CheckType values and of the answers.
    prefix: &'static str,
    /// The answer when neither side holds the relation.
    none: &'static str,
    /// The key of the answer's list.
    items: &'static str,
    /// (From_Account holds it towards To_Account, To_Account towards From_Account).
    sides: fn(&views::Relationship) -> (bool, bool),
}

const FRIEND_CHECK: RelationCheck = RelationCheck {
    prefix: "CheckResult_Type_",
    none: "NoRelation",
    items: "InfoItem",
    sides: |r| (r.sender_lists_recipient, r.recipient_lists_sender),
};

const BLACK_LIST_CHECK: RelationCheck = RelationCheck {
    prefix: "BlackCheckResult_Type_",
    none: "NO",
    items: "BlackListCheckItem",
    sides: |r| (r.sender_blocks_recipient, r.recipient_blocks_sender),
};

async fn check_relations(
    state: &RestState,
    body: &Body<'_>,
    check: &RelationCheck,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let from = from_account(body)?;
    let targets = user_list(body, "To_Account", MAX_TARGETS, code)?;
    let prefix = check.prefix;
    let check_type = body.string(&["CheckType"], code)?;
    let both = match check_type.strip_prefix(prefix) {
        Some("Both") => true,
        Some("Single") => false,
        _ => {
            return Err(ApiError::new(
                code,
                format!("CheckType `{check_type}` must be {prefix}Both or {prefix}Single"),
            ))
        }
    };
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let ids: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
    let rels = views::relationships(&client, &from, &ids)
        .await
        .map_err(ApiError::db_unavailable)?;
    let items: Vec<Value> = targets
        .iter()
        .zip(rels)
        .map(|(to, rel)| {
            let (forward, backward) = (check.sides)(&rel);
            let relation = match (forward, both && backward) {
                (true, true) => "BothWay",
                (true, false) => "AWithB",
                (false, true) => "BWithA",
                (false, false) => check.none,
            };
            json!({"To_Account": to.as_str(), "Relation": format!("{prefix}{relation}"),
                "ResultCode": 0, "ResultInfo": ""})
        })
        .collect();
    let mut out = Map::new();
    out.insert(check.items.into(), Value::Array(items));
    out.insert("Fail_Account".into(), json!([]));
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
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
