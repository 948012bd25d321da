//! Acting on messages already sent: recall, edit, read reports and
//! per-message read receipts. Each is
//! answered once the views hold it. The administrator (REST, commands) and
//! the sender or reader themselves (a device) act the same way.

use missive_core::{time, views, ApiError, ErrorCode, UserId};
use missive_schemas::{
    conversation_id, ConversationRead, Element, Event, MessageModified, MessageRecalled,
    MessageReceiptsSent,
};

use super::{Actions, Actor};

/// A message `from` sent to `to`, still standing (not recalled): what a
/// recall or an edit acts on.
struct OwnMessage {
    conversation_id: String,
    msg_key: String,
}

/// The longest MsgKey missive makes (`{seq}_{random}_{hex}`, `sys_{uuid}`).
const MAX_MSG_KEY_BYTES: usize = 64;

/// At most this many messages per read-receipt report.
pub const MAX_RECEIPT_KEYS: usize = 100;

fn check_msg_key(key: &str) -> Result<(), ApiError> {
    // Keys are missive's own: anything else, a NUL included, names no
    // message and is refused before the views are asked.
    if key.is_empty() || key.len() > MAX_MSG_KEY_BYTES || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::new(
            ErrorCode::MsgKeyInvalid,
            "MsgKey must be 1 to 64 printable ASCII characters",
        ));
    }
    Ok(())
}

impl Actions {
    /// The message `key` that `from` sent to `to`, unless it was recalled.
    async fn own_message(
        &self,
        from: &UserId,
        to: &UserId,
        key: &str,
    ) -> Result<OwnMessage, ApiError> {
        check_msg_key(key)?;
        let conversation = conversation_id(from, to);
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let meta = views::message_meta(&client, &conversation, key)
            .await
            .map_err(ApiError::db_unavailable)?;
        match meta {
            Some((sender, _, _)) if *from != sender.as_str() => Err(ApiError::new(
                ErrorCode::MessageNotFound,
                "From_Account did not send this message",
            )),
            Some((_, _, true)) => Err(ApiError::new(
                ErrorCode::AlreadyRecalled,
                "the message was already recalled",
            )),
            Some(_) => Ok(OwnMessage {
                conversation_id: conversation,
                msg_key: key.to_owned(),
            }),
            None => Err(ApiError::new(
                ErrorCode::MessageNotFound,
                "no message with this MsgKey between these accounts",
            )),
        }
    }

    /// Recalls the message `key` that `from` sent to `to`, for both parties.
    /// History keeps a tombstone; both parties' devices are told.
    pub async fn recall(
        &self,
        actor: &Actor,
        from: &UserId,
        to: &UserId,
        key: &str,
    ) -> Result<(), ApiError> {
        let m = self.own_message(from, to, key).await?;
        let event = Event::MessageRecalled(MessageRecalled {
            conversation_id: m.conversation_id,
            msg_key: m.msg_key,
            from_account: from.to_string(),
            to_account: to.to_string(),
        });
        self.changes.apply(actor, vec![event]).await
    }

    /// Replaces the body and/or CloudCustomData of a message `from` sent to `to`.
    pub async fn edit(
        &self,
        actor: &Actor,
        from: &UserId,
        to: &UserId,
        key: &str,
        body: Option<Vec<Element>>,
        cloud_custom_data: Option<String>,
    ) -> Result<(), ApiError> {
        let m = self.own_message(from, to, key).await?;
        let event = Event::MessageModified(MessageModified {
            conversation_id: m.conversation_id,
            msg_key: m.msg_key,
            from_account: from.to_string(),
            to_account: to.to_string(),
            body,
            cloud_custom_data,
        });
        self.changes.apply(actor, vec![event]).await
    }

    /// `reader` has read every message from `peer` sent up to `read_time`
    /// (ms; a future time counts as now); answered once unread counts
    /// reflect it.
    pub async fn mark_read(
        &self,
        actor: &Actor,
        reader: &UserId,
        peer: &UserId,
        read_time: i64,
    ) -> Result<(), ApiError> {
        let event = Event::ConversationRead(ConversationRead {
            conversation_id: conversation_id(reader, peer),
            reader: reader.to_string(),
            peer: peer.to_string(),
            read_time: read_time.min(time::now_millis()),
        });
        self.changes.apply(actor, vec![event]).await
    }

    /// `reader` has read every message from `peer` up to the one numbered
    /// `seq` in their conversation (all so far when `None`).
    pub async fn mark_read_up_to(
        &self,
        actor: &Actor,
        reader: &UserId,
        peer: &UserId,
        seq: Option<i64>,
    ) -> Result<(), ApiError> {
        let read_time = match seq {
            None => time::now_millis(),
            Some(seq) => {
                let conversation = conversation_id(reader, peer);
                let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
                let page = views::history_page(
                    &client,
                    &views::HistoryQuery {
                        conversation_id: &conversation,
                        viewer: reader,
                        min_time_ms: 0,
                        max_time_ms: i64::MAX,
                        before_seq: seq.saturating_add(1),
                        limit: 1,
                    },
                )
                .await
                .map_err(ApiError::db_unavailable)?;
                match page.first() {
                    Some(m) if m.seq == seq => m.sent_at_ms,
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!("no message with seq {seq} in this conversation"),
                        ))
                    }
                }
            }
        };
        self.mark_read(actor, reader, peer, read_time).await
    }

    /// `reader` read the messages `keys` that `peer` sent them asking for a
    /// read receipt (`IsNeedReadReceipt`); `peer`'s devices get a receipt
    /// for each not receipted before. Every key must name such a message
    /// (20022 otherwise; 20001 for one that asked for no receipt or was
    /// recalled). Answered once the views hold it.
    pub async fn send_read_receipts(
        &self,
        actor: &Actor,
        reader: &UserId,
        peer: &UserId,
        keys: Vec<String>,
    ) -> Result<(), ApiError> {
        if keys.is_empty() || keys.len() > MAX_RECEIPT_KEYS {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("give 1 to {MAX_RECEIPT_KEYS} MsgKeys"),
            ));
        }
        for key in &keys {
            check_msg_key(key)?;
        }
        let conversation = conversation_id(reader, peer);
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let wanted: Vec<&str> = keys.iter().map(String::as_str).collect();
        let found = views::receipt_requests(&client, &conversation, &wanted)
            .await
            .map_err(ApiError::db_unavailable)?;
        drop(client);
        for key in &keys {
            match found.iter().find(|(k, _, _)| k == key) {
                Some((_, to, _)) if *reader != to.as_str() => {
                    return Err(ApiError::new(
                        ErrorCode::MessageNotFound,
                        format!("{key} was not sent to the reader by the peer"),
                    ))
                }
                Some((_, _, true)) => {}
                Some(_) => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!(
                            "{key} asked for no read receipt (IsNeedReadReceipt) or was recalled"
                        ),
                    ))
                }
                None => {
                    return Err(ApiError::new(
                        ErrorCode::MessageNotFound,
                        format!("no message {key} between these accounts"),
                    ))
                }
            }
        }
        // Each message once, in the reader's order.
        let mut seen = std::collections::HashSet::new();
        let mut keys = keys;
        keys.retain(|k| seen.insert(k.clone()));
        let event = Event::MessageReceiptsSent(MessageReceiptsSent {
            conversation_id: conversation,
            reader: reader.to_string(),
            peer: peer.to_string(),
            msg_keys: keys,
        });
        self.changes.apply(actor, vec![event]).await
    }
}
