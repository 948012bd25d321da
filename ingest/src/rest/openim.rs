//! `/v4/openim/*`: one-to-one messages.

use futures::StreamExt;
use serde_json::{json, Map, Value};

use missive_core::msgbody::{self, Sender};
use missive_core::{views, ApiError, ErrorCode};
use missive_schemas::{
    conversation_id, ConversationRead, Event, ImportMode, MessageModified, MessageRecalled,
    OfflinePushInfo, SyncOtherMachine,
};

use super::fields::Body;
use super::{admin_actor, Admin, RestState};
use crate::changes::ChangePipeline;
use crate::send::{check_user_id, Actor, SendRequest, MAX_BODY_BYTES};

/// Tencent's `sendmsg`: the administrator sends as `From_Account` (or as
/// itself). As in Tencent IM, REST sends skip relationship checks and are
/// recorded as admin sends.
pub(crate) async fn sendmsg(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let req = parse_send(admin, body)?;
    let actor = admin_actor(admin);
    let receipt = state.pipeline.send(&actor, req).await?;
    let mut out = Map::new();
    out.insert("MsgTime".into(), receipt.msg_time.into());
    out.insert("MsgKey".into(), receipt.msg_key.into());
    Ok(out)
}

pub(crate) fn parse_send(admin: &Admin, body: &Body<'_>) -> Result<SendRequest, ApiError> {
    let from = sender(admin, body)?;
    let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    parse_message(from, to.to_owned(), body, Sender::Admin)
}

/// `From_Account`, or the administrator itself when absent.
fn sender(admin: &Admin, body: &Body<'_>) -> Result<String, ApiError> {
    match body.get("From_Account") {
        None => Ok(admin.identifier.clone()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::new(
            ErrorCode::FromAccountInvalid,
            "From_Account must be a string",
        )),
    }
}

/// The fields sendmsg, batchsendmsg, importmsg, WebSocket sends and the
/// commands topic's sends share. `sender` says who may use which element
/// types (system notices: admins only).
pub(crate) fn parse_message(
    from: String,
    to: String,
    body: &Body<'_>,
    sender: Sender,
) -> Result<SendRequest, ApiError> {
    let sync_other_machine =
        match body.opt_i64("SyncOtherMachine", ErrorCode::SyncOtherMachineInvalid)? {
            None | Some(1) => SyncOtherMachine::Sync,
            Some(2) => SyncOtherMachine::NoSync,
            Some(v) => {
                return Err(ApiError::new(
                    ErrorCode::SyncOtherMachineInvalid,
                    format!("SyncOtherMachine is {v}; it must be 1 or 2"),
                ))
            }
        };
    let lifetime = body
        .opt_i64("MsgLifeTime", ErrorCode::MsgLifeTimeType)?
        .unwrap_or(i64::from(crate::send::MAX_LIFETIME_SECONDS));
    let lifetime_seconds = i32::try_from(lifetime).map_err(|_| {
        ApiError::new(
            ErrorCode::MsgLifeTimeRange,
            format!("MsgLifeTime is {lifetime}; it must be between 0 and 604800 seconds"),
        )
    })?;
    let msg_seq = body.opt_u32("MsgSeq", ErrorCode::MsgSeqInvalid)?;
    let msg_random = body.u32("MsgRandom", ErrorCode::MsgRandomInvalid)?;
    let raw_body = body
        .get("MsgBody")
        .ok_or_else(|| ApiError::new(ErrorCode::MsgBodyFormat, "MsgBody is missing"))?;
    let cloud_custom_data = body
        .opt_string("CloudCustomData", ErrorCode::MsgBodyFormat)?
        .unwrap_or_default()
        .to_owned();
    check_body_size(raw_body, &cloud_custom_data)?;
    let elements = msgbody::parse(raw_body, sender)?;
    let offline_push = match body.get("OfflinePushInfo") {
        None => None,
        Some(v) => Some(parse_offline_push(v)?),
    };
    let need_read_receipt = match body.opt_i64("IsNeedReadReceipt", ErrorCode::InvalidRequest)? {
        None | Some(0) => false,
        Some(1) => true,
        Some(v) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("IsNeedReadReceipt is {v}; it must be 0 or 1"),
            ))
        }
    };
    let (forbid_before_send_callback, forbid_after_send_callback) =
        parse_forbid_callback_control(body)?;
    Ok(SendRequest {
        forbid_before_send_callback,
        forbid_after_send_callback,
        msg_seq,
        cloud_custom_data,
        sync_other_machine,
        lifetime_seconds,
        offline_push,
        need_read_receipt,
        ..SendRequest::new(&from, &to, msg_random, elements)
    })
}

/// `ForbidCallbackControl`: which of this message's callbacks not to make,
/// as (before-send, after-send).
fn parse_forbid_callback_control(body: &Body<'_>) -> Result<(bool, bool), ApiError> {
    let Some(v) = body.get("ForbidCallbackControl") else {
        return Ok((false, false));
    };
    let bad = |what: String| ApiError::new(ErrorCode::InvalidRequest, what);
    let Value::Array(items) = v else {
        return Err(bad(
            "ForbidCallbackControl must be an array of strings".into()
        ));
    };
    let (mut before, mut after) = (false, false);
    for item in items {
        match item.as_str() {
            Some("ForbidBeforeSendMsgCallback") => before = true,
            Some("ForbidAfterSendMsgCallback") => after = true,
            _ => {
                return Err(bad(format!(
                    "ForbidCallbackControl holds {item}; it may hold \
                     \"ForbidBeforeSendMsgCallback\" and \"ForbidAfterSendMsgCallback\""
                )))
            }
        }
    }
    Ok((before, after))
}

/// Most recipients of one `batchsendmsg`.
pub const MAX_BATCH_RECIPIENTS: usize = 500;
/// How many of a batch's appends are in flight at once.
const BATCH_CONCURRENCY: usize = 64;

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
    // Every field but the recipient is checked once; `to` is set per copy.
    let mut template = parse_message(sender(admin, body)?, String::new(), body, Sender::Admin)?;
    template.batch = true;
    let actor = admin_actor(admin);
    let mut errors = Vec::new();
    let mut sends = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in recipients {
        match r.as_str() {
            Some(to) if check_user_id(to, "To_Account", ErrorCode::ToAccountInvalid).is_ok() => {
                if seen.insert(to) {
                    let mut req = template.clone();
                    req.to = to.to_owned();
                    sends.push(req);
                }
            }
            _ => errors
                .push(json!({"To_Account": r, "ErrorCode": ErrorCode::ToAccountInvalid.code()})),
        }
    }
    let results: Vec<_> = futures::stream::iter(sends.into_iter().map(|req| {
        let to = req.to.clone();
        let actor = &actor;
        async move { (to, state.pipeline.send(actor, req).await) }
    }))
    .buffered(BATCH_CONCURRENCY)
    .collect()
    .await;
    let mut key = None;
    for (to, result) in results {
        match result {
            Ok(receipt) => key = Some(receipt.msg_key),
            Err(e) => errors.push(json!({"To_Account": to, "ErrorCode": e.code.code()})),
        }
    }
    let Some(key) = key else {
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
/// original time. `SyncFromOldSystem` 1 (real time) counts as unread and
/// reaches online devices; 2 (history) only lands in history.
pub(super) async fn importmsg(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let import_mode = match body.opt_i64("SyncFromOldSystem", ErrorCode::ImportModeInvalid)? {
        Some(1) => ImportMode::Realtime,
        Some(2) => ImportMode::History,
        Some(v) => {
            return Err(ApiError::new(
                ErrorCode::ImportModeInvalid,
                format!("SyncFromOldSystem is {v}; it must be 1 (real time) or 2 (history)"),
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
    let mut req = parse_message(from.to_owned(), to.to_owned(), body, Sender::Admin)?;
    req.import_mode = import_mode;
    req.sent_at = Some(time * 1000);
    let actor = admin_actor(admin);
    let receipt = state.pipeline.send(&actor, req).await?;
    let mut out = Map::new();
    // Not in Tencent's reply; lets an operator recall or edit what it imported.
    out.insert("MsgKey".into(), receipt.msg_key.into());
    Ok(out)
}

/// Tencent's `OfflinePushInfo` (PushFlag, Title, Desc, Ext, AndroidInfo, ApnsInfo).
pub(crate) fn parse_offline_push(v: &Value) -> Result<OfflinePushInfo, ApiError> {
    let code = ErrorCode::OfflinePushInfoFormat;
    let map = v
        .as_object()
        .ok_or_else(|| ApiError::new(code, "OfflinePushInfo must be an object"))?;
    let b = Body::at(map, "OfflinePushInfo");
    let push_flag = b.opt_i64("PushFlag", code)?.unwrap_or(0);
    if !(0..=1).contains(&push_flag) {
        return Err(ApiError::new(
            code,
            format!("OfflinePushInfo.PushFlag is {push_flag}; it must be 0 or 1"),
        ));
    }
    let sub = |name: &str| -> Result<Option<Body<'_>>, ApiError> {
        match b.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Body::at(m, b.field(name)))),
            Some(_) => Err(ApiError::new(
                code,
                format!("{} must be an object", b.field(name)),
            )),
        }
    };
    let android = sub("AndroidInfo")?;
    let apns = sub("ApnsInfo")?;
    let s = |m: &Option<Body<'_>>, name: &str| -> Result<String, ApiError> {
        match m {
            None => Ok(String::new()),
            Some(m) => Ok(m.opt_string(name, code)?.unwrap_or_default().to_owned()),
        }
    };
    let badge_mode = match &apns {
        None => 0,
        Some(m) => m.opt_i64("BadgeMode", code)?.unwrap_or(0),
    };
    if !(0..=1).contains(&badge_mode) {
        return Err(ApiError::new(
            code,
            format!("OfflinePushInfo.ApnsInfo.BadgeMode is {badge_mode}; it must be 0 or 1"),
        ));
    }
    Ok(OfflinePushInfo {
        push_flag: push_flag as i32,
        title: b.opt_string("Title", code)?.unwrap_or_default().to_owned(),
        desc: b.opt_string("Desc", code)?.unwrap_or_default().to_owned(),
        ext: b.opt_string("Ext", code)?.unwrap_or_default().to_owned(),
        android_sound: s(&android, "Sound")?,
        apns_sound: s(&apns, "Sound")?,
        apns_badge_mode: badge_mode as i32,
        apns_title: s(&apns, "Title")?,
        apns_sub_title: s(&apns, "SubTitle")?,
        apns_image: s(&apns, "Image")?,
    })
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
    check_user_id(operator, "Operator_Account", ErrorCode::FromAccountInvalid)?;
    check_user_id(peer, "Peer_Account", ErrorCode::ToAccountInvalid)?;
    let max_cnt = body.i64("MaxCnt", ErrorCode::InvalidRequest)?;
    if !(1..=MAX_ROAM_PAGE).contains(&max_cnt) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("MaxCnt is {max_cnt}; it must be between 1 and {MAX_ROAM_PAGE}"),
        ));
    }
    let min_time = body.i64("MinTime", ErrorCode::InvalidRequest)?;
    let max_time = body.i64("MaxTime", ErrorCode::InvalidRequest)?;
    if min_time < 0 || max_time < min_time {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "MinTime and MaxTime must satisfy 0 <= MinTime <= MaxTime",
        ));
    }
    let conversation = conversation_id(operator, peer);
    let client = state.pool.get().await.map_err(super::db_unavailable)?;
    let unavailable = super::db_unavailable;
    let before_seq = match body.opt_string("LastMsgKey", ErrorCode::InvalidRequest)? {
        None | Some("") => i64::MAX,
        Some(key) => views::message_by_key(&client, &conversation, key)
            .await
            .map_err(unavailable)?
            .map(|(seq, _)| seq)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    "LastMsgKey does not name a message of this conversation",
                )
            })?,
    };
    let mut page = views::history_page(
        &client,
        &views::HistoryQuery {
            conversation_id: &conversation,
            viewer: operator,
            min_time_ms: min_time.saturating_mul(1000),
            max_time_ms: max_time.saturating_mul(1000).saturating_add(999),
            before_seq,
            limit: max_cnt + 1,
        },
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
        "IsPeerRead": 0,
        "MsgKey": m.msg_key,
        "MsgBody": m.body,
        "CloudCustomData": m.cloud_custom_data,
        "ConversationSeq": m.seq,
    })
}

/// The message `MsgKey` names in the conversation of `From_Account` and
/// `To_Account`, which must have been sent by `From_Account` and not recalled.
async fn existing_message(
    state: &RestState,
    body: &Body<'_>,
) -> Result<(String, String, String, String), ApiError> {
    let from = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    let key = body.string(&["MsgKey"], ErrorCode::MsgKeyInvalid)?;
    own_message(&state.pool, from, to, key).await
}

/// `(conversation, key, from, to)` of the message `key` that `from` sent to
/// `to`, unless it was recalled: what a recall or an edit acts on.
pub(crate) async fn own_message(
    pool: &deadpool_postgres::Pool,
    from: &str,
    to: &str,
    key: &str,
) -> Result<(String, String, String, String), ApiError> {
    check_user_id(from, "From_Account", ErrorCode::FromAccountInvalid)?;
    check_user_id(to, "To_Account", ErrorCode::ToAccountInvalid)?;
    // Keys are missive's own (`{seq}_{random}_{hex}`, `sys_{uuid}`): anything
    // else, a NUL included, names no message and is refused before the views
    // are asked.
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            ErrorCode::MsgKeyInvalid,
            "MsgKey must be 1 to 64 printable ASCII characters",
        ));
    }
    let conversation = conversation_id(from, to);
    let client = pool.get().await.map_err(super::db_unavailable)?;
    let meta = views::message_meta(&client, &conversation, key)
        .await
        .map_err(super::db_unavailable)?;
    match meta {
        Some((sender, _, _)) if sender != from => Err(ApiError::new(
            ErrorCode::MessageNotFound,
            "From_Account did not send this message",
        )),
        Some((_, _, true)) => Err(ApiError::new(
            ErrorCode::AlreadyRecalled,
            "the message was already recalled",
        )),
        Some(_) => Ok((conversation, key.to_owned(), from.to_owned(), to.to_owned())),
        None => Err(ApiError::new(
            ErrorCode::MessageNotFound,
            "no message with this MsgKey between these accounts",
        )),
    }
}

/// Tencent's `admin_msgwithdraw`: recalls a message for both parties.
/// History keeps a tombstone (MsgFlagBits 8); both parties' devices are told.
pub(super) async fn admin_msgwithdraw(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let from = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    let key = body.string(&["MsgKey"], ErrorCode::MsgKeyInvalid)?;
    recall(
        &state.changes,
        &state.pool,
        &admin_actor(admin),
        from,
        to,
        key,
    )
    .await?;
    Ok(Map::new())
}

/// Recalls the message `key` that `from` sent to `to`, for both parties;
/// answered once the views hold it. The administrator (REST) and the sender
/// (a device) recall the same way.
pub(crate) async fn recall(
    changes: &ChangePipeline,
    pool: &deadpool_postgres::Pool,
    actor: &Actor,
    from: &str,
    to: &str,
    key: &str,
) -> Result<(), ApiError> {
    let (conversation_id, msg_key, from_account, to_account) =
        own_message(pool, from, to, key).await?;
    let event = Event::MessageRecalled(MessageRecalled {
        conversation_id,
        msg_key,
        from_account,
        to_account,
    });
    changes.apply(actor, vec![event]).await
}

/// `reader` has read every message from `peer` sent up to `read_time` (ms;
/// a future time counts as now); answered once unread counts reflect it.
pub(crate) async fn mark_read(
    changes: &ChangePipeline,
    actor: &Actor,
    reader: &str,
    peer: &str,
    read_time: i64,
) -> Result<(), ApiError> {
    let event = Event::ConversationRead(ConversationRead {
        conversation_id: conversation_id(reader, peer),
        reader: reader.to_owned(),
        peer: peer.to_owned(),
        read_time: read_time.min(missive_core::time::now_millis()),
    });
    changes.apply(actor, vec![event]).await
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
    let (conversation_id, msg_key, from_account, to_account) =
        existing_message(state, body).await?;
    let event = Event::MessageModified(MessageModified {
        conversation_id,
        msg_key,
        from_account,
        to_account,
        body: new_body,
        cloud_custom_data,
    });
    state
        .changes
        .apply(&admin_actor(admin), vec![event])
        .await?;
    Ok(Map::new())
}

/// Tencent's `admin_set_msg_read`: `Report_Account` has read every message
/// from `Peer_Account` sent up to `MsgReadTime` (a string of unix seconds;
/// default now). Answered once unread counts reflect it.
pub(super) async fn admin_set_msg_read(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let reader = body.string(&["Report_Account"], ErrorCode::FromAccountInvalid)?;
    let peer = body.string(&["Peer_Account"], ErrorCode::ToAccountInvalid)?;
    check_user_id(reader, "Report_Account", ErrorCode::FromAccountInvalid)?;
    check_user_id(peer, "Peer_Account", ErrorCode::ToAccountInvalid)?;
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
    mark_read(&state.changes, &admin_actor(admin), reader, peer, read_time).await?;
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
    check_user_id(user, "To_Account", ErrorCode::ToAccountInvalid)?;
    let client = state.pool.get().await.map_err(super::db_unavailable)?;
    let caps = views::OfflineCaps::from_config(&state.config.views);
    let mut out = Map::new();
    match body.get("Peer_Account") {
        None => {
            let total = views::unread_total(&client, user, caps)
                .await
                .map_err(super::db_unavailable)?;
            out.insert("AllC2CUnreadMsgNum".into(), total.into());
        }
        Some(Value::Array(peers)) if !peers.is_empty() && peers.len() <= MAX_UNREAD_PEERS => {
            let mut list = Vec::with_capacity(peers.len());
            let mut errors = Vec::new();
            for p in peers {
                match p.as_str() {
                    Some(peer)
                        if check_user_id(peer, "Peer_Account", ErrorCode::ToAccountInvalid)
                            .is_ok() =>
                    {
                        let n = views::unread_with(&client, user, peer, caps)
                            .await
                            .map_err(super::db_unavailable)?;
                        list.push(json!({"Peer_Account": peer, "C2CUnreadMsgNum": n}));
                    }
                    _ => errors.push(
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
/// across delivery instances), else `Offline`. Tencent's documents name the
/// field `Status` in their tables and `State` in their samples; both are sent.
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
            Some(id) if check_user_id(id, "To_Account", ErrorCode::ToAccountInvalid).is_ok() => {
                valid.push(id)
            }
            _ => errors
                .push(json!({"To_Account": u, "ErrorCode": ErrorCode::ToAccountInvalid.code()})),
        }
    }
    let client = state.pool.get().await.map_err(super::db_unavailable)?;
    // As Tencent does, an account that does not exist is listed in
    // ErrorList (70107), not reported Offline.
    if !state.config.accounts.allow_unknown {
        let known = views::accounts_among(&client, &valid)
            .await
            .map_err(super::db_unavailable)?;
        valid.retain(|id| {
            let exists = known.contains(*id);
            if !exists {
                errors.push(
                    json!({"To_Account": id, "ErrorCode": ErrorCode::AccountNotFound.code()}),
                );
            }
            exists
        });
    }
    let live = views::presence_of(&client, &valid, missive_core::time::now_millis())
        .await
        .map_err(super::db_unavailable)?;
    let results: Vec<Value> = valid
        .iter()
        .map(|u| {
            let devices: Vec<&str> = live
                .iter()
                .filter(|(user, _)| user == u)
                .map(|(_, platform)| platform.as_str())
                .collect();
            let status = if devices.is_empty() {
                "Offline"
            } else {
                "Online"
            };
            let mut item = json!({"To_Account": u, "Status": status, "State": status});
            if detail {
                item["Detail"] = Value::Array(
                    devices
                        .iter()
                        .map(|p| json!({"Platform": p, "Status": "Online", "State": "Online"}))
                        .collect(),
                );
            }
            item
        })
        .collect();
    let mut out = Map::new();
    out.insert("QueryResult".into(), Value::Array(results));
    if !errors.is_empty() {
        out.insert("ErrorList".into(), Value::Array(errors));
    }
    Ok(out)
}

/// The 12 KB limit on a message body (serialized MsgBody plus CloudCustomData).
fn check_body_size(msg_body: &Value, cloud_custom_data: &str) -> Result<(), ApiError> {
    let size =
        serde_json::to_vec(msg_body).map_or(usize::MAX, |v| v.len()) + cloud_custom_data.len();
    if size > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the message body is {size} bytes; at most {MAX_BODY_BYTES} are allowed"),
        ));
    }
    Ok(())
}
