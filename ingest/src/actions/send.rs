//! The send action every channel shares (REST, WebSocket, commands topic):
//! validate, decide, stamp the sender's profile, derive the MsgKey, append
//! one `MessageSent`, and answer only once the broker has it.
//!
//! Input is typed ([`SendRequest`], ids already [`UserId`]s): the adapters
//! parse their wire format (Tencent JSON, Avro command fields) above this
//! floor. A before-send hook (an operator callback that may refuse or
//! rewrite a send) belongs in [`SendPipeline::send_new`], after the retry
//! check and before the decision, so a retry never calls it twice.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use moka::future::Cache;
use uuid::Uuid;

use futures::StreamExt;
use missive_core::config::{BlockMode, PermissionsConfig};
use missive_core::views::{Relationship, SendKey};
use missive_core::{msgbody, time, ApiError, Config, ErrorCode, UserId};
use missive_log::{msg_key, Actor, EventAppender};
use missive_schemas::{
    conversation_id, Channel, Decision, Element, Event, ImportMode, MessageSent, OfflinePushInfo,
    SyncOtherMachine,
};

use super::send_probes::SendProbes;

/// Tencent's maximum offline lifetime (7 days): the inbox's own limit.
pub const MAX_LIFETIME_SECONDS: i32 = msgbody::MAX_OFFLINE_SECONDS;
/// Largest accepted message body (serialized MsgBody plus CloudCustomData).
pub const MAX_BODY_BYTES: usize = 12 * 1024;
/// Most recipients of one batch send.
pub const MAX_BATCH_RECIPIENTS: usize = 500;
/// How many of a batch's appends are in flight at once.
const BATCH_CONCURRENCY: usize = 64;

/// A send, validated for shape by the channel that received it.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub from: UserId,
    pub to: UserId,
    pub msg_random: u32,
    pub msg_seq: Option<u32>,
    pub body: Vec<Element>,
    pub cloud_custom_data: String,
    pub sync_other_machine: SyncOtherMachine,
    pub lifetime_seconds: i32,
    pub offline_push: Option<OfflinePushInfo>,
    pub need_read_receipt: bool,
    pub import_mode: ImportMode,
    /// The message's time, for imports of old messages (ms); `None` = now.
    pub sent_at: Option<i64>,
    /// One of a batch send: the MsgKey is shared by every recipient.
    pub batch: bool,
    /// `ForbidCallbackControl`: `ForbidBeforeSendMsgCallback`.
    pub forbid_before_send_callback: bool,
    /// `ForbidCallbackControl`: `ForbidAfterSendMsgCallback` (recorded in the event).
    pub forbid_after_send_callback: bool,
    /// Tencent's REST API de-duplicates a send without `MsgSeq` only within
    /// one second (`MsgRandom` "de-duplicates within the same second"): the
    /// Unix second the send arrived in (an import: its `MsgTimeStamp`) then
    /// enters its key. `None` (devices, the commands topic): a repeat of the
    /// same content is a retry for as long as history holds the message.
    pub dedupe_second: Option<i64>,
    /// Tencent's `SendMsgControl`.
    pub control: SendControl,
    /// The end user's address, where missive knows it (a WebSocket
    /// session's peer): the callbacks' `ClientIP`, recorded in the event.
    /// `None` for REST and the commands topic (the app server sends those).
    pub client_ip: Option<String>,
}

/// Tencent's `SendMsgControl` options of one message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendControl {
    /// `NoUnread`: the message does not count as unread.
    pub no_unread: bool,
    /// `NoLastMsg`: it does not become the conversation's last message.
    pub no_last_msg: bool,
    /// `WithMuteNotifications`: honour the recipient's mute of the sender.
    /// missive has no per-conversation mute, so nothing is ever muted.
    pub with_mute_notifications: bool,
}

impl SendRequest {
    /// A plain send of `body` with Tencent's defaults.
    pub fn new(from: UserId, to: UserId, msg_random: u32, body: Vec<Element>) -> Self {
        Self {
            from,
            to,
            msg_random,
            msg_seq: None,
            body,
            cloud_custom_data: String::new(),
            sync_other_machine: SyncOtherMachine::Sync,
            lifetime_seconds: MAX_LIFETIME_SECONDS,
            offline_push: None,
            need_read_receipt: false,
            import_mode: ImportMode::None,
            sent_at: None,
            batch: false,
            forbid_before_send_callback: false,
            forbid_after_send_callback: false,
            dedupe_second: None,
            control: SendControl::default(),
            client_ip: None,
        }
    }
}

/// What the sender is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub msg_key: String,
    /// Unix seconds (Tencent `MsgTime`).
    pub msg_time: i64,
    pub msg_seq: u32,
    /// True when this was a retry of a message already sent: in history, or
    /// appended by this instance lately. Nothing new was appended.
    pub duplicate: bool,
}

/// What a batch send did: the shared MsgKey once any copy was accepted, and
/// the recipients refused, with the code.
#[derive(Debug, Default)]
pub struct BatchReceipt {
    pub msg_key: Option<String>,
    pub refused: Vec<(UserId, ErrorCode)>,
}

#[derive(Clone)]
pub struct SendPipeline {
    config: Arc<Config>,
    /// Every send's probe of the views, shared by the sends that arrive
    /// together.
    probes: SendProbes,
    appender: EventAppender,
    /// What this instance appended lately, by (conversation, MsgKey): a
    /// retry that arrives before the projector stored the first copy is
    /// answered from here (duplicate, original MsgTime) and appends nothing.
    /// Concurrent identical sends are coalesced into one append. Bounded in
    /// entries and time (`ingest.recent_sends_*`); past the window, history
    /// answers retries, and the projector keeps one copy of a key either way.
    recent: Cache<(String, String), SendReceipt>,
    /// The app server's `C2C.CallbackBeforeSendMsg` (off unless configured).
    before_send: missive_callbacks::BeforeSend,
}

impl SendPipeline {
    pub fn new(config: Arc<Config>, pool: Pool, appender: EventAppender) -> Self {
        let recent = Cache::builder()
            .max_capacity(config.ingest.recent_sends_max)
            .time_to_live(Duration::from_secs(config.ingest.recent_sends_window_secs))
            .build();
        Self {
            before_send: missive_callbacks::BeforeSend::from_config(&config),
            config,
            probes: SendProbes::new(pool),
            appender,
            recent,
        }
    }

    pub fn appender(&self) -> &EventAppender {
        &self.appender
    }

    pub async fn send(&self, actor: &Actor, req: SendRequest) -> Result<SendReceipt, ApiError> {
        if !actor.admin && req.from != actor.identifier.as_str() {
            return Err(ApiError::new(
                ErrorCode::MsgAdminRequired,
                "only the app administrator may send as another user",
            ));
        }
        if !(0..=MAX_LIFETIME_SECONDS).contains(&req.lifetime_seconds) {
            return Err(ApiError::new(
                ErrorCode::MsgLifeTimeRange,
                format!(
                    "MsgLifeTime is {}; it must be between 0 and {MAX_LIFETIME_SECONDS} seconds",
                    req.lifetime_seconds
                ),
            ));
        }
        // Only a send without MsgSeq needs its content in the key.
        let content = match req.msg_seq {
            Some(_) => [0; 32],
            None => {
                let content = msg_key::content_digest(
                    msgbody::render(&req.body).to_string().as_bytes(),
                    &req.cloud_custom_data,
                );
                match req.dedupe_second {
                    Some(second) => msg_key::within_second(&content, second),
                    None => content,
                }
            }
        };
        let key_to = if req.batch {
            msg_key::BATCH_RECIPIENT
        } else {
            &req.to
        };
        let derived = msg_key::derive(
            self.config.sdkappid,
            &req.from,
            key_to,
            req.msg_seq,
            req.msg_random,
            &content,
        );
        let conversation = conversation_id(&req.from, &req.to);
        // On a task of its own: a client that gives up (a timeout, a closed
        // connection) does not cut an append short, so the retry it sends
        // next finds the answer here.
        let this = self.clone();
        let actor = actor.clone();
        let slot = (conversation.clone(), derived.msg_key.clone());
        let sent = tokio::spawn(async move {
            let entry = this
                .recent
                .entry(slot)
                .or_try_insert_with(this.send_new(&actor, req, derived, conversation))
                .await
                .map_err(|e| (*e).clone())?;
            let mut receipt = entry.value().clone();
            if !entry.is_fresh() {
                // Answered by an append (or a lookup) another call made.
                metrics::counter!("missive_ingest_send_retries_total").increment(1);
                receipt.duplicate = true;
            }
            Ok(receipt)
        });
        sent.await.map_err(|e| {
            tracing::error!(error = %e, "send task failed");
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the send failed; retry with the same MsgRandom and MsgSeq",
            )
        })?
    }

    /// One message to many recipients (`template.to` is replaced by each),
    /// sharing one MsgKey; a failure for one recipient does not stop the
    /// others. Recipients listed twice get one copy.
    pub async fn send_batch(
        &self,
        actor: &Actor,
        mut template: SendRequest,
        recipients: Vec<UserId>,
    ) -> BatchReceipt {
        template.batch = true;
        let mut seen = std::collections::HashSet::new();
        let sends = recipients
            .into_iter()
            .filter(|to| seen.insert(to.clone()))
            .map(|to| SendRequest {
                to,
                ..template.clone()
            });
        let results: Vec<_> = futures::stream::iter(sends.map(|req| {
            let to = req.to.clone();
            async move { (to, self.send(actor, req).await) }
        }))
        .buffered(BATCH_CONCURRENCY)
        .collect()
        .await;
        let mut receipt = BatchReceipt::default();
        for (to, result) in results {
            match result {
                Ok(r) => receipt.msg_key = Some(r.msg_key),
                Err(e) => receipt.refused.push((to, e.code)),
            }
        }
        receipt
    }

    /// Whether an administrator's send is held to the sender's own rules:
    /// with `permissions.check_rest_sends`, a REST send (not an import) made
    /// as another user.
    fn checked_as_user(&self, actor: &Actor, req: &SendRequest) -> bool {
        self.config.permissions.check_rest_sends
            && actor.channel == Channel::Rest
            && req.from != actor.identifier.as_str()
            && req.import_mode == ImportMode::None
    }

    /// A send this instance has not appended lately: answered from history
    /// if it is a retry of a stored message, else decided and appended.
    async fn send_new(
        &self,
        actor: &Actor,
        req: SendRequest,
        derived: msg_key::Derived,
        conversation: String,
    ) -> Result<SendReceipt, ApiError> {
        let msg_key::Derived { msg_seq, msg_key } = derived;
        let mut req = req;
        // One round trip, shared with the sends arriving meanwhile: a retry
        // of a stored message, the sender's profile, and the relationship the
        // decision rests on.
        let context = self
            .probes
            .probe(SendKey {
                conversation_id: conversation.clone(),
                msg_key: msg_key.clone(),
                sender: req.from.to_string(),
                recipient: req.to.to_string(),
            })
            .await?;
        // A retry of a message already projected gets its original answer and
        // appends nothing.
        if let Some(sent_at_ms) = context.existing_sent_at_ms {
            metrics::counter!("missive_ingest_send_retries_total").increment(1);
            return Ok(SendReceipt {
                msg_key,
                msg_time: sent_at_ms / 1000,
                msg_seq,
                duplicate: true,
            });
        }
        super::account_rules::check_send(&self.config, actor, &req, &context)?;
        // The decision is taken here, against the views, and recorded in the
        // event; nothing downstream decides again.
        let decision = if actor.admin && !self.checked_as_user(actor, &req) {
            Decision::Deliver
        } else {
            decide(&self.config.permissions, &context.relationship)?
        };
        let sent_at = req.sent_at.unwrap_or_else(time::now_millis);
        // ---- C2C.CallbackBeforeSendMsg: the app server may refuse, drop or
        // rewrite; its verdict goes into the event (docs/callbacks.md). ----
        let before_send_callback = super::before_send::consult(
            &self.before_send,
            actor,
            &mut req,
            decision,
            &msg_key,
            msg_seq,
            sent_at,
        )
        .await?;
        let event = Event::MessageSent(Box::new(MessageSent {
            msg_key: msg_key.clone(),
            conversation_id: conversation,
            from_account: req.from.into_string(),
            to_account: req.to.into_string(),
            msg_random: i64::from(req.msg_random),
            msg_seq: i64::from(msg_seq),
            sent_at,
            body: req.body,
            cloud_custom_data: req.cloud_custom_data,
            sender_profile: context.sender,
            sync_other_machine: req.sync_other_machine,
            lifetime_seconds: req.lifetime_seconds,
            offline_push: req.offline_push,
            need_read_receipt: req.need_read_receipt,
            import_mode: req.import_mode,
            decision,
            before_send_callback,
            forbid_after_send_callback: req.forbid_after_send_callback,
            no_unread: req.control.no_unread,
            no_last_msg: req.control.no_last_msg,
            client_ip: req.client_ip,
        }));
        self.appender.append_event(actor, event).await?;
        Ok(SendReceipt {
            msg_key,
            msg_time: sent_at / 1000,
            msg_seq,
            duplicate: false,
        })
    }
}

/// Kinds of the system notifications missive emits itself (source BUILTIN).
pub mod builtin {
    /// Two users became friends; sent in their conversation.
    pub const FRIEND_ADDED: &str = "missive.friend_added";
}

/// A system notification from missive itself in the conversation of `from`
/// and `to`, appended with the change that caused it. Its MsgKey (`sys_` and
/// a fresh UUIDv7) is unique; the views keep it like any message.
pub fn builtin_notice(
    from: &str,
    to: &str,
    kind: &str,
    text: &str,
    data: serde_json::Value,
) -> MessageSent {
    let now = time::now_millis();
    MessageSent {
        msg_key: format!("sys_{}", Uuid::now_v7().simple()),
        conversation_id: conversation_id(from, to),
        from_account: from.to_owned(),
        to_account: to.to_owned(),
        msg_random: 0,
        msg_seq: 0,
        sent_at: now,
        body: vec![Element::System(missive_schemas::SystemElem {
            source: missive_schemas::SystemSource::Builtin,
            kind: kind.to_owned(),
            text: text.to_owned(),
            data: data.to_string(),
        })],
        cloud_custom_data: String::new(),
        sender_profile: missive_schemas::SenderProfile::default(),
        sync_other_machine: SyncOtherMachine::Sync,
        lifetime_seconds: MAX_LIFETIME_SECONDS,
        offline_push: None,
        need_read_receipt: false,
        import_mode: ImportMode::None,
        decision: Decision::Deliver,
        before_send_callback: None,
        forbid_after_send_callback: false,
        no_unread: false,
        no_last_msg: false,
        client_ip: None,
    }
}

/// Tencent's rules for a client send: a block first (so a dropped message
/// stays indistinguishable from a delivered one), then friends-only.
pub fn decide(rules: &PermissionsConfig, rel: &Relationship) -> Result<Decision, ApiError> {
    if rel.recipient_blocks_sender {
        return match rules.block_mode {
            BlockMode::Drop => Ok(Decision::DropBlocked),
            BlockMode::Refuse => Err(ApiError::new(
                ErrorCode::Blocked,
                "the recipient has blocked the sender",
            )),
        };
    }
    if rules.friends_only {
        match (rel.sender_lists_recipient, rel.recipient_lists_sender) {
            (true, true) => {}
            (false, false) => {
                return Err(ApiError::new(
                    ErrorCode::NotFriends,
                    "one-to-one chat is limited to friends and the two are not friends",
                ))
            }
            (true, false) => {
                return Err(ApiError::new(
                    ErrorCode::SenderNotFriendOfRecipient,
                    "the sender is not in the recipient's friend list",
                ))
            }
            (false, true) => {
                return Err(ApiError::new(
                    ErrorCode::RecipientNotFriendOfSender,
                    "the recipient is not in the sender's friend list",
                ))
            }
        }
    }
    Ok(Decision::Deliver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_tencents_rules() {
        let open = PermissionsConfig::default();
        let strict = PermissionsConfig {
            friends_only: true,
            block_mode: BlockMode::Refuse,
            ..PermissionsConfig::default()
        };
        let rel = |blocked, s_lists_r, r_lists_s| Relationship {
            recipient_blocks_sender: blocked,
            sender_lists_recipient: s_lists_r,
            recipient_lists_sender: r_lists_s,
            sender_blocks_recipient: false,
        };
        let code = |r: Result<Decision, ApiError>| r.unwrap_err().code;
        // Strangers may talk by default; a block drops silently by default.
        assert_eq!(
            decide(&open, &rel(false, false, false)).unwrap(),
            Decision::Deliver
        );
        assert_eq!(
            decide(&open, &rel(true, true, true)).unwrap(),
            Decision::DropBlocked
        );
        // Friends-only with refusals.
        assert_eq!(
            decide(&strict, &rel(false, true, true)).unwrap(),
            Decision::Deliver
        );
        assert_eq!(
            code(decide(&strict, &rel(false, false, false))),
            ErrorCode::NotFriends
        );
        assert_eq!(
            code(decide(&strict, &rel(false, true, false))),
            ErrorCode::SenderNotFriendOfRecipient
        );
        assert_eq!(
            code(decide(&strict, &rel(false, false, true))),
            ErrorCode::RecipientNotFriendOfSender
        );
        assert_eq!(
            code(decide(&strict, &rel(true, true, true))),
            ErrorCode::Blocked
        );
        // One-way: the blocker may still message the blocked user.
        let blocker_sends = Relationship {
            sender_blocks_recipient: true,
            ..Relationship::default()
        };
        assert_eq!(
            decide(
                &strict.clone(),
                &Relationship {
                    sender_lists_recipient: true,
                    recipient_lists_sender: true,
                    ..blocker_sends
                }
            )
            .unwrap(),
            Decision::Deliver
        );
    }
}
