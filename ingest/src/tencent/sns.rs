//! Tencent's relationship fields: the per-item results (`ResultCode`,
//! `ResultInfo`) from the actions' [`Outcome`]s, and the friend fields
//! (`Remark`, `GroupName`, `AddSource`, `AddWording`, `Tag_SNS_*`) with their limits.

use serde_json::Value;

use missive_core::{storable, ApiError, ErrorCode};
use missive_schemas::TagValue;

use super::fields::Body;
use super::profile;
use crate::actions::relationships::{FriendEntry, FriendUpdate, RelationshipChange};
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

/// `(ResultCode, ResultInfo)` of one item of `change` (`None`: a change
/// for which "already as asked" is success).
pub fn item_result(change: Option<RelationshipChange>, outcome: &Outcome) -> (u32, String) {
    match outcome {
        Outcome::Done => (0, String::new()),
        Outcome::AlreadyDone => match change {
            Some(change) => {
                let (code, info) = already(change);
                (code.code(), info.to_owned())
            }
            None => (0, String::new()),
        },
        Outcome::Refused(code, info) => (code.code(), info.clone()),
    }
}

/// Tencent's standard friend fields (Tag_SNS_IM_*) and the custom prefix.
pub const TAG_REMARK: &str = "Tag_SNS_IM_Remark";
pub const TAG_GROUP: &str = "Tag_SNS_IM_Group";
pub const TAG_ADD_SOURCE: &str = "Tag_SNS_IM_AddSource";
pub const TAG_ADD_WORDING: &str = "Tag_SNS_IM_AddWording";
pub const TAG_ADD_TIME: &str = "Tag_SNS_IM_AddTime";
const CUSTOM_PREFIX: &str = "Tag_SNS_Custom_";

const MAX_REMARK_BYTES: usize = 96;
const MAX_GROUPS: usize = 32;
const MAX_GROUP_NAME_BYTES: usize = 30;
const MAX_ADD_WORDING_BYTES: usize = 256;

/// Whether `tag` is a friend field `friend_get_list` can read.
pub fn is_friend_tag(tag: &str) -> bool {
    matches!(
        tag,
        TAG_REMARK | TAG_GROUP | TAG_ADD_SOURCE | TAG_ADD_WORDING | TAG_ADD_TIME
    ) || profile::custom_keyword_ok(tag, CUSTOM_PREFIX)
}

fn invalid(info: String) -> ApiError {
    ApiError::new(ErrorCode::SnsInvalidRequest, info)
}

/// A remark: at most 96 bytes.
fn remark(field: &str, s: &str) -> Result<String, ApiError> {
    if s.len() > MAX_REMARK_BYTES {
        return Err(invalid(format!(
            "{field} is {} bytes; at most {MAX_REMARK_BYTES}",
            s.len()
        )));
    }
    Ok(s.to_owned())
}

/// Friend groups: at most 32, each 1 to 30 bytes.
fn groups(field: &str, value: &Value) -> Result<Vec<String>, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| invalid(format!("{field} must be an array of group names")))?;
    if items.len() > MAX_GROUPS {
        return Err(invalid(format!(
            "{field} holds more than {MAX_GROUPS} groups"
        )));
    }
    items
        .iter()
        .map(|g| match g.as_str() {
            Some(s) if !s.is_empty() && s.len() <= MAX_GROUP_NAME_BYTES => {
                storable::check_field(field, s, ErrorCode::SnsInvalidRequest)?;
                Ok(s.to_owned())
            }
            _ => Err(invalid(format!(
                "{field} items must be group names of 1 to {MAX_GROUP_NAME_BYTES} bytes"
            ))),
        })
        .collect()
}

/// A custom friend field (`Tag_SNS_Custom_` and 1 to 8 letters) and its value.
fn custom_item(field: &str, tag: &str, value: &Value) -> Result<TagValue, ApiError> {
    if !profile::custom_keyword_ok(tag, CUSTOM_PREFIX) {
        return Err(invalid(format!(
            "{field}.Tag `{tag}` is no friend field: use Tag_SNS_Custom_ followed by 1 to 8 letters"
        )));
    }
    let value = profile::custom_value(field, value).map_err(|e| invalid(e.info))?;
    Ok(TagValue {
        tag: tag.to_owned(),
        value,
    })
}

/// The adder's entry in one `AddFriendItem` of friend_add (`GroupName` a
/// string) or friend_import (`GroupName` an array, with `AddTime`,
/// `RemarkTime` and `CustomItem`).
pub fn friend_entry(item: &Body<'_>, import: bool) -> Result<FriendEntry, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let add_source = item.string(&["AddSource"], code)?;
    let keyword_ok = add_source
        .strip_prefix("AddSource_Type_")
        .is_some_and(|k| (1..=8).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphabetic()));
    if !keyword_ok {
        return Err(invalid(format!(
            "{} must be AddSource_Type_ followed by 1 to 8 letters",
            item.field("AddSource")
        )));
    }
    let mut entry = FriendEntry {
        add_source: add_source.to_owned(),
        ..FriendEntry::default()
    };
    if let Some(r) = item.opt_string("Remark", code)? {
        entry.remark = remark(&item.field("Remark"), r)?;
    }
    if let Some(w) = item.opt_string("AddWording", code)? {
        if w.len() > MAX_ADD_WORDING_BYTES {
            return Err(invalid(format!(
                "{} is {} bytes; at most {MAX_ADD_WORDING_BYTES}",
                item.field("AddWording"),
                w.len()
            )));
        }
        entry.add_wording = w.to_owned();
    }
    match (item.get("GroupName"), import) {
        (None, _) => {}
        // friend_add: one group, as a string.
        (Some(Value::String(_)), false) => {
            let g = item.opt_string("GroupName", code)?.unwrap_or_default();
            entry.groups = groups(&item.field("GroupName"), &Value::from(vec![g]))?;
        }
        (Some(g), true) => entry.groups = groups(&item.field("GroupName"), g)?,
        (Some(_), false) => {
            return Err(invalid(format!(
                "{} must be a string",
                item.field("GroupName")
            )))
        }
    }
    if import {
        // RemarkTime is Tencent's bookkeeping of the remark; missive keeps no remark history.
        item.opt_i64("RemarkTime", code)?;
        if let Some(t) = item.opt_i64("AddTime", code)? {
            if t < 0 {
                return Err(invalid(format!("{} must be >= 0", item.field("AddTime"))));
            }
            entry.added_at_ms = Some(t.saturating_mul(1000));
        }
        if let Some(v) = item.get("CustomItem") {
            let list = v
                .as_array()
                .ok_or_else(|| invalid(format!("{} must be an array", item.field("CustomItem"))))?;
            for (j, c) in list.iter().enumerate() {
                let at = format!("{}[{j}]", item.field("CustomItem"));
                let map = c
                    .as_object()
                    .ok_or_else(|| invalid(format!("{at} must be an object")))?;
                let b = Body::at(map, at.clone());
                let tag = b.string(&["Tag"], code)?;
                let value = b
                    .get("Value")
                    .ok_or_else(|| invalid(format!("{at}.Value is missing")))?;
                entry.custom.push(custom_item(&at, tag, value)?);
            }
        }
    }
    Ok(entry)
}

/// One `UpdateItem` of friend_update: its `SnsItem` tags (`Tag_SNS_IM_Remark`,
/// `Tag_SNS_IM_Group`, `Tag_SNS_Custom_*`; Tencent updates no other).
pub fn friend_update(item: &Body<'_>) -> Result<FriendUpdate, ApiError> {
    let code = ErrorCode::SnsInvalidRequest;
    let list = match item.get("SnsItem") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(invalid(format!(
                "{} must be a non-empty array",
                item.field("SnsItem")
            )))
        }
    };
    let mut update = FriendUpdate::default();
    for (j, s) in list.iter().enumerate() {
        let at = format!("{}[{j}]", item.field("SnsItem"));
        let map = s
            .as_object()
            .ok_or_else(|| invalid(format!("{at} must be an object")))?;
        let b = Body::at(map, at.clone());
        let tag = b.string(&["Tag"], code)?;
        let value = b
            .get("Value")
            .ok_or_else(|| invalid(format!("{at}.Value is missing")))?;
        match tag {
            TAG_REMARK => {
                let r = b.string(&["Value"], code)?;
                update.remark = Some(remark(&format!("{at}.Value"), r)?);
            }
            TAG_GROUP => update.groups = Some(groups(&format!("{at}.Value"), value)?),
            _ => update.custom.push(custom_item(&at, tag, value)?),
        }
    }
    Ok(update)
}
