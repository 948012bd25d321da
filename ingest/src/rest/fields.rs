//! Typed access to a Tencent request body with Tencent's error code for each
//! field that is missing or of the wrong type.

use serde_json::{Map, Value};

use missive_core::{ApiError, ErrorCode};

pub struct Body<'a>(pub &'a Map<String, Value>);

impl<'a> Body<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        match self.0.get(name) {
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
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(ApiError::new(
                code,
                format!("{} must be a string", names[0]),
            )),
            None => Err(ApiError::new(code, format!("{} is missing", names[0]))),
        }
    }

    pub fn opt_string(&self, name: &str, code: ErrorCode) -> Result<Option<&'a str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::new(code, format!("{name} must be a string"))),
        }
    }

    pub fn opt_i64(&self, name: &str, code: ErrorCode) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::new(code, format!("{name} must be an integer"))),
            Some(_) => Err(ApiError::new(code, format!("{name} must be an integer"))),
        }
    }

    pub fn i64(&self, name: &str, code: ErrorCode) -> Result<i64, ApiError> {
        self.opt_i64(name, code)?
            .ok_or_else(|| ApiError::new(code, format!("{name} is missing")))
    }

    /// An unsigned 32-bit integer (MsgRandom, MsgSeq).
    pub fn opt_u32(&self, name: &str, code: ErrorCode) -> Result<Option<u32>, ApiError> {
        match self.opt_i64(name, code)? {
            None => Ok(None),
            Some(v) => u32::try_from(v).map(Some).map_err(|_| {
                ApiError::new(
                    code,
                    format!("{name} is {v}; it must be an unsigned 32-bit integer"),
                )
            }),
        }
    }

    pub fn u32(&self, name: &str, code: ErrorCode) -> Result<u32, ApiError> {
        self.opt_u32(name, code)?
            .ok_or_else(|| ApiError::new(code, format!("{name} is missing")))
    }
}
