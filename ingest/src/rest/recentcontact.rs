//! Tencent's recent contacts: `recentcontact/get_list` (a user's
//! conversations, pinned ones first, then most recently active first, paged
//! by `StartIndex`), `recentcontact/delete` (one conversation, with
//! `ClearRamble` its history too, for that user only),
//! `recentcontact/mark_contact` and `get_contact_group` (conversation marks;
//! missive has no conversation groups), and missive's
//! `missive_contact/set_top` (pinning, which Tencent's REST API lacks).

use serde_json::{json, Map, Value};

use missive_core::{views, ApiError, ErrorCode, UserId};

use super::openim::roam_message;
use super::{Admin, RestState};
use crate::tencent::conversation::{parse_delete, parse_mark_contact, parse_set_top};
use crate::tencent::fields::Body;

/// Sessions per page (Tencent pages recent contacts by 100).
const PAGE: i64 = 100;

/// `AssistFlags` bit 0: pinned conversations are listed first, with `TopFlag`.
const ASSIST_PINNED: i64 = 1;

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
    let pinned_first = body
        .opt_i64("AssistFlags", ErrorCode::InvalidRequest)?
        .unwrap_or(0)
        & ASSIST_PINNED
        != 0;
    let page = PAGE.min(limit - start);
    let caps = views::OfflineCaps::from_config(&state.config.views);
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let contacts = views::recent_contacts(&client, &user, start, page + 1, caps, pinned_first)
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
                "TopFlag": i64::from(pinned_first && c.pinned),
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

/// `missive_contact/set_top`: pins (`TopFlag` 1) or unpins (0) a
/// conversation; answered once `get_list` shows it.
pub(super) async fn set_top(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let p = parse_set_top(body)?;
    state
        .actions
        .pin_conversation(&admin.actor(), &p.user, &p.peer, p.pinned)
        .await?;
    Ok(Map::new())
}

/// `recentcontact/mark_contact`: every item is checked before any is
/// applied, then all are applied together; answered once the views hold
/// them, with one `ResultItem` per `MarkItem`.
pub(super) async fn mark_contact(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let (user, marks) = parse_mark_contact(body)?;
    let results: Vec<Value> = marks
        .iter()
        .map(|m| {
            json!({
                "ContactItem": {"Type": 1, "To_Account": m.peer.as_str()},
                "ResultCode": 0,
                "ResultInfo": "",
            })
        })
        .collect();
    state
        .actions
        .mark_conversations(&admin.actor(), &user, marks)
        .await?;
    let mut out = Map::new();
    out.insert("ResultItem".into(), Value::Array(results));
    Ok(out)
}

/// Marked conversations per `get_contact_group` page.
const MARKS_PAGE: i64 = 100;

/// `recentcontact/get_contact_group`: the user's marked conversations
/// (`StandardMark` as a bit string, bit 0 rightmost; `CustomMark`), paged
/// by `StartIndex`. missive has no conversation groups, so `GroupItem` and
/// each `ContactGroupId` are empty.
pub(super) async fn get_contact_group(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let user = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    let user = UserId::parse(user, "From_Account", ErrorCode::FromAccountInvalid)?;
    let start = body
        .opt_i64("StartIndex", ErrorCode::InvalidRequest)?
        .unwrap_or(0);
    if start < 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("StartIndex is {start}; it must be 0 or more"),
        ));
    }
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let marks = views::conversation_marks(&client, &user, start, MARKS_PAGE + 1)
        .await
        .map_err(ApiError::db_unavailable)?;
    let complete = marks.len() as i64 <= MARKS_PAGE;
    let items: Vec<Value> = marks
        .into_iter()
        .take(MARKS_PAGE as usize)
        .map(|m| {
            json!({
                "Type": 1,
                "To_Account": m.peer,
                "StandardMark": format!("{:b}", m.standard_mark as u64),
                "CustomMark": m.custom_mark,
                "ContactGroupId": [],
                "Timestamp": m.marked_at_ms / 1000,
            })
        })
        .collect();
    let next = if complete {
        0
    } else {
        start + items.len() as i64
    };
    let mut out = Map::new();
    out.insert("ContactItem".into(), Value::Array(items));
    out.insert("GroupItem".into(), Value::Array(Vec::new()));
    out.insert("CompleteFlag".into(), i64::from(complete).into());
    out.insert("NextStartIndex".into(), next.into());
    Ok(out)
}
