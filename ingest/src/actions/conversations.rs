//! A user's conversations: deleting one from their recent contacts (and,
//! optionally, their history of it), pinning it, marking it. Each is an
//! event, ordered with the messages and answered once the views hold it, so
//! a replay reproduces it.

use missive_core::{time, ApiError, UserId};
use missive_schemas::{
    conversation_id, ConversationDeleted, ConversationMarked, ConversationPinned, ConversationRead,
    Event,
};

/// What one `mark_contact` item changes on `user`'s conversation with
/// `peer`: standard bits set, then cleared; the custom mark, if given.
#[derive(Debug, Clone)]
pub struct MarkChange {
    pub peer: UserId,
    pub set_marks: i64,
    pub clear_marks: i64,
    pub custom_mark: Option<String>,
}

use super::{Actions, Actor};

impl Actions {
    /// Removes `user`'s conversation with `peer` from `user`'s recent
    /// contacts; with `clear_history`, its messages so far also leave
    /// `user`'s history (the peer's is untouched). A later message brings
    /// the conversation back.
    pub async fn delete_conversation(
        &self,
        actor: &Actor,
        user: &UserId,
        peer: &UserId,
        clear_history: bool,
    ) -> Result<(), ApiError> {
        let conversation = conversation_id(user, peer);
        // A deleted conversation has nothing unread (as Tencent's delete
        // does): the read goes first, on the same partition, so it is
        // applied first.
        let events = vec![
            Event::ConversationRead(ConversationRead {
                conversation_id: conversation.clone(),
                reader: user.to_string(),
                peer: peer.to_string(),
                read_time: time::now_millis(),
            }),
            Event::ConversationDeleted(ConversationDeleted {
                conversation_id: conversation,
                user_id: user.to_string(),
                peer: peer.to_string(),
                clear_history,
            }),
        ];
        self.changes.apply(actor, events).await
    }

    /// Pins (or unpins) `user`'s conversation with `peer` in their recent
    /// contacts; only their list changes.
    pub async fn pin_conversation(
        &self,
        actor: &Actor,
        user: &UserId,
        peer: &UserId,
        pinned: bool,
    ) -> Result<(), ApiError> {
        let event = Event::ConversationPinned(ConversationPinned {
            conversation_id: conversation_id(user, peer),
            user_id: user.to_string(),
            peer: peer.to_string(),
            pinned,
        });
        self.changes.apply(actor, vec![event]).await
    }

    /// Changes `user`'s marks on conversations, one event per change.
    pub async fn mark_conversations(
        &self,
        actor: &Actor,
        user: &UserId,
        changes: Vec<MarkChange>,
    ) -> Result<(), ApiError> {
        let events = changes
            .into_iter()
            .map(|c| {
                Event::ConversationMarked(ConversationMarked {
                    conversation_id: conversation_id(user, &c.peer),
                    user_id: user.to_string(),
                    peer: c.peer.to_string(),
                    set_marks: c.set_marks,
                    clear_marks: c.clear_marks,
                    custom_mark: c.custom_mark,
                })
            })
            .collect();
        self.changes.apply(actor, events).await
    }
}
