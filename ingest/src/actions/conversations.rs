//! A user's conversations: deleting one from their recent contacts (and,
//! optionally, their history of it). An event, ordered with the messages and
//! answered once the views hold it, so a replay reproduces it.

use missive_core::{time, ApiError, UserId};
use missive_schemas::{conversation_id, ConversationDeleted, ConversationRead, Event};

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
}
