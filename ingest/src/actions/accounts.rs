//! Accounts and their profiles: imports (an account must exist before
//! relationships name it) and profile changes, each answered once the views
//! hold it. Account lifecycle actions (check, delete, kick, mute) belong in
//! this file as well.

use missive_core::{views, ApiError, ErrorCode, UserId};
use missive_schemas::{AccountImported, Event, ProfileUpdated};

use super::{Actions, Actor};

/// Longest nickname or avatar URL (Tencent's profile field limit).
pub const MAX_PROFILE_VALUE_BYTES: usize = 500;

/// Tencent's 500-byte limit on a profile value (40601), naming `field`.
pub fn check_profile_value(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_PROFILE_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::ProfileValueTooLong,
            format!(
                "{field} is {} bytes; at most {MAX_PROFILE_VALUE_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// An account to import, with its profile (values already checked).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub user_id: UserId,
    pub nickname: String,
    pub avatar_url: String,
}

/// A profile change: `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct ProfileChange {
    pub user_id: UserId,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
}

impl Actions {
    /// Imports `accounts` (importing an existing one again updates its profile).
    pub async fn import_accounts(
        &self,
        actor: &Actor,
        accounts: Vec<NewAccount>,
    ) -> Result<(), ApiError> {
        let events = accounts
            .into_iter()
            .map(|a| {
                Event::AccountImported(AccountImported {
                    user_id: a.user_id.into_string(),
                    nickname: a.nickname,
                    avatar_url: a.avatar_url,
                })
            })
            .collect();
        self.changes.apply(actor, events).await
    }

    /// Changes an imported account's profile (40006 if it was never imported).
    pub async fn set_profile(&self, actor: &Actor, change: ProfileChange) -> Result<(), ApiError> {
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        if views::accounts_among(&client, &[change.user_id.as_str()])
            .await
            .map_err(ApiError::db_unavailable)?
            .is_empty()
        {
            return Err(ApiError::new(
                ErrorCode::ProfileAccountNotFound,
                format!("account `{}` was never imported", change.user_id),
            ));
        }
        drop(client);
        let event = Event::ProfileUpdated(ProfileUpdated {
            user_id: change.user_id.into_string(),
            nickname: change.nickname,
            avatar_url: change.avatar_url,
        });
        self.changes.apply(actor, vec![event]).await
    }
}
