//! The commands topic: operators' backends write `Command`s
//! (`schemas/avro/commands.avsc`) to `<prefix>.commands`; ingest consumes
//! them, runs each through the code the matching REST API runs, and appends
//! the resulting events. See docs/commands.md.
//!
//! A command is translated into the Tencent request body of its REST API and
//! handed to the same handler ([`crate::rest::route`]) or, for a send checked
//! as the user's own, to the same parser and [`crate::send::SendPipeline`].
//! There is no second copy of any validation.

pub mod consumer;

use serde_json::{json, Map, Value};

use missive_core::msgbody::Sender;
use missive_core::{ApiError, ErrorCode};
use missive_schemas::commands::{Action, Command};
use missive_schemas::Channel;

use crate::msg_key;
use crate::rest::fields::Body;
use crate::rest::{openim, route, sns, Admin, RestState};
use crate::send::Actor;

/// Longest idempotency key.
pub const MAX_COMMAND_ID_BYTES: usize = 128;

/// What became of a command that was not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Appended; the MsgKey for sends.
    Applied { msg_key: Option<String> },
    /// Already so: a retried send whose message is in history, or a
    /// relationship already as asked. Nothing was appended.
    AlreadyDone,
}

/// Runs one decoded command. `Err` is a refusal (dead-letter it) unless its
/// code is retryable (the log or the views are unavailable: try again).
pub async fn execute(state: &RestState, command: &Command) -> Result<Handled, ApiError> {
    if command.command_id.is_empty() || command.command_id.len() > MAX_COMMAND_ID_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("command_id must be 1 to {MAX_COMMAND_ID_BYTES} bytes long"),
        ));
    }
    let admin = Admin::commands(&state.config);
    let (msg_seq, msg_random) = msg_key::command_fields(state.config.sdkappid, &command.command_id);
    match &command.action {
        Action::SendMessage(m) => {
            let mut body = message_fields(
                &m.msg_body,
                &m.cloud_custom_data,
                m.sync_other_machine,
                m.lifetime_seconds,
                m.offline_push_info.as_deref(),
                msg_seq,
                msg_random,
            )?;
            body.insert("From_Account".into(), m.from_account.clone().into());
            body.insert("To_Account".into(), m.to_account.clone().into());
            body.insert(
                "IsNeedReadReceipt".into(),
                i64::from(m.need_read_receipt).into(),
            );
            if m.check_permissions {
                // Checked as a send by from_account itself: the client rules
                // (blocks, friends-only, no system elements) apply.
                let req = openim::parse_message(
                    m.from_account.clone(),
                    m.to_account.clone(),
                    &Body::new(&body),
                    Sender::User,
                )?;
                let actor = Actor {
                    channel: Channel::Commands,
                    identifier: m.from_account.clone(),
                    admin: false,
                };
                let receipt = state.pipeline.send(&actor, req).await?;
                return Ok(sent(receipt.msg_key, receipt.duplicate));
            }
            let reply = route(state, &admin, "openim", "sendmsg", &body).await?;
            Ok(applied_with_key(&reply))
        }
        Action::SendSystemNotification(n) => {
            let msg_body = json!([{"MsgType": "TIMSystemElem", "MsgContent": {
                "Kind": n.kind, "Text": n.text, "Data": n.data,
            }}])
            .to_string();
            let mut body = message_fields(
                &msg_body,
                "",
                true,
                n.lifetime_seconds,
                n.offline_push_info.as_deref(),
                msg_seq,
                msg_random,
            )?;
            if let Some(from) = &n.from_account {
                body.insert("From_Account".into(), from.clone().into());
            }
            body.insert("To_Account".into(), n.to_account.clone().into());
            let reply = route(state, &admin, "openim", "sendmsg", &body).await?;
            Ok(applied_with_key(&reply))
        }
        Action::BatchSend(b) => {
            let mut body = message_fields(
                &b.msg_body,
                &b.cloud_custom_data,
                b.sync_other_machine,
                b.lifetime_seconds,
                b.offline_push_info.as_deref(),
                msg_seq,
                msg_random,
            )?;
            body.insert("From_Account".into(), b.from_account.clone().into());
            body.insert("To_Account".into(), json!(b.to_accounts));
            let reply = route(state, &admin, "openim", "batchsendmsg", &body).await?;
            // Some recipients refused: the others have their copy (and keep
            // it on a retry, which reuses the MsgKey); the command as a whole
            // is dead-lettered so the operator sees who was missed.
            if let Some(Value::Array(errors)) = reply.get("ErrorList") {
                let first = errors
                    .first()
                    .and_then(|e| e["ErrorCode"].as_u64())
                    .and_then(|c| ErrorCode::from_code(c as u32))
                    .unwrap_or(ErrorCode::ToAccountInvalid);
                return Err(ApiError::new(
                    first,
                    format!(
                        "{} of {} recipients refused (the others received the message): {}",
                        errors.len(),
                        b.to_accounts.len(),
                        Value::Array(errors.clone())
                    ),
                ));
            }
            Ok(applied_with_key(&reply))
        }
        Action::FriendAdd(f) => {
            let body = json!({
                "From_Account": f.user_id,
                "AddFriendItem": [{"To_Account": f.friend_id, "AddSource": "AddSource_Type_Commands"}],
                "AddType": if f.both { "Add_Type_Both" } else { "Add_Type_Single" },
            });
            relationship(state, &admin, "friend_add", body, sns::ALREADY_FRIENDS).await
        }
        Action::FriendDelete(f) => {
            let body = json!({
                "From_Account": f.user_id,
                "To_Account": [f.friend_id],
                "DeleteType": if f.both { "Delete_Type_Both" } else { "Delete_Type_Single" },
            });
            relationship(state, &admin, "friend_delete", body, sns::NOT_FRIENDS).await
        }
        Action::BlockAdd(b) => {
            let body = json!({"From_Account": b.user_id, "To_Account": [b.blocked_id]});
            relationship(state, &admin, "black_list_add", body, sns::ALREADY_BLOCKED).await
        }
        Action::BlockRemove(b) => {
            let body = json!({"From_Account": b.user_id, "To_Account": [b.blocked_id]});
            relationship(state, &admin, "black_list_delete", body, sns::NOT_BLOCKED).await
        }
    }
}

fn sent(msg_key: String, duplicate: bool) -> Handled {
    if duplicate {
        Handled::AlreadyDone
    } else {
        Handled::Applied {
            msg_key: Some(msg_key),
        }
    }
}

/// sendmsg / batchsendmsg replies carry the MsgKey. Whether it was a retry is
/// not in Tencent's reply; the views keep one copy either way.
fn applied_with_key(reply: &Map<String, Value>) -> Handled {
    Handled::Applied {
        msg_key: reply
            .get("MsgKey")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

/// The Tencent fields every message command shares, with the MsgRandom and
/// MsgSeq derived from the command's idempotency key.
fn message_fields(
    msg_body: &str,
    cloud_custom_data: &str,
    sync_other_machine: bool,
    lifetime_seconds: i32,
    offline_push_info: Option<&str>,
    msg_seq: u32,
    msg_random: u32,
) -> Result<Map<String, Value>, ApiError> {
    let msg_body: Value = serde_json::from_str(msg_body).map_err(|e| {
        ApiError::new(
            ErrorCode::MsgJsonParse,
            format!("msg_body is not valid JSON: {e}"),
        )
    })?;
    let mut body = Map::new();
    body.insert("MsgBody".into(), msg_body);
    body.insert("MsgRandom".into(), msg_random.into());
    body.insert("MsgSeq".into(), msg_seq.into());
    body.insert("CloudCustomData".into(), cloud_custom_data.into());
    body.insert(
        "SyncOtherMachine".into(),
        (if sync_other_machine { 1 } else { 2 }).into(),
    );
    body.insert("MsgLifeTime".into(), lifetime_seconds.into());
    if let Some(push) = offline_push_info {
        let push: Value = serde_json::from_str(push).map_err(|e| {
            ApiError::new(
                ErrorCode::OfflinePushInfoFormat,
                format!("offline_push_info is not valid JSON: {e}"),
            )
        })?;
        body.insert("OfflinePushInfo".into(), push);
    }
    Ok(body)
}

/// One relationship change through its REST handler: its single item's
/// result is the command's; "already as asked" counts as done.
async fn relationship(
    state: &RestState,
    admin: &Admin,
    api: &str,
    body: Value,
    already: &str,
) -> Result<Handled, ApiError> {
    let Value::Object(body) = body else {
        unreachable!("built as an object")
    };
    let reply = route(state, admin, "sns", api, &body).await?;
    let item = &reply["ResultItem"][0];
    let code = item["ResultCode"].as_u64().unwrap_or(0) as u32;
    let info = item["ResultInfo"].as_str().unwrap_or_default();
    if code == 0 {
        return Ok(Handled::Applied { msg_key: None });
    }
    if info == already {
        return Ok(Handled::AlreadyDone);
    }
    Err(ApiError::new(
        ErrorCode::from_code(code).unwrap_or(ErrorCode::SnsInvalidRequest),
        info,
    ))
}
