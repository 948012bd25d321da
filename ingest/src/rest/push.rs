//! `/v4/missive_push/*`: missive's own API for offline-push device tokens
//! (Tencent IM registers them through its client SDK). See docs/push.md.

use serde_json::{Map, Value};

use missive_core::ApiError;

use super::{admin_actor, Admin, RestState};
use crate::push_tokens::{self, TokenRequest};

pub(super) async fn set_token(
    state: &RestState,
    admin: &Admin,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let req = TokenRequest::parse(body, true)?;
    push_tokens::register(&state.changes, &admin_actor(admin), req).await?;
    Ok(Map::new())
}

pub(super) async fn delete_token(
    state: &RestState,
    admin: &Admin,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let req = TokenRequest::parse(body, false)?;
    push_tokens::unregister(&state.changes, &state.pool, &admin_actor(admin), req).await?;
    Ok(Map::new())
}
