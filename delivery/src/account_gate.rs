//! Who may open a session, beyond a valid UserSig: not a deleted account,
//! and not with a UserSig issued before the account was kicked.

use deadpool_postgres::Pool;

use missive_core::{views, ApiError, ErrorCode};

pub async fn admit(pool: &Pool, user: &str, issued_at: u64) -> Result<(), ApiError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "PostgreSQL unavailable at login");
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the views are unavailable; log in again",
        )
    };
    let client = pool.get().await.map_err(|e| unavailable(&e))?;
    let state = views::lifecycles(&client, &[user])
        .await
        .map_err(|e| unavailable(&e))?
        .pop()
        .unwrap_or_default();
    if state.deleted {
        return Err(ApiError::new(
            ErrorCode::AccountNotFound,
            format!("{user:?} was deleted (account_delete)"),
        ));
    }
    if i64::try_from(issued_at).unwrap_or(i64::MAX) < state.kicked_at_secs {
        return Err(ApiError::new(
            ErrorCode::UserSigExpired,
            "this UserSig was issued before the account was kicked; log in with a new UserSig",
        ));
    }
    Ok(())
}
