//! `/v4/openim/*`: one-to-one messages.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use missive_core::msgbody::{self, Sender};
use missive_core::{views, ApiError, ErrorCode, UserId};
use missive_schemas::{conversation_id, ImportMode};

use super::{Admin, RestState};
use crate::actions::send::{SendRequest, MAX_BATCH_RECIPIENTS};
use crate::tencent::fields::Body;
use crate::tencent::message::{check_body_size, parse_message, parties, sender};

/// Tencent's `sendmsg`: the administrator sends as `From_Account` (or as
/// itself). As in Tencent IM, REST sends skip relationship checks and are
/// recorded as admin sends.
pub(crate) async fn sendmsg(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let req = parse_send(admin, body)?;
    let receipt = state.actions.sends.send(&admin.actor(), req).await?;
    let mut out = Map::new();
    out.insert("MsgTime".into(), receipt.msg_time.into());
    out.insert("MsgKey".into(), receipt.msg_key.into());
    Ok(out)
}

/// A `sendmsg` body as the administrator's send.
pub(crate) fn parse_send(admin: &Admin, body: &Body<'_>) -> Result<SendRequest, ApiError> {
    let from = sender(body, &admin.identifier)?;
    let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    let fields = parse_message(body, Sender::Admin)?;
    let (from, to) = parties(from, to)?;
    Ok(SendRequest {
        dedupe_second: Some(now_secs()),
        ..fields.request(from, to)
    })
}

/// The Unix second a REST send arrived in: without `MsgSeq`, it is a retry
/// only within this second (Tencent's rule).
fn now_secs() -> i64 {
    missive_core::time::now_secs() as i64
}

/// Tencent's `batchsendmsg`: one message to up to 500 users, with no
/// relationship checks. Every recipient's copy shares one MsgKey; a failure
/// for one recipient is listed in `ErrorList` and does not stop the others.
pub(crate) async fn batchsendmsg(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let recipients = match body.get("To_Account") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) | None => {
            return Err(ApiError::new(
                ErrorCode::ToAccountInvalid,
                "To_Account must list at least one user",
            ))
        }
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::ToAccountInvalid,
                "To_Account must be an array",
            ))
        }
    };
    if recipients.len() > MAX_BATCH_RECIPIENTS {
        return Err(ApiError::new(
            ErrorCode::TooManyRecipients,
            format!(
                "To_Account lists {} users; at most {MAX_BATCH_RECIPIENTS}",
                recipients.len()
            ),
        ));
    }
    // Every field but the recipient is checked once; the pipeline sets `to`
    // per copy.
    let from = sender(body, &admin.identifier)?;
    let fields = parse_message(body, Sender::Admin)?;
    let from = UserId::parse(from, "From_Account", ErrorCode::FromAccountInvalid)?;
    // One second for every copy, so they share one MsgKey.
    let template = SendRequest {
        dedupe_second: Some(now_secs()),
        ..fields.request(from.clone(), from)
    };
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    for r in recipients {
        match r
            .as_str()
            .map(|to| UserId::parse(to, "To_Account", ErrorCode::ToAccountInvalid))
        {
            Some(Ok(to)) => valid.push(to),
            _ => errors
                .push(json!({"To_Account": r, "ErrorCode": ErrorCode::ToAccountInvalid.code()})),
        }
    }
    let receipt = state
        .actions
        .sends
        .send_batch(&admin.actor(), template, valid)
        .await;
    for (to, code) in receipt.refused {
        errors.push(json!({"To_Account": to.as_str(), "ErrorCode": code.code()}));
    }
    let Some(key) = receipt.msg_key else {
        return Err(ApiError::new(
            ErrorCode::ToAccountInvalid,
            format!("the message reached no recipient: {}", Value::Array(errors)),
        ));
    };
    let mut out = Map::new();
    out.insert("MsgKey".into(), key.into());
    if !errors.is_empty() {
        out.insert("ErrorList".into(), Value::Array(errors));
    }
    Ok(out)
}

/// How far in the future an imported message's time may lie (clock skew).
const MAX_IMPORT_SKEW_SECS: i64 = 300;

/// Tencent's `importmsg`: brings a message over from an old system at its
/// original time. `SyncFromOldSystem` 5 (real time; 1 in Tencent's older
/// documents) counts as unread and reaches online devices; 2 (history) only
/// lands in history.
pub(super) async fn importmsg(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let import_mode = match body.opt_i64("SyncFromOldSystem", ErrorCode::ImportModeInvalid)? {
        Some(1 | 5) => ImportMode::Realtime,
        Some(2) => ImportMode::History,
        Some(v) => {
            return Err(ApiError::new(
                ErrorCode::ImportModeInvalid,
                format!(
                    "SyncFromOldSystem is {v}; it must be 5 (real time; 1 also), or 2 (history)"
                ),
            ))
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::ImportModeInvalid,
                "SyncFromOldSystem is missing",
            ))
        }
    };
    let from = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    let time = body.i64("MsgTimeStamp", ErrorCode::MsgTimeStampInvalid)?;
    let now = missive_core::time::now_secs() as i64;
    if time <= 0 || time > now + MAX_IMPORT_SKEW_SECS {
        return Err(ApiError::new(
            ErrorCode::MsgTimeStampInvalid,
            format!("MsgTimeStamp is {time}; it must be a past unix time in seconds"),
        ));
    }
    let fields = parse_message(body, Sender::Admin)?;
    let (from, to) = parties(from, to)?;
    let req = SendRequest {
        import_mode,
        sent_at: Some(time * 1000),
        // Tencent: imports with the same MsgSeq, MsgRandom and MsgTimeStamp are one message.
        dedupe_second: Some(time),
        ..fields.request(from, to)
    };
    let receipt = state.actions.sends.send(&admin.actor(), req).await?;
    let mut out = Map::new();
    // Not in Tencent's reply; lets an operator recall or edit what it imported.
    out.insert("MsgKey".into(), receipt.msg_key.into());
    Ok(out)
}

/// Largest page `admin_getroammsg` returns.
const MAX_ROAM_PAGE: i64 = 100;

/// Tencent's `admin_getroammsg`: one side's history of a conversation between
/// two times, newest first. To continue, send `MaxTime = LastMsgTime` and
/// `LastMsgKey` from the previous reply.
pub(super) async fn admin_getroammsg(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    // Current docs say Operator_Account/Peer_Account, older ones From/To.
    let operator = body.string(
        &["Operator_Account", "From_Account"],
        ErrorCode::FromAccountInvalid,
    )?;
    let peer = body.string(&["Peer_Account", "To_Account"], ErrorCode::ToAccountInvalid)?;
    let operator = UserId::parse(operator, "Operator_Account", ErrorCode::FromAccountInvalid)?;
    let peer = UserId::parse(peer, "Peer_Account", ErrorCode::ToAccountInvalid)?;
    let max_cnt = body.i64("MaxCnt", ErrorCode::InvalidRequest)?;
    if max_cnt < 1 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("MaxCnt is {max_cnt}; it must be at least 1"),
        ));
    }
    // Tencent answers a larger request with a partial page and `Complete: 0`
    // (its reply is bounded by size); the caller continues from `LastMsgKey`.
    let max_cnt = max_cnt.min(MAX_ROAM_PAGE);
    let min_time = body.i64("MinTime", ErrorCode::InvalidRequest)?;
    let max_time = body.i64("MaxTime", ErrorCode::InvalidRequest)?;
    if min_time < 0 || max_time < min_time {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "MinTime and MaxTime must satisfy 0 <= MinTime <= MaxTime",
        ));
    }
    let conversation = conversation_id(&operator, &peer);
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let unavailable = ApiError::db_unavailable;
    let (before_seq, before_time) =
        match body.opt_string("LastMsgKey", ErrorCode::InvalidRequest)? {
            None | Some("") => (i64::MAX, i64::MAX),
            Some(key) => views::message_by_key(&client, &conversation, key)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidRequest,
                        "LastMsgKey does not name a message of this conversation",
                    )
                })?,
        };
    let mut page = views::roam_page(
        &client,
        &views::HistoryQuery {
            conversation_id: &conversation,
            viewer: &operator,
            min_time_ms: min_time.saturating_mul(1000),
            max_time_ms: max_time.saturating_mul(1000).saturating_add(999),
            before_seq,
            limit: max_cnt + 1,
        },
        before_time,
    )
    .await
    .map_err(unavailable)?;
    let complete = page.len() as i64 <= max_cnt;
    page.truncate(max_cnt as usize);
    let mut out = Map::new();
    out.insert("Complete".into(), i64::from(complete).into());
    out.insert("MsgCnt".into(), page.len().into());
    out.insert(
        "LastMsgTime".into(),
        page.last().map_or(0, |m| m.sent_at_ms / 1000).into(),
    );
    out.insert(
        "LastMsgKey".into(),
        page.last()
            .map_or(String::new(), |m| m.msg_key.clone())
            .into(),
    );
    out.insert(
        "MsgList".into(),
        Value::Array(page.into_iter().map(roam_message).collect()),
    );
    Ok(out)
}

/// A history message in Tencent's `MsgList` shape (plus missive's `ConversationSeq`).
pub(super) fn roam_message(m: views::StoredMessage) -> Value {
    json!({
        "From_Account": m.from_account,
        "To_Account": m.to_account,
        "MsgSeq": m.msg_seq,
        "MsgRandom": m.msg_random,
        "MsgTimeStamp": m.sent_at_ms / 1000,
        // Tencent: 8 marks a recalled message (kept as a tombstone).
        "MsgFlagBits": if m.recalled { 8 } else { 0 },
        "IsPeerRead": i64::from(m.peer_read),
        "MsgKey": m.msg_key,
        "MsgBody": m.body,
        "CloudCustomData": m.cloud_custom_data,
        "ConversationSeq": m.seq,
    })
}

/// `From_Account`, `To_Account` and `MsgKey`: the message a recall or an
/// edit acts on. The ids are checked once all three are present.
fn message_ref<'a>(body: &Body<'a>) -> Result<(UserId, UserId, &'a str), ApiError> {
    let from = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    let key = body.string(&["MsgKey"], ErrorCode::MsgKeyInvalid)?;
    let (from, to) = parties(from, to)?;
    Ok((from, to, key))
}

/// Tencent's `admin_msgwithdraw`: recalls a message for both parties.
/// History keeps a tombstone (MsgFlagBits 8); both parties' devices are told.
pub(super) async fn admin_msgwithdraw(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let (from, to, key) = message_ref(body)?;
    state
        .actions
        .recall(&admin.actor(), &from, &to, key)
        .await?;
    Ok(Map::new())
}

/// Tencent's `modify_c2c_msg`: replaces the body and/or CloudCustomData.
pub(super) async fn modify_c2c_msg(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let new_body = match body.get("MsgBody") {
        None => None,
        Some(raw) => {
            check_body_size(raw, "")?;
            Some(msgbody::parse(raw, Sender::Admin)?)
        }
    };
    let cloud_custom_data = body
        .opt_string("CloudCustomData", ErrorCode::MsgBodyFormat)?
        .map(str::to_owned);
    if new_body.is_none() && cloud_custom_data.is_none() {
        return Err(ApiError::new(
            ErrorCode::MsgBodyFormat,
            "give MsgBody, CloudCustomData or both",
        ));
    }
    let (from, to, key) = message_ref(body)?;
    state
        .actions
        .edit(&admin.actor(), &from, &to, key, new_body, cloud_custom_data)
        .await?;
    Ok(Map::new())
}

/// Tencent's `admin_set_msg_read`: `Report_Account` has read every message
/// from `Peer_Account` sent up to `MsgReadTime` (a string of unix seconds;
/// default now). Answered once unread counts reflect it.
/// `missive_msg/read_receipt` (missive's own; Tencent's REST API has no
/// one-to-one read receipts): `Report_Account` read the messages
/// `MsgKeyList` that `Peer_Account` sent with `IsNeedReadReceipt`; the
/// sender's devices get a receipt each. Answered once the views hold it.
pub(super) async fn read_receipt(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let r = crate::tencent::message::parse_read_receipt(body)?;
    state
        .actions
        .send_read_receipts(&admin.actor(), &r.reader, &r.peer, r.msg_keys)
        .await?;
    Ok(Map::new())
}

pub(super) async fn admin_set_msg_read(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let reader = body.string(&["Report_Account"], ErrorCode::FromAccountInvalid)?;
    let peer = body.string(&["Peer_Account"], ErrorCode::ToAccountInvalid)?;
    let reader = UserId::parse(reader, "Report_Account", ErrorCode::FromAccountInvalid)?;
    let peer = UserId::parse(peer, "Peer_Account", ErrorCode::ToAccountInvalid)?;
    let now = missive_core::time::now_millis();
    // Tencent documents MsgReadTime as a string; numbers are accepted too.
    let read_time = match body.get("MsgReadTime") {
        None => now,
        Some(Value::String(s)) => {
            s.parse::<i64>()
                .map(|t| t.saturating_mul(1000))
                .map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidRequest,
                        "MsgReadTime must hold unix seconds",
                    )
                })?
        }
        Some(Value::Number(n)) => n.as_i64().map(|t| t.saturating_mul(1000)).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                "MsgReadTime must hold unix seconds",
            )
        })?,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "MsgReadTime must hold unix seconds",
            ))
        }
    };
    state
        .actions
        .mark_read(&admin.actor(), &reader, &peer, read_time)
        .await?;
    Ok(Map::new())
}

/// Most peers one `get_c2c_unread_msg_num` may ask about.
const MAX_UNREAD_PEERS: usize = 10;

/// Tencent's `get_c2c_unread_msg_num`: the user's total unread count, or
/// the count per listed peer.
pub(super) async fn get_c2c_unread_msg_num(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let user = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    let user = UserId::parse(user, "To_Account", ErrorCode::ToAccountInvalid)?;
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let caps = views::OfflineCaps::from_config(&state.config.views);
    let mut out = Map::new();
    match body.get("Peer_Account") {
        None => {
            let total = views::unread_total(&client, &user, caps)
                .await
                .map_err(ApiError::db_unavailable)?;
            out.insert("AllC2CUnreadMsgNum".into(), total.into());
        }
        Some(Value::Array(peers)) if !peers.is_empty() && peers.len() <= MAX_UNREAD_PEERS => {
            let mut list = Vec::with_capacity(peers.len());
            let mut errors = Vec::new();
            let named: Vec<&str> = peers
                .iter()
                .filter_map(Value::as_str)
                .filter(|p| UserId::is_valid(p))
                .collect();
            let missing = not_accounts(state, &client, &named).await?;
            for p in peers {
                match p.as_str().filter(|peer| UserId::is_valid(peer)) {
                    Some(peer) if missing.contains(peer) => errors.push(
                        json!({"Peer_Account": peer, "ErrorCode": ErrorCode::AccountNotFound.code()}),
                    ),
                    Some(peer) => {
                        let n = views::unread_with(&client, &user, peer, caps)
                            .await
                            .map_err(ApiError::db_unavailable)?;
                        list.push(json!({"Peer_Account": peer, "C2CUnreadMsgNum": n}));
                    }
                    None => errors.push(
                        json!({"Peer_Account": p, "ErrorCode": ErrorCode::ToAccountInvalid.code()}),
                    ),
                }
            }
            out.insert("C2CUnreadMsgNumList".into(), Value::Array(list));
            if !errors.is_empty() {
                out.insert("ErrorList".into(), Value::Array(errors));
            }
        }
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Peer_Account must list 1 to {MAX_UNREAD_PEERS} user ids"),
            ))
        }
    }
    Ok(out)
}

/// Most users one `querystate` may ask about.
const MAX_STATE_QUERY: usize = 500;

/// Tencent's `querystate` (now `query_online_status`): `Online` while a
/// device holds a WebSocket session (heartbeats shared through PostgreSQL
/// across delivery instances), else `PushOnline` while a device still gets
/// offline push, else `Offline`. Tencent's documents name the field `Status`
/// in their tables and `State` in their samples; both are sent.
pub(super) async fn querystate(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let users = match body.get("To_Account") {
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::new(
                ErrorCode::MsgJsonParse,
                "To_Account is empty",
            ))
        }
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::ToAccountInvalid,
                "To_Account must be an array",
            ))
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::ToAccountInvalid,
                "To_Account is missing",
            ))
        }
    };
    if users.len() > MAX_STATE_QUERY {
        return Err(ApiError::new(
            ErrorCode::TooManyRecipients,
            format!(
                "To_Account lists {} users; at most {MAX_STATE_QUERY}",
                users.len()
            ),
        ));
    }
    let detail = match body.opt_i64("IsNeedDetail", ErrorCode::InvalidRequest)? {
        None | Some(0) => false,
        Some(1) => true,
        Some(v) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("IsNeedDetail is {v}; it must be 0 or 1"),
            ))
        }
    };
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for u in users {
        match u.as_str() {
            Some(id) if UserId::is_valid(id) => valid.push(id),
            _ => errors
                .push(json!({"To_Account": u, "ErrorCode": ErrorCode::ToAccountInvalid.code()})),
        }
    }
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    // As Tencent does, an account that does not exist is listed in
    // ErrorList (70107), not reported Offline.
    let missing = not_accounts(state, &client, &valid).await?;
    valid.retain(|id| {
        let exists = !missing.contains(*id);
        if !exists {
            errors.push(json!({"To_Account": id, "ErrorCode": ErrorCode::AccountNotFound.code()}));
        }
        exists
    });
    let live = views::presence_of(&client, &valid, missive_core::time::now_millis())
        .await
        .map_err(ApiError::db_unavailable)?;
    let pushable = views::push_devices_of(&client, &valid)
        .await
        .map_err(ApiError::db_unavailable)?;
    let results: Vec<Value> = valid
        .iter()
        .map(|u| online_state(u, &live, &pushable, detail))
        .collect();
    let mut out = Map::new();
    out.insert("QueryResult".into(), Value::Array(results));
    if !errors.is_empty() {
        out.insert("ErrorList".into(), Value::Array(errors));
    }
    Ok(out)
}

/// Of `users` (valid ids), those that are not accounts (never imported, or
/// deleted): Tencent lists them in a read's `ErrorList` with 70107 instead of
/// answering for them. With `accounts.allow_unknown` every user id counts as
/// an account, as sends then treat it, so none is listed.
async fn not_accounts(
    state: &RestState,
    client: &impl deadpool_postgres::GenericClient,
    users: &[&str],
) -> Result<HashSet<String>, ApiError> {
    if state.config.accounts.allow_unknown {
        return Ok(HashSet::new());
    }
    let known = views::accounts_among(client, users)
        .await
        .map_err(ApiError::db_unavailable)?;
    Ok(users
        .iter()
        .filter(|u| !known.contains(**u))
        .map(|u| (*u).to_owned())
        .collect())
}

/// One user's `QueryResult` item: `Online` with a live session, else
/// `PushOnline` (Tencent: logged in, app in the background) while a device
/// still gets offline push, else `Offline`.
fn online_state(
    user: &str,
    live: &[(String, String)],
    pushable: &[(String, String, String)],
    detail: bool,
) -> Value {
    let entry = |platform: &str, status: &str| json!({"Platform": platform, "Status": status, "State": status});
    let online: Vec<Value> = live
        .iter()
        .filter(|(u, _)| u == user)
        .map(|(_, platform)| entry(platform, "Online"))
        .collect();
    let (status, devices) = if !online.is_empty() {
        ("Online", online)
    } else {
        let push: Vec<Value> = pushable
            .iter()
            .filter(|(u, _, _)| u == user)
            .map(|(_, _, vendor)| entry(push_platform(vendor), "PushOnline"))
            .collect();
        if push.is_empty() {
            ("Offline", push)
        } else {
            ("PushOnline", push)
        }
    };
    let mut item = json!({"To_Account": user, "Status": status, "State": status});
    if detail {
        item["Detail"] = Value::Array(devices);
    }
    item
}

/// Tencent's platform name for a device reached through a push vendor.
fn push_platform(vendor: &str) -> &'static str {
    if vendor == "apns" {
        "iPhone"
    } else {
        "Android"
    }
}
