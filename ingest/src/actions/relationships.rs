//! Friends, blocklists and friend requests. A request names one user and
//! many targets; each target gets its own [`Outcome`] (Tencent answers item
//! by item), and the changes that pass are appended together and answered
//! once the views include them, so a send that follows a block always sees it.

use std::collections::HashSet;

use serde_json::json;

use missive_core::views::{self, AllowType, FriendSettings};
use missive_core::{ApiError, ErrorCode, UserId};
use missive_schemas::{
    BlockChange, Event, FriendAdded, FriendChange, FriendRequestAnswered, FriendRequested,
    FriendUpdated, TagValue,
};

use super::send::{builtin, builtin_notice};
use super::{Actions, Actor, Outcome};

/// How a friend is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddMode {
    /// A friend request: the target's `AllowType` decides (added, refused,
    /// or pending their answer) and a sender the administrator forbade to
    /// send requests is refused (Tencent friend_add).
    Request,
    /// Added whatever the target's `AllowType` (Tencent `ForceAddFlags` 1;
    /// the commands topic).
    Force,
    /// Carried over from another system: one way, no notice (Tencent friend_import).
    Import,
}

/// One kind of relationship change, applied to every target of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationshipChange {
    /// `both`: each becomes the other's friend; else only the target joins
    /// the user's list.
    AddFriend {
        both: bool,
        mode: AddMode,
    },
    /// `both`: each leaves the other's list.
    DeleteFriend {
        both: bool,
    },
    Block,
    Unblock,
}

/// The adder's entry for a new friend (values already checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FriendEntry {
    pub remark: String,
    pub groups: Vec<String>,
    pub add_source: String,
    pub add_wording: String,
    pub custom: Vec<TagValue>,
    /// When the friendship began, for an import; `None`: now.
    pub added_at_ms: Option<i64>,
}

/// A change to an entry of one's friend list: `None` leaves a field as it
/// is; each of `custom` replaces its tag's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FriendUpdate {
    pub remark: Option<String>,
    pub groups: Option<Vec<String>>,
    pub custom: Vec<TagValue>,
}

/// An answer to a pending friend request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendResponse {
    /// The requester gets the answerer in their list.
    Agree,
    /// Both get each other.
    AgreeAndAdd,
    Reject,
}

impl Actions {
    /// Applies `change` from `from` to each of `targets`; the outcomes are
    /// in the order of `targets`. `Err` refuses the whole request (`from`
    /// was never imported, the views are unavailable).
    ///
    /// `entries` (adds only) holds the adder's entry for each target, in the
    /// order of `targets`; empty, every entry is blank.
    pub async fn change_relationships(
        &self,
        actor: &Actor,
        from: &UserId,
        change: RelationshipChange,
        targets: &[UserId],
        entries: &[FriendEntry],
    ) -> Result<Vec<Outcome>, ApiError> {
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let known = accounts(&client, from, targets).await?;
        let ids: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
        let rels = views::relationships(&client, from, &ids)
            .await
            .map_err(ApiError::db_unavailable)?;
        let settings = match change {
            RelationshipChange::AddFriend {
                mode: AddMode::Request,
                ..
            } => {
                let mut users = ids.clone();
                users.push(from.as_str());
                views::friend_settings(&client, &users)
                    .await
                    .map_err(ApiError::db_unavailable)?
            }
            _ => Default::default(),
        };
        drop(client);
        // Tencent's defaults for a user without a profile row.
        let settings_of = |u: &str| {
            settings.get(u).copied().unwrap_or(FriendSettings {
                allow: AllowType::NeedConfirm,
                send_forbidden: false,
            })
        };
        let blank = FriendEntry::default();
        let mut outcomes = Vec::with_capacity(targets.len());
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        let invalid = ErrorCode::SnsInvalidRequest;
        for (i, (to, rel)) in targets.iter().zip(rels).enumerate() {
            let entry = entries.get(i).unwrap_or(&blank);
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
                RelationshipChange::AddFriend { both, mode } => {
                    let both = both && mode != AddMode::Import;
                    let request = mode == AddMode::Request;
                    if request && settings_of(from).send_forbidden {
                        Outcome::Refused(
                            ErrorCode::SnsAddForbidden,
                            "the administrator forbade this user to send friend requests".into(),
                        )
                    } else if rel.sender_blocks_recipient {
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
                    } else if request && settings_of(to).allow == AllowType::DenyAny {
                        Outcome::Refused(
                            ErrorCode::SnsTargetDeniesRequests,
                            "the user refuses every friend request (AllowType_Type_DenyAny)".into(),
                        )
                    } else if request && settings_of(to).allow == AllowType::NeedConfirm {
                        events.push(Event::FriendRequested(FriendRequested {
                            user_id: from.to_string(),
                            friend_id: to.to_string(),
                            both,
                            remark: entry.remark.clone(),
                            groups: entry.groups.clone(),
                            add_source: entry.add_source.clone(),
                            add_wording: entry.add_wording.clone(),
                        }));
                        Outcome::Refused(
                            ErrorCode::SnsRequestPending,
                            "the user confirms friend requests (AllowType_Type_NeedConfirm): \
                             the request waits for their answer"
                                .into(),
                        )
                    } else {
                        add_friend(&mut events, from, to, both, entry, mode == AddMode::Import);
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

/// Appends `from` adding `to` (and, unless imported, the "you are now
/// friends" notice both sides see in their conversation).
fn add_friend(
    events: &mut Vec<Event>,
    from: &UserId,
    to: &UserId,
    both: bool,
    entry: &FriendEntry,
    imported: bool,
) {
    events.push(Event::FriendAdded(FriendAdded {
        remark: entry.remark.clone(),
        groups: entry.groups.clone(),
        add_source: entry.add_source.clone(),
        add_wording: entry.add_wording.clone(),
        added_at: entry.added_at_ms,
        custom: entry.custom.clone(),
        imported,
        ..FriendAdded::plain(from.as_str(), to.as_str(), both)
    }));
    if !imported {
        events.push(Event::MessageSent(Box::new(builtin_notice(
            from,
            to,
            builtin::FRIEND_ADDED,
            "",
            json!({"user": from.as_str(), "friend": to.as_str(), "both": both}),
        ))));
    }
}

impl Actions {
    /// Changes `from`'s entries for friends (Tencent friend_update); a
    /// target not in `from`'s list is refused with 30001.
    pub async fn update_friends(
        &self,
        actor: &Actor,
        from: &UserId,
        updates: &[(UserId, FriendUpdate)],
    ) -> Result<Vec<Outcome>, ApiError> {
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let targets: Vec<UserId> = updates.iter().map(|(t, _)| t.clone()).collect();
        accounts(&client, from, &targets).await?;
        let ids: Vec<&str> = targets.iter().map(UserId::as_str).collect();
        let friends = views::friends_among(&client, from, &ids)
            .await
            .map_err(ApiError::db_unavailable)?;
        drop(client);
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        let outcomes = updates
            .iter()
            .map(|(to, u)| {
                if !seen.insert(to) {
                    Outcome::Refused(ErrorCode::SnsInvalidRequest, "listed more than once".into())
                } else if !friends.contains_key(to.as_str()) {
                    Outcome::Refused(
                        ErrorCode::SnsInvalidRequest,
                        "not in your friend list".into(),
                    )
                } else {
                    events.push(Event::FriendUpdated(FriendUpdated {
                        user_id: from.to_string(),
                        friend_id: to.to_string(),
                        remark: u.remark.clone(),
                        groups: u.groups.clone(),
                        custom: u.custom.clone(),
                    }));
                    Outcome::Done
                }
            })
            .collect();
        self.changes.apply(actor, events).await?;
        Ok(outcomes)
    }

    /// `user` answers the pending friend requests of each requester; one
    /// with no pending request to `user` is refused with 30001.
    pub async fn answer_friend_requests(
        &self,
        actor: &Actor,
        user: &UserId,
        answers: &[(UserId, FriendResponse)],
    ) -> Result<Vec<Outcome>, ApiError> {
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let requesters: Vec<UserId> = answers.iter().map(|(r, _)| r.clone()).collect();
        accounts(&client, user, &requesters).await?;
        let ids: Vec<&str> = requesters.iter().map(UserId::as_str).collect();
        let pending = views::friend_requests_to(&client, user, &ids)
            .await
            .map_err(ApiError::db_unavailable)?;
        drop(client);
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        let outcomes = answers
            .iter()
            .map(|(requester, response)| {
                let Some(request) = pending
                    .get(requester.as_str())
                    .filter(|_| seen.insert(requester))
                else {
                    return Outcome::Refused(
                        ErrorCode::SnsInvalidRequest,
                        "no pending friend request from this user".into(),
                    );
                };
                let accepted = *response != FriendResponse::Reject;
                events.push(Event::FriendRequestAnswered(FriendRequestAnswered {
                    user_id: user.to_string(),
                    requester: requester.to_string(),
                    accepted,
                }));
                if accepted {
                    let entry = FriendEntry {
                        remark: request.remark.clone(),
                        groups: request.groups.clone(),
                        add_source: request.add_source.clone(),
                        add_wording: request.add_wording.clone(),
                        ..FriendEntry::default()
                    };
                    let both = *response == FriendResponse::AgreeAndAdd;
                    add_friend(&mut events, requester, user, both, &entry, false);
                }
                Outcome::Done
            })
            .collect();
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
