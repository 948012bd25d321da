//! Friends and blocklists. A request names one user and many targets; each
//! target gets its own [`Outcome`] (Tencent answers item by item), and the
//! changes that pass are appended together and answered once the views
//! include them, so a send that follows a block always sees it.

use std::collections::HashSet;

use serde_json::json;

use missive_core::{views, ApiError, ErrorCode, UserId};
use missive_schemas::{BlockChange, Event, FriendAdded, FriendChange};

use super::send::{builtin, builtin_notice};
use super::{Actions, Actor, Outcome};

/// One kind of relationship change, applied to every target of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationshipChange {
    /// `both`: each becomes the other's friend; else only the target joins
    /// the user's list.
    AddFriend {
        both: bool,
    },
    /// `both`: each leaves the other's list.
    DeleteFriend {
        both: bool,
    },
    Block,
    Unblock,
}

impl Actions {
    /// Applies `change` from `from` to each of `targets`; the outcomes are
    /// in the order of `targets`. `Err` refuses the whole request (`from`
    /// was never imported, the views are unavailable).
    pub async fn change_relationships(
        &self,
        actor: &Actor,
        from: &UserId,
        change: RelationshipChange,
        targets: &[UserId],
    ) -> Result<Vec<Outcome>, ApiError> {
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let known = accounts(&client, from, targets).await?;
        let ids: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
        let rels = views::relationships(&client, from, &ids)
            .await
            .map_err(ApiError::db_unavailable)?;
        drop(client);
        let mut outcomes = Vec::with_capacity(targets.len());
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        let invalid = ErrorCode::SnsInvalidRequest;
        for (to, rel) in targets.iter().zip(rels) {
            let (must_exist, self_action) = match change {
                RelationshipChange::AddFriend { .. } => (true, Some("add yourself as a friend")),
                RelationshipChange::Block => (true, Some("block yourself")),
                RelationshipChange::Unblock => (false, Some("block yourself")),
                // Deleting is checked against the lists only.
                RelationshipChange::DeleteFriend { .. } => (false, None),
            };
            if let Some(self_action) = self_action {
                let refused = if !seen.insert(to) {
                    Some(Outcome::Refused(invalid, "listed more than once".into()))
                } else if to == from {
                    Some(Outcome::Refused(invalid, format!("cannot {self_action}")))
                } else if must_exist && !known.contains(to.as_str()) {
                    Some(Outcome::Refused(
                        ErrorCode::SnsAccountNotFound,
                        "account was never imported".into(),
                    ))
                } else {
                    None
                };
                if let Some(refused) = refused {
                    outcomes.push(refused);
                    continue;
                }
            }
            let outcome = match change {
                RelationshipChange::AddFriend { both } => {
                    if rel.sender_blocks_recipient {
                        Outcome::Refused(
                            ErrorCode::SnsInYourBlocklist,
                            "the user is in your blocklist".into(),
                        )
                    } else if rel.recipient_blocks_sender {
                        Outcome::Refused(
                            ErrorCode::SnsInTheirBlocklist,
                            "you are in the user's blocklist".into(),
                        )
                    } else if rel.sender_lists_recipient && (!both || rel.recipient_lists_sender) {
                        Outcome::AlreadyDone
                    } else {
                        events.push(Event::FriendAdded(FriendAdded::plain(
                            from.as_str(),
                            to.as_str(),
                            both,
                        )));
                        // Both sides see "you are now friends" in their conversation.
                        events.push(Event::MessageSent(Box::new(builtin_notice(
                            from,
                            to,
                            builtin::FRIEND_ADDED,
                            "",
                            json!({"user": from.as_str(), "friend": to.as_str(), "both": both}),
                        ))));
                        Outcome::Done
                    }
                }
                RelationshipChange::DeleteFriend { both } => {
                    if rel.sender_lists_recipient || (both && rel.recipient_lists_sender) {
                        events.push(Event::FriendDeleted(FriendChange {
                            user_id: from.to_string(),
                            friend_id: to.to_string(),
                            both,
                        }));
                        Outcome::Done
                    } else {
                        Outcome::AlreadyDone
                    }
                }
                RelationshipChange::Block | RelationshipChange::Unblock => {
                    let add = change == RelationshipChange::Block;
                    if add == rel.sender_blocks_recipient {
                        Outcome::AlreadyDone
                    } else {
                        let c = BlockChange {
                            user_id: from.to_string(),
                            blocked_id: to.to_string(),
                        };
                        events.push(if add {
                            Event::BlockAdded(c)
                        } else {
                            Event::BlockRemoved(c)
                        });
                        Outcome::Done
                    }
                }
            };
            outcomes.push(outcome);
        }
        self.changes.apply(actor, events).await?;
        Ok(outcomes)
    }
}

/// The accounts among `targets`, and a 30003 error if `from` is not one.
async fn accounts(
    client: &deadpool_postgres::Client,
    from: &UserId,
    targets: &[UserId],
) -> Result<HashSet<String>, ApiError> {
    let mut ids: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
    ids.push(from);
    let known = views::accounts_among(client, &ids)
        .await
        .map_err(ApiError::db_unavailable)?;
    if !known.contains(from.as_str()) {
        return Err(ApiError::new(
            ErrorCode::SnsAccountNotFound,
            format!("account `{from}` was never imported"),
        ));
    }
    Ok(known)
}
