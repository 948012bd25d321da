//! Tencent's recent contacts: `recentcontact/get_list` (a user's
//! conversations, most recently active first, paged by `StartIndex`) and
//! `recentcontact/delete` (one conversation, with `ClearRamble` its history
//! too, for that user only).

use serde_json::{json, Map, Value};

use missive_core::{views, ApiError, ErrorCode, UserId};

use super::openim::roam_message;
use super::{Admin, RestState};
use crate::tencent::conversation::parse_delete;
use crate::tencent::fields::Body;

/// Sessions per page (Tencent pages recent contacts by 100).
const PAGE: i64 = 100;

/// Beyond Tencent's fields, each `SessionItem` carries missive's
/// `C2CUnreadMsgNum` (within the offline caps), `LastMsgKey` and, while
/// history still holds it, `LastMsg` in `admin_getroammsg`'s message shape.
pub(super) async fn get_list(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let user = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    let user = UserId::parse(user, "From_Account", ErrorCode::FromAccountInvalid)?;
    let start = body
        .opt_i64("StartIndex", ErrorCode::InvalidRequest)?
        .unwrap_or(0);
    let limit = state.config.views.recent_contacts_max.max(1);
    if !(0..limit).contains(&start) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "StartIndex is {start}; it must be between 0 and {}",
                limit - 1
            ),
        ));
    }
    let page = PAGE.min(limit - start);
    let caps = views::OfflineCaps::from_config(&state.config.views);
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let contacts = views::recent_contacts(&client, &user, start, page + 1, caps)
        .await
        .map_err(ApiError::db_unavailable)?;
    let complete = contacts.len() as i64 <= page;
    let items: Vec<Value> = contacts
        .into_iter()
        .take(page as usize)
        .map(|c| {
            let mut item = json!({
                "Type": 1, // one-to-one
                "To_Account": c.peer,
                "MsgTime": c.last_at_ms / 1000,
                "TopFlag": 0,
                "C2CUnreadMsgNum": c.unread,
                "LastMsgKey": c.last_msg_key,
                "ConversationSeq": c.last_seq,
            });
            if let Some(m) = c.last_message {
                item["LastMsg"] = roam_message(m);
            }
            item
        })
        .collect();
    let mut out = Map::new();
    out.insert("CompleteFlag".into(), i64::from(complete).into());
    out.insert(
        "TimeStamp".into(),
        body.opt_i64("TimeStamp", ErrorCode::InvalidRequest)?
            .unwrap_or(0)
            .into(),
    );
    out.insert("StartIndex".into(), (start + items.len() as i64).into());
    out.insert("TopTimeStamp".into(), 0.into());
    out.insert("TopStartIndex".into(), 0.into());
    out.insert("SessionItem".into(), Value::Array(items));
    Ok(out)
}

/// `recentcontact/delete`: answered once the views no longer list the
/// conversation (and, with `ClearRamble` 1, no longer show its history).
pub(super) async fn delete(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let d = parse_delete(body)?;
    state
        .actions
        .delete_conversation(&admin.actor(), &d.user, &d.peer, d.clear_history)
        .await?;
    Ok(Map::new())
}
