//! `/v4/missive_push/*`: missive's own API for offline-push device tokens
//! (Tencent IM registers them through its client SDK). See docs/push.md.

use serde_json::{Map, Value};

use missive_core::ApiError;

use super::{Admin, RestState};
use crate::tencent::push_token::parse_token_request;

pub(super) async fn set_token(
    state: &RestState,
    admin: &Admin,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let req = parse_token_request(body, true)?;
    state
        .actions
        .register_push_token(&admin.actor(), req)
        .await?;
    Ok(Map::new())
}

pub(super) async fn delete_token(
    state: &RestState,
    admin: &Admin,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let req = parse_token_request(body, false)?;
    state.actions.remove_push_token(&admin.actor(), req).await?;
    Ok(Map::new())
}
