//! Accounts and their profiles: imports (an account must exist before
//! relationships name it), profile changes, and the lifecycle (check,
//! delete, kick, one-to-one mute; issue #18), each change an event answered
//! once the views hold it.

use missive_core::views::{self, Lifecycle};
use missive_core::{time, ApiError, ErrorCode, UserId};
use missive_schemas::{
    AccountChange, AccountImported, Event, NoSpeakingSet, ProfileUpdated, TagValue,
};

use super::{Actions, Actor, Outcome};

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

/// A profile change: `None` leaves a field as it is; each of `fields`
/// (the other Tencent tags, values already checked) replaces its tag's value.
#[derive(Debug, Clone)]
pub struct ProfileChange {
    pub user_id: UserId,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub fields: Vec<TagValue>,
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
            fields: change.fields,
        });
        self.changes.apply(actor, vec![event]).await
    }
}

/// `C2CmsgNospeakingTime` meaning "for ever".
pub const MUTE_FOREVER_SECONDS: i64 = 4_294_967_295;

fn exists(l: &Lifecycle) -> bool {
    l.imported && !l.deleted
}

fn not_found(user: &UserId) -> ApiError {
    ApiError::new(
        ErrorCode::AccountNotFound,
        format!("{user:?} is not an account: it was never imported, or was deleted"),
    )
}

impl Actions {
    /// The lifecycle state of each of `users`, in order.
    async fn lifecycles(&self, users: &[UserId]) -> Result<Vec<Lifecycle>, ApiError> {
        let client = self.pool.get().await.map_err(ApiError::db_unavailable)?;
        let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
        views::lifecycles(&client, &ids)
            .await
            .map_err(ApiError::db_unavailable)
    }

    /// Whether each of `users` is an account (imported and not deleted).
    pub async fn accounts_exist(&self, users: &[UserId]) -> Result<Vec<bool>, ApiError> {
        Ok(self.lifecycles(users).await?.iter().map(exists).collect())
    }

    /// Deletes each existing account of `users` (an AccountDeleted event
    /// each); the others are refused with 70107.
    pub async fn delete_accounts(
        &self,
        actor: &Actor,
        users: &[UserId],
    ) -> Result<Vec<Outcome>, ApiError> {
        let states = self.lifecycles(users).await?;
        let mut events = Vec::new();
        let outcomes = users
            .iter()
            .zip(&states)
            .map(|(u, l)| {
                if exists(l) {
                    events.push(Event::AccountDeleted(AccountChange {
                        user_id: u.as_str().to_owned(),
                    }));
                    Outcome::Done
                } else {
                    let e = not_found(u);
                    Outcome::Refused(e.code, e.info)
                }
            })
            .collect();
        self.changes.apply(actor, events).await?;
        Ok(outcomes)
    }

    /// Closes every session of `user` now and refuses the UserSigs issued
    /// before (a new UserSig logs in again).
    pub async fn kick(&self, actor: &Actor, user: &UserId) -> Result<(), ApiError> {
        self.existing(user).await?;
        let event = Event::AccountKicked(AccountChange {
            user_id: user.as_str().to_owned(),
        });
        self.changes.apply(actor, vec![event]).await
    }

    /// Mutes `user`'s one-to-one messages for `seconds` (0 lifts the mute,
    /// [`MUTE_FOREVER_SECONDS`] is for ever).
    pub async fn set_no_speaking(
        &self,
        actor: &Actor,
        user: &UserId,
        seconds: i64,
    ) -> Result<(), ApiError> {
        self.existing(user).await?;
        // The end of the mute is decided here and recorded, so a replay
        // gives the same mute whenever it runs.
        let muted_until = match seconds {
            0 => 0,
            MUTE_FOREVER_SECONDS => i64::MAX,
            s => time::now_millis().saturating_add(s.saturating_mul(1000)),
        };
        let event = Event::NoSpeakingSet(NoSpeakingSet {
            user_id: user.as_str().to_owned(),
            c2c_nospeaking_seconds: seconds,
            muted_until,
        });
        self.changes.apply(actor, vec![event]).await
    }

    /// The one-to-one mute of `user` in seconds, as set (0 once it has run out).
    pub async fn no_speaking(&self, user: &UserId) -> Result<i64, ApiError> {
        let l = self.existing(user).await?;
        Ok(if l.c2c_muted_until_ms > time::now_millis() {
            l.c2c_nospeaking_seconds
        } else {
            0
        })
    }

    /// `user`'s lifecycle, or 70107 when it is not an account.
    async fn existing(&self, user: &UserId) -> Result<Lifecycle, ApiError> {
        self.lifecycles(std::slice::from_ref(user))
            .await?
            .into_iter()
            .next()
            .filter(exists)
            .ok_or_else(|| not_found(user))
    }
}
