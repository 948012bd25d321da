//! Tencent's profile tags (`Tag_Profile_IM_*`, `Tag_Profile_Custom_*`):
//! which exist, the type and values each allows, and what an unset tag
//! reads as. `portrait_set` is all-or-nothing: the first bad item refuses
//! the call with that tag's code (40009, 40601, 40605, 40610).

use serde_json::Value;

use missive_core::{storable, ApiError, ErrorCode};
use missive_schemas::{TagValue, TagValueKind};

pub const TAG_NICK: &str = "Tag_Profile_IM_Nick";
pub const TAG_IMAGE: &str = "Tag_Profile_IM_Image";
pub const TAG_ALLOW_TYPE: &str = "Tag_Profile_IM_AllowType";
pub const TAG_ADMIN_FORBID_TYPE: &str = "Tag_Profile_IM_AdminForbidType";
const CUSTOM_PREFIX: &str = "Tag_Profile_Custom_";

pub const ALLOW_ANY: &str = "AllowType_Type_AllowAny";
pub const NEED_CONFIRM: &str = "AllowType_Type_NeedConfirm";
pub const DENY_ANY: &str = "AllowType_Type_DenyAny";
pub const FORBID_SEND_OUT: &str = "AdminForbid_Type_SendOut";

/// Longest string value (Tencent's 500-byte limit, 40601).
const MAX_VALUE_BYTES: usize = 500;

/// What a standard tag holds.
#[derive(Clone, Copy)]
enum Kind {
    /// A string of at most this many bytes; past 500 it is 40601, past a
    /// smaller limit (Location's 16) 40605.
    Text(usize),
    /// One of these strings; the first is the default.
    Choice(&'static [&'static str]),
    /// An unsigned 32-bit integer, 0 by default.
    U32,
}

/// Tencent's standard profile fields.
const STANDARD: &[(&str, Kind)] = &[
    (TAG_NICK, Kind::Text(MAX_VALUE_BYTES)),
    (
        "Tag_Profile_IM_Gender",
        Kind::Choice(&[
            "Gender_Type_Unknown",
            "Gender_Type_Female",
            "Gender_Type_Male",
        ]),
    ),
    ("Tag_Profile_IM_BirthDay", Kind::U32),
    ("Tag_Profile_IM_Location", Kind::Text(16)),
    ("Tag_Profile_IM_SelfSignature", Kind::Text(MAX_VALUE_BYTES)),
    // NeedConfirm first: Tencent's default.
    (
        TAG_ALLOW_TYPE,
        Kind::Choice(&[NEED_CONFIRM, ALLOW_ANY, DENY_ANY]),
    ),
    ("Tag_Profile_IM_Language", Kind::U32),
    (TAG_IMAGE, Kind::Text(MAX_VALUE_BYTES)),
    ("Tag_Profile_IM_MsgSettings", Kind::U32),
    (
        TAG_ADMIN_FORBID_TYPE,
        Kind::Choice(&["AdminForbid_Type_None", FORBID_SEND_OUT]),
    ),
    ("Tag_Profile_IM_Level", Kind::U32),
    ("Tag_Profile_IM_Role", Kind::U32),
];

fn standard(tag: &str) -> Option<Kind> {
    STANDARD.iter().find(|(t, _)| *t == tag).map(|(_, k)| *k)
}

/// A custom tag's keyword: 1 to 8 ASCII letters (Tencent's naming rule for
/// custom profile and friend fields). missive has no console to declare
/// them, so every well-named one exists.
pub fn custom_keyword_ok(tag: &str, prefix: &str) -> bool {
    tag.strip_prefix(prefix)
        .is_some_and(|k| (1..=8).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// Whether `tag` is a profile tag `portrait_get` and `friend_get_list` can read.
pub fn is_profile_tag(tag: &str) -> bool {
    standard(tag).is_some() || custom_keyword_ok(tag, CUSTOM_PREFIX)
}

/// One tag set by `portrait_set`, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSetting {
    Nick(String),
    Image(String),
    /// Every other tag, stored as given.
    Field(TagValue),
}

/// Checks `value` for `tag` (`field` names the item in errors).
pub fn parse_setting(field: &str, tag: &str, value: &Value) -> Result<ProfileSetting, ApiError> {
    let kind = match standard(tag) {
        Some(k) => Some(k),
        None if custom_keyword_ok(tag, CUSTOM_PREFIX) => None,
        None => {
            return Err(ApiError::new(
                ErrorCode::ProfileTagUnknown,
                format!(
                    "{field}.Tag `{tag}` is no profile tag: use a standard Tag_Profile_IM_* field \
                     or Tag_Profile_Custom_ followed by 1 to 8 letters"
                ),
            ))
        }
    };
    let wrong_type = |want: &str| {
        ApiError::new(
            ErrorCode::ProfileValueType,
            format!("{field}.Value for {tag} must be {want}"),
        )
    };
    let parsed = match kind {
        Some(Kind::Text(max)) => {
            let s = value.as_str().ok_or_else(|| wrong_type("a string"))?;
            text(field, s)?;
            if s.len() > max {
                return Err(ApiError::new(
                    ErrorCode::ProfileValueInvalid,
                    format!(
                        "{field}.Value for {tag} is {} bytes; at most {max}",
                        s.len()
                    ),
                ));
            }
            TagValueKind::String(s.to_owned())
        }
        Some(Kind::Choice(allowed)) => {
            let s = value.as_str().ok_or_else(|| wrong_type("a string"))?;
            if !allowed.contains(&s) {
                return Err(ApiError::new(
                    ErrorCode::ProfileValueInvalid,
                    format!("{field}.Value `{s}` for {tag} must be one of {allowed:?}"),
                ));
            }
            TagValueKind::String(s.to_owned())
        }
        Some(Kind::U32) => {
            let Value::Number(n) = value else {
                return Err(wrong_type("an integer"));
            };
            match n.as_u64().filter(|v| *v <= u64::from(u32::MAX)) {
                Some(v) => TagValueKind::Integer(v as i64),
                None => {
                    return Err(ApiError::new(
                        ErrorCode::ProfileValueInvalid,
                        format!(
                            "{field}.Value {n} for {tag} must be an integer from 0 to 4294967295"
                        ),
                    ))
                }
            }
        }
        // Custom tags: a string, or an unsigned integer.
        None => custom_value(field, value)?,
    };
    Ok(match (tag, parsed) {
        (TAG_NICK, TagValueKind::String(s)) => ProfileSetting::Nick(s),
        (TAG_IMAGE, TagValueKind::String(s)) => ProfileSetting::Image(s),
        (_, value) => ProfileSetting::Field(TagValue {
            tag: tag.to_owned(),
            value,
        }),
    })
}

/// A custom field's value (profile or friend): a string of at most 500
/// bytes, or an integer from 0 to the largest signed 64-bit one.
pub fn custom_value(field: &str, value: &Value) -> Result<TagValueKind, ApiError> {
    match value {
        Value::String(s) => {
            text(field, s)?;
            Ok(TagValueKind::String(s.clone()))
        }
        Value::Number(n) => n
            .as_u64()
            .and_then(|v| i64::try_from(v).ok())
            .map(TagValueKind::Integer)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ProfileValueInvalid,
                    format!("{field}.Value {n} must be an unsigned integer below 2^63"),
                )
            }),
        _ => Err(ApiError::new(
            ErrorCode::ProfileValueType,
            format!("{field}.Value must be a string or an integer"),
        )),
    }
}

/// Tencent's 500-byte limit (40601), and a string the views can store (40001).
fn text(field: &str, s: &str) -> Result<(), ApiError> {
    storable::check_field(
        &format!("{field}.Value"),
        s,
        ErrorCode::ProfileInvalidRequest,
    )?;
    if s.len() > MAX_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::ProfileValueTooLong,
            format!(
                "{field}.Value is {} bytes; at most {MAX_VALUE_BYTES}",
                s.len()
            ),
        ));
    }
    Ok(())
}

/// What an unset tag reads as: Tencent's default (the first choice, 0, or
/// an empty string; custom tags read as an empty string).
pub fn default_value(tag: &str) -> Value {
    match standard(tag) {
        Some(Kind::Choice(allowed)) => Value::from(allowed[0]),
        Some(Kind::U32) => Value::from(0),
        _ => Value::from(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(tag: &str, value: Value) -> u32 {
        parse_setting("ProfileItem[0]", tag, &value)
            .unwrap_err()
            .code
            .code()
    }

    #[test]
    fn each_standard_tag_checks_its_type_and_values_with_tencents_codes() {
        assert_eq!(
            code("Tag_Profile_IM_Gender", json!("Gender_Type_Robot")),
            40605
        );
        assert_eq!(code("Tag_Profile_IM_Gender", json!(1)), 40610);
        assert_eq!(code("Tag_Profile_IM_BirthDay", json!("19900101")), 40610);
        assert_eq!(code("Tag_Profile_IM_BirthDay", json!(-1)), 40605);
        assert_eq!(code("Tag_Profile_IM_Level", json!(4_294_967_296u64)), 40605);
        assert_eq!(
            code("Tag_Profile_IM_Location", json!("a".repeat(17))),
            40605
        );
        assert_eq!(
            code("Tag_Profile_IM_SelfSignature", json!("a".repeat(501))),
            40601
        );
        assert_eq!(code(TAG_ALLOW_TYPE, json!("AllowType_Type_Maybe")), 40605);
        assert_eq!(
            code(TAG_ADMIN_FORBID_TYPE, json!("AdminForbid_Type_All")),
            40605
        );
        assert_eq!(code("Tag_Profile_IM_Hobby", json!("x")), 40009);
        assert_eq!(code("Tag_Profile_Custom_TooLongKey", json!("x")), 40009);
        assert_eq!(code("Tag_Profile_Custom_Ab1", json!("x")), 40009);
        assert_eq!(code("Tag_Profile_Custom_Hobby", json!([1])), 40610);
        assert_eq!(code(TAG_NICK, json!("a\u{0}")), 40001);
        assert_eq!(
            parse_setting("p", TAG_NICK, &json!("Ann")).unwrap(),
            ProfileSetting::Nick("Ann".into())
        );
        assert_eq!(
            parse_setting("p", "Tag_Profile_IM_Role", &json!(4_294_967_295u64)).unwrap(),
            ProfileSetting::Field(TagValue {
                tag: "Tag_Profile_IM_Role".into(),
                value: TagValueKind::Integer(4_294_967_295)
            })
        );
        assert_eq!(default_value(TAG_ALLOW_TYPE), json!(NEED_CONFIRM));
        assert_eq!(
            default_value("Tag_Profile_IM_Gender"),
            json!("Gender_Type_Unknown")
        );
        assert_eq!(default_value("Tag_Profile_IM_Language"), json!(0));
        assert_eq!(default_value("Tag_Profile_Custom_Hobby"), json!(""));
    }
}
