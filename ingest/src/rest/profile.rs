//! `/v4/profile/*`: nickname and avatar (`Tag_Profile_IM_Nick`, `Tag_Profile_IM_Image`).

use serde_json::{json, Map, Value};

use missive_core::{views, ApiError, ErrorCode, UserId};

use super::{Admin, RestState};
use crate::actions::accounts::{check_profile_value, ProfileChange};
use crate::tencent::fields::Body;
use crate::tencent::message::user_list;

const TAG_NICK: &str = "Tag_Profile_IM_Nick";
const TAG_IMAGE: &str = "Tag_Profile_IM_Image";
const MAX_PORTRAIT_GET: usize = 100;

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
    };
    for (i, item) in items.iter().enumerate() {
        let map = item
            .as_object()
            .ok_or_else(|| ApiError::new(code, format!("ProfileItem[{i}] must be an object")))?;
        let b = Body::at(map, format!("ProfileItem[{i}]"));
        let tag = b.string(&["Tag"], code)?;
        let value = b.string(&["Value"], code)?;
        check_profile_value(&format!("ProfileItem[{i}].Value"), value)?;
        match tag {
            TAG_NICK => update.nickname = Some(value.to_owned()),
            TAG_IMAGE => update.avatar_url = Some(value.to_owned()),
            other => {
                return Err(ApiError::new(
                    code,
                    format!("ProfileItem[{i}].Tag `{other}` is not supported; use {TAG_NICK} or {TAG_IMAGE}"),
                ))
            }
        }
    }
    state.actions.set_profile(&admin.actor(), update).await?;
    let mut out = Map::new();
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
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
                Some(s @ (TAG_NICK | TAG_IMAGE)) => Ok(s),
                _ => Err(ApiError::new(
                    code,
                    format!("TagList holds {t}; supported tags are {TAG_NICK} and {TAG_IMAGE}"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(ApiError::new(code, "TagList must be a non-empty array")),
    };
    let client = state.pool().get().await.map_err(ApiError::db_unavailable)?;
    let ids: Vec<&str> = users.iter().map(|u| u.as_str()).collect();
    let profiles = views::profiles_of(&client, &ids)
        .await
        .map_err(ApiError::db_unavailable)?;
    let mut items = Vec::new();
    let mut failed = Vec::new();
    for u in &users {
        match profiles.get(u.as_str()) {
            Some(p) => items.push(json!({
                "To_Account": u.as_str(),
                "ProfileItem": tags.iter().map(|t| json!({
                    "Tag": t,
                    "Value": if *t == TAG_NICK { &p.nickname } else { &p.avatar_url },
                })).collect::<Vec<_>>(),
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
