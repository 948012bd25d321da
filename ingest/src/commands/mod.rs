//! The commands topic: operators' backends write `Command`s
//! (`schemas/avro/commands.avsc`) to `<prefix>.commands`; ingest consumes
//! them and runs each as the action it names. See docs/commands.md.
//!
//! An adapter: each command's Avro fields become the actions' typed inputs
//! directly (the JSON a command carries in `msg_body` and
//! `offline_push_info` is Tencent's, parsed by [`crate::tencent::message`]),
//! and the result is the action's [`Outcome`], never reply text. A command
//! is the administrator's unless it asks to be checked as the sender's own.

pub mod consumer;

use serde_json::{json, Value};

use missive_core::msgbody::Sender;
use missive_core::{ApiError, ErrorCode, UserId};
use missive_log::msg_key;
use missive_schemas::commands::{Action, Command};
use missive_schemas::{Channel, SyncOtherMachine};

use crate::actions::relationships::{AddMode, RelationshipChange};
use crate::actions::send::{SendReceipt, SendRequest, MAX_BATCH_RECIPIENTS};
use crate::actions::{user_actor, Actions, Outcome};
use crate::tencent::message::{parse_content, Content};

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
pub async fn execute(actions: &Actions, command: &Command) -> Result<Handled, ApiError> {
    if command.command_id.is_empty() || command.command_id.len() > MAX_COMMAND_ID_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("command_id must be 1 to {MAX_COMMAND_ID_BYTES} bytes long"),
        ));
    }
    let admin = actions.admin(Channel::Commands);
    let (msg_seq, msg_random) =
        msg_key::command_fields(actions.config.sdkappid, &command.command_id);
    let ids = |from: &str, to: &str| -> Result<(UserId, UserId), ApiError> {
        Ok((
            UserId::parse(from, "From_Account", ErrorCode::FromAccountInvalid)?,
            UserId::parse(to, "To_Account", ErrorCode::ToAccountInvalid)?,
        ))
    };
    let message =
        |content: Content, from: UserId, to: UserId, sync: bool, lifetime: i32| SendRequest {
            msg_seq: Some(msg_seq),
            cloud_custom_data: content.cloud_custom_data,
            offline_push: content.offline_push,
            sync_other_machine: if sync {
                SyncOtherMachine::Sync
            } else {
                SyncOtherMachine::NoSync
            },
            lifetime_seconds: lifetime,
            ..SendRequest::new(from, to, msg_random, content.body)
        };
    match &command.action {
        Action::SendMessage(m) => {
            // Checked as a send by from_account itself, the client rules
            // (blocks, friends-only, no system elements) apply.
            let sender = if m.check_permissions {
                Sender::User
            } else {
                Sender::Admin
            };
            let content = content(
                &m.msg_body,
                &m.cloud_custom_data,
                m.offline_push_info.as_deref(),
                sender,
            )?;
            let (from, to) = ids(&m.from_account, &m.to_account)?;
            let actor = if m.check_permissions {
                user_actor(Channel::Commands, &from)
            } else {
                admin.clone()
            };
            let mut req = message(content, from, to, m.sync_other_machine, m.lifetime_seconds);
            req.need_read_receipt = m.need_read_receipt;
            let receipt = actions.sends.send(&actor, req).await?;
            Ok(sent(receipt, m.check_permissions))
        }
        Action::SendSystemNotification(n) => {
            let msg_body = json!([{"MsgType": "TIMSystemElem", "MsgContent": {
                "Kind": n.kind, "Text": n.text, "Data": n.data,
            }}]);
            let content = parse_content(
                &msg_body,
                "",
                offline_push(n.offline_push_info.as_deref())?.as_ref(),
                Sender::Admin,
            )?;
            let from = n.from_account.as_deref().unwrap_or(&admin.identifier);
            let (from, to) = ids(from, &n.to_account)?;
            let req = message(content, from, to, true, n.lifetime_seconds);
            let receipt = actions.sends.send(&admin, req).await?;
            Ok(sent(receipt, false))
        }
        Action::BatchSend(b) => {
            if b.to_accounts.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::ToAccountInvalid,
                    "To_Account must list at least one user",
                ));
            }
            if b.to_accounts.len() > MAX_BATCH_RECIPIENTS {
                return Err(ApiError::new(
                    ErrorCode::TooManyRecipients,
                    format!(
                        "To_Account lists {} users; at most {MAX_BATCH_RECIPIENTS}",
                        b.to_accounts.len()
                    ),
                ));
            }
            let content = content(
                &b.msg_body,
                &b.cloud_custom_data,
                b.offline_push_info.as_deref(),
                Sender::Admin,
            )?;
            let from = UserId::parse(
                &b.from_account,
                "From_Account",
                ErrorCode::FromAccountInvalid,
            )?;
            let mut refused = Vec::new();
            let mut valid = Vec::new();
            for to in &b.to_accounts {
                match UserId::parse(to, "To_Account", ErrorCode::ToAccountInvalid) {
                    Ok(to) => valid.push(to),
                    Err(e) => refused.push(json!({"To_Account": to, "ErrorCode": e.code.code()})),
                }
            }
            let template = message(
                content,
                from.clone(),
                from,
                b.sync_other_machine,
                b.lifetime_seconds,
            );
            let receipt = actions.sends.send_batch(&admin, template, valid).await;
            for (to, code) in &receipt.refused {
                refused.push(json!({"To_Account": to.as_str(), "ErrorCode": code.code()}));
            }
            // Some recipients refused: the others have their copy (and keep
            // it on a retry, which reuses the MsgKey); the command as a whole
            // is dead-lettered so the operator sees who was missed.
            let Some(msg_key) = receipt.msg_key else {
                return Err(ApiError::new(
                    ErrorCode::ToAccountInvalid,
                    format!(
                        "the message reached no recipient: {}",
                        Value::Array(refused)
                    ),
                ));
            };
            if let Some(first) = refused.first() {
                let code = first["ErrorCode"]
                    .as_u64()
                    .and_then(|c| ErrorCode::from_code(c as u32))
                    .unwrap_or(ErrorCode::ToAccountInvalid);
                return Err(ApiError::new(
                    code,
                    format!(
                        "{} of {} recipients refused (the others received the message): {}",
                        refused.len(),
                        b.to_accounts.len(),
                        Value::Array(refused)
                    ),
                ));
            }
            Ok(Handled::Applied {
                msg_key: Some(msg_key),
            })
        }
        Action::FriendAdd(f) => {
            // The operator's backend adds as the administrator: no request to confirm.
            let change = RelationshipChange::AddFriend {
                both: f.both,
                mode: AddMode::Force,
            };
            relationship(actions, &admin, &f.user_id, &f.friend_id, change).await
        }
        Action::FriendDelete(f) => {
            let change = RelationshipChange::DeleteFriend { both: f.both };
            relationship(actions, &admin, &f.user_id, &f.friend_id, change).await
        }
        Action::BlockAdd(b) => {
            relationship(
                actions,
                &admin,
                &b.user_id,
                &b.blocked_id,
                RelationshipChange::Block,
            )
            .await
        }
        Action::BlockRemove(b) => {
            let change = RelationshipChange::Unblock;
            relationship(actions, &admin, &b.user_id, &b.blocked_id, change).await
        }
    }
}

/// A send's receipt as the command's result. Whether an admin send was a
/// retry is not reported (the REST reply does not say either); the views
/// keep one copy either way.
fn sent(receipt: SendReceipt, report_duplicate: bool) -> Handled {
    if report_duplicate && receipt.duplicate {
        Handled::AlreadyDone
    } else {
        Handled::Applied {
            msg_key: Some(receipt.msg_key),
        }
    }
}

/// A command's `msg_body` (Tencent `MsgBody` JSON), `cloud_custom_data` and
/// `offline_push_info`, parsed by the rules a REST send follows.
fn content(
    msg_body: &str,
    cloud_custom_data: &str,
    offline_push_info: Option<&str>,
    sender: Sender,
) -> Result<Content, ApiError> {
    let msg_body: Value = serde_json::from_str(msg_body).map_err(|e| {
        ApiError::new(
            ErrorCode::MsgJsonParse,
            format!("msg_body is not valid JSON: {e}"),
        )
    })?;
    let push = offline_push(offline_push_info)?;
    parse_content(&msg_body, cloud_custom_data, push.as_ref(), sender)
}

fn offline_push(offline_push_info: Option<&str>) -> Result<Option<Value>, ApiError> {
    offline_push_info
        .map(|push| {
            serde_json::from_str(push).map_err(|e| {
                ApiError::new(
                    ErrorCode::OfflinePushInfoFormat,
                    format!("offline_push_info is not valid JSON: {e}"),
                )
            })
        })
        .transpose()
}

/// One relationship change with a single target: its outcome is the
/// command's; "already as asked" counts as done.
async fn relationship(
    actions: &Actions,
    admin: &crate::actions::Actor,
    user: &str,
    target: &str,
    change: RelationshipChange,
) -> Result<Handled, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let user = UserId::parse(user, "From_Account", code)?;
    let target = UserId::parse(target, "To_Account", code)?;
    let outcomes = actions
        .change_relationships(admin, &user, change, std::slice::from_ref(&target), &[])
        .await?;
    match outcomes.into_iter().next() {
        Some(Outcome::Done) => Ok(Handled::Applied { msg_key: None }),
        Some(Outcome::AlreadyDone) => Ok(Handled::AlreadyDone),
        Some(Outcome::Refused(code, info)) => Err(ApiError::new(code, info)),
        None => unreachable!("one target, one outcome"),
    }
}
