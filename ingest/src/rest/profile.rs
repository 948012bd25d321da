//! `/v4/profile/*`: every standard profile tag (`Tag_Profile_IM_*`) and the
//! custom ones (`Tag_Profile_Custom_*`), their rules on the Tencent floor
//! ([`crate::tencent::profile`]).

use serde_json::{json, Map, Value};

use missive_core::{views, ApiError, ErrorCode, UserId};

use super::{Admin, RestState};
use crate::actions::accounts::ProfileChange;
use crate::tencent::fields::Body;
use crate::tencent::message::user_list;
use crate::tencent::profile::{self, ProfileSetting, TAG_IMAGE, TAG_NICK};

const MAX_PORTRAIT_GET: usize = 100;

/// All or nothing, as in Tencent IM: the first bad item refuses the call
/// with its tag's code and nothing changes.
pub(super) async fn portrait_set(
    state: &RestState,
    admin: &Admin,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::ProfileInvalidRequest;
    let user = body.string(&["From_Account"], code)?;
    let user = UserId::parse(user, "From_Account", code)?;
    let items = match body.get("ProfileItem") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err(ApiError::new(code, "ProfileItem must be a non-empty array")),
    };
    let mut update = ProfileChange {
        user_id: user,
        nickname: None,
        avatar_url: None,
        fields: Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("ProfileItem[{i}]");
        let map = item
            .as_object()
            .ok_or_else(|| ApiError::new(code, format!("{at} must be an object")))?;
        let b = Body::at(map, at.clone());
        let tag = b.string(&["Tag"], code)?;
        let value = b
            .get("Value")
            .ok_or_else(|| ApiError::new(code, format!("{at}.Value is missing")))?;
        match profile::parse_setting(&at, tag, value)? {
            ProfileSetting::Nick(n) => update.nickname = Some(n),
            ProfileSetting::Image(u) => update.avatar_url = Some(u),
            ProfileSetting::Field(f) => update.fields.push(f),
        }
    }
    state.actions.set_profile(&admin.actor(), update).await?;
    let mut out = Map::new();
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}

/// The value `tag` reads as in `p`: as set, or Tencent's default.
pub(super) fn tag_value(p: &views::ProfileTags, tag: &str) -> Value {
    match tag {
        TAG_NICK => Value::from(p.nickname.as_str()),
        TAG_IMAGE => Value::from(p.avatar_url.as_str()),
        _ => p
            .fields
            .get(tag)
            .cloned()
            .unwrap_or_else(|| profile::default_value(tag)),
    }
}

pub(super) async fn portrait_get(
    state: &RestState,
    body: &Body<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let code = ErrorCode::ProfileInvalidRequest;
    let users = user_list(body, "To_Account", MAX_PORTRAIT_GET, code)?;
    let tags = match body.get("TagList") {
        Some(Value::Array(t)) if !t.is_empty() => t
            .iter()
            .map(|t| match t.as_str() {
                Some(s) if profile::is_profile_tag(s) => Ok(s),
                Some(s) => Err(ApiError::new(
                    ErrorCode::ProfileTagUnknown,
                    format!("TagList holds `{s}`, which is no profile tag"),
                )),
                None => Err(ApiError::new(code, "TagList items must be strings")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(ApiError::new(code, "TagList must be a non-empty array")),
    };
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let ids: Vec<&str> = users.iter().map(|u| u.as_str()).collect();
    let profiles = views::profile_tags_of(&client, &ids)
        .await
        .map_err(ApiError::db_unavailable)?;
    let mut items = Vec::new();
    let mut failed = Vec::new();
    for u in &users {
        match profiles.get(u.as_str()) {
            Some(p) => items.push(json!({
                "To_Account": u.as_str(),
                "ProfileItem": tags.iter().map(|t| json!({"Tag": t, "Value": tag_value(p, t)})).collect::<Vec<_>>(),
                "ResultCode": 0,
                "ResultInfo": "",
            })),
            None => {
                failed.push(u.as_str());
                items.push(json!({
                    "To_Account": u.as_str(), "ProfileItem": [],
                    "ResultCode": ErrorCode::ProfileAccountNotFound.code(),
                    "ResultInfo": "account was never imported",
                }));
            }
        }
    }
    let mut out = Map::new();
    out.insert("UserProfileItem".into(), Value::Array(items));
    out.insert("Fail_Account".into(), json!(failed));
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}
