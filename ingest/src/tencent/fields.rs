//! Typed access to a Tencent request body with Tencent's error code for each
//! field that is missing or of the wrong type.
//!
//! Every string field of every channel (REST, WebSocket sends, the commands
//! topic) is read through [`Body::string`] or [`Body::opt_string`], which
//! refuse a value the views could not store (see
//! [`missive_core::storable`]), naming the field.

use serde_json::{Map, Value};

use missive_core::{storable, ApiError, ErrorCode};

pub struct Body<'a> {
    map: &'a Map<String, Value>,
    /// Where this object sits in the request (`OfflinePushInfo.ApnsInfo`),
    /// for error messages; empty at the top level.
    at: String,
}

impl<'a> Body<'a> {
    /// The request's top-level object.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            at: String::new(),
        }
    }

    /// An object nested at `at` (`ProfileItem[2]`), whose errors name the
    /// field with that path.
    pub fn at(map: &'a Map<String, Value>, at: impl Into<String>) -> Self {
        Self { map, at: at.into() }
    }

    /// The full name of field `name`, for error messages.
    pub fn field(&self, name: &str) -> String {
        if self.at.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.at)
        }
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The first of several accepted spellings that is present.
    pub fn get_any(&self, names: &[&str]) -> Option<&'a Value> {
        names.iter().find_map(|n| self.get(n))
    }

    pub fn string(&self, names: &[&str], code: ErrorCode) -> Result<&'a str, ApiError> {
        match self.get_any(names) {
            Some(Value::String(s)) => {
                storable::check_field(&self.field(names[0]), s, code)?;
                Ok(s)
            }
            Some(_) => Err(ApiError::new(
                code,
                format!("{} must be a string", self.field(names[0])),
            )),
            None => Err(ApiError::new(
                code,
                format!("{} is missing", self.field(names[0])),
            )),
        }
    }

    pub fn opt_string(&self, name: &str, code: ErrorCode) -> Result<Option<&'a str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                storable::check_field(&self.field(name), s, code)?;
                Ok(Some(s))
            }
            Some(_) => Err(ApiError::new(
                code,
                format!("{} must be a string", self.field(name)),
            )),
        }
    }

    pub fn opt_i64(&self, name: &str, code: ErrorCode) -> Result<Option<i64>, ApiError> {
        let not_integer =
            || ApiError::new(code, format!("{} must be an integer", self.field(name)));
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(not_integer),
            Some(_) => Err(not_integer()),
        }
    }

    pub fn i64(&self, name: &str, code: ErrorCode) -> Result<i64, ApiError> {
        self.opt_i64(name, code)?
            .ok_or_else(|| ApiError::new(code, format!("{} is missing", self.field(name))))
    }

    /// An unsigned 32-bit integer (MsgRandom, MsgSeq).
    pub fn opt_u32(&self, name: &str, code: ErrorCode) -> Result<Option<u32>, ApiError> {
        match self.opt_i64(name, code)? {
            None => Ok(None),
            Some(v) => u32::try_from(v).map(Some).map_err(|_| {
                ApiError::new(
                    code,
                    format!(
                        "{} is {v}; it must be an unsigned 32-bit integer",
                        self.field(name)
                    ),
                )
            }),
        }
    }

    pub fn u32(&self, name: &str, code: ErrorCode) -> Result<u32, ApiError> {
        self.opt_u32(name, code)?
            .ok_or_else(|| ApiError::new(code, format!("{} is missing", self.field(name))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unstorable_strings_are_refused_naming_the_field_with_its_path() {
        let v = json!({"Title": "t\u{0}", "Top": "\u{0}", "Fine": "😀\u{ffff}"});
        let map = v.as_object().unwrap();
        let code = ErrorCode::OfflinePushInfoFormat;
        let nested = Body::at(map, "OfflinePushInfo");
        let e = nested.opt_string("Title", code).unwrap_err();
        assert_eq!(e.code, code);
        assert_eq!(
            e.info,
            "OfflinePushInfo.Title holds U+0000 (NUL) at byte 1, which PostgreSQL cannot store"
        );
        let top = Body::new(map);
        let e = top
            .string(&["Top"], ErrorCode::ToAccountInvalid)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ToAccountInvalid);
        assert!(e.info.starts_with("Top holds U+0000"), "{}", e.info);
        assert_eq!(top.opt_string("Fine", code).unwrap(), Some("😀\u{ffff}"));
        assert_eq!(
            nested.opt_i64("Title", code).unwrap_err().info,
            "OfflinePushInfo.Title must be an integer"
        );
    }
}
