//! Tencent's conversation fields: `recentcontact/delete` (`From_Account`,
//! `Type`, `To_Account`, `ClearRamble`).

use missive_core::{ApiError, ErrorCode, UserId};

use super::fields::Body;

/// Tencent's conversation `Type` for one-to-one chats (2 is a group).
const ONE_TO_ONE: i64 = 1;

/// A one-to-one conversation to delete from `user`'s recent contacts.
#[derive(Debug, Clone)]
pub struct ConversationDelete {
    pub user: UserId,
    pub peer: UserId,
    /// `ClearRamble` 1: its messages so far also leave `user`'s history.
    pub clear_history: bool,
}

/// A `recentcontact/delete` body. missive has one-to-one conversations
/// only, so any `Type` but 1 is refused.
pub fn parse_delete(body: &Body<'_>) -> Result<ConversationDelete, ApiError> {
    let user = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    let user = UserId::parse(user, "From_Account", ErrorCode::FromAccountInvalid)?;
    match body.i64("Type", ErrorCode::InvalidRequest)? {
        ONE_TO_ONE => {}
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Type is {other}; missive has one-to-one conversations only (Type 1)"),
            ))
        }
    }
    let peer = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    let peer = UserId::parse(peer, "To_Account", ErrorCode::ToAccountInvalid)?;
    let clear_history = match body.opt_i64("ClearRamble", ErrorCode::InvalidRequest)? {
        None | Some(0) => false,
        Some(1) => true,
        Some(v) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("ClearRamble is {v}; it must be 0 or 1"),
            ))
        }
    };
    Ok(ConversationDelete {
        user,
        peer,
        clear_history,
    })
}
