//! Tencent's per-item results of relationship requests (`ResultCode`,
//! `ResultInfo`), from the actions' [`Outcome`]s.

use missive_core::ErrorCode;

use crate::actions::relationships::RelationshipChange;
use crate::actions::Outcome;

/// Tencent's result for a target already as asked: an error item, as in
/// Tencent IM (a retried REST call sees it; a retried command counts it done).
pub fn already(change: RelationshipChange) -> (ErrorCode, &'static str) {
    match change {
        RelationshipChange::AddFriend { .. } => (
            ErrorCode::SnsInvalidRequest,
            "Err_SNS_FriendAdd_Friend_Exist: already friends",
        ),
        RelationshipChange::DeleteFriend { .. } => {
            (ErrorCode::SnsNotFriends, "not in your friend list")
        }
        RelationshipChange::Block => (
            ErrorCode::SnsInvalidRequest,
            "Err_SNS_BlackListAdd_Already_Exist: already blocked",
        ),
        RelationshipChange::Unblock => (ErrorCode::SnsInvalidRequest, "not in your blocklist"),
    }
}

/// `(ResultCode, ResultInfo)` of one item.
pub fn item_result(change: RelationshipChange, outcome: &Outcome) -> (u32, String) {
    match outcome {
        Outcome::Done => (0, String::new()),
        Outcome::AlreadyDone => {
            let (code, info) = already(change);
            (code.code(), info.to_owned())
        }
        Outcome::Refused(code, info) => (code.code(), info.clone()),
    }
}
