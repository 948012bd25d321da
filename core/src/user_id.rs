//! A user id, checked once where it enters (a REST field, a command, a
//! WebSocket login or request): code past the edge takes a [`UserId`] and
//! never checks again. The shape of zero-to-production's `SubscriberName`.
//!
//! User ids are 1 to 32 bytes of ASCII letters, digits and `_ - . @`, as in
//! Tencent IM. `:` is excluded because it joins the two ids of a
//! conversation id.

use std::fmt;

use crate::api_error::{ApiError, ErrorCode};

/// Longest user id, as in Tencent IM.
pub const MAX_USER_ID_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    /// `id` if it is a valid user id; otherwise `code`, naming `field` (the
    /// request field it came from, so the caller's error says where).
    pub fn parse(id: &str, field: &str, code: ErrorCode) -> Result<Self, ApiError> {
        if id.is_empty() || id.len() > MAX_USER_ID_BYTES {
            return Err(ApiError::new(
                code,
                format!("{field} must be 1 to {MAX_USER_ID_BYTES} bytes long"),
            ));
        }
        if let Some(bad) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@')))
        {
            return Err(ApiError::new(
                code,
                format!("{field} contains {bad:?}; user ids may hold letters, digits and _ - . @"),
            ));
        }
        Ok(Self(id.to_owned()))
    }

    /// Whether `id` would parse: for lists answered item by item.
    pub fn is_valid(id: &str) -> bool {
        Self::parse(id, "", ErrorCode::InvalidRequest).is_ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for UserId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for UserId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for UserId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_checked_with_the_callers_code_and_field() {
        assert_eq!(
            UserId::parse("alice_01-x.y@z", "To_Account", ErrorCode::ToAccountInvalid)
                .unwrap()
                .as_str(),
            "alice_01-x.y@z"
        );
        for bad in ["", "a:b", "with space", "ünï", &"x".repeat(33)] {
            let e = UserId::parse(bad, "To_Account", ErrorCode::ToAccountInvalid).unwrap_err();
            assert_eq!(e.code, ErrorCode::ToAccountInvalid, "{bad:?}");
            assert!(e.info.starts_with("To_Account "), "{}", e.info);
            assert!(!UserId::is_valid(bad));
        }
        assert!(UserId::parse(
            &"x".repeat(32),
            "From_Account",
            ErrorCode::FromAccountInvalid
        )
        .is_ok());
    }
}
