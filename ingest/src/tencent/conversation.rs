//! Tencent's conversation fields: `recentcontact/delete` (`From_Account`,
//! `Type`, `To_Account`, `ClearRamble`), `recentcontact/mark_contact`
//! (`MarkItem`, each a [`MarkChange`]: `OptType`, `ContactItem`, `SetMark`, `ClearMark`,
//! `CustomMark`) and missive's `TopFlag` setting.

use serde_json::Value;

use missive_core::{ApiError, ErrorCode, UserId};

use super::fields::Body;
use crate::actions::conversations::MarkChange;

/// Tencent's conversation `Type` for one-to-one chats (2 is a group).
const ONE_TO_ONE: i64 = 1;

/// A one-to-one conversation to delete from `user`'s recent contacts.
#[derive(Debug, Clone)]
pub struct ConversationDelete {
    pub user: UserId,
    pub peer: UserId,
    /// `ClearRamble` 1: its messages so far also leave `user`'s history.
    pub clear_history: bool,
}

fn from_account(body: &Body<'_>) -> Result<UserId, ApiError> {
    let user = body.string(&["From_Account"], ErrorCode::FromAccountInvalid)?;
    UserId::parse(user, "From_Account", ErrorCode::FromAccountInvalid)
}

/// `Type` and `To_Account` of a one-to-one conversation. missive has
/// one-to-one conversations only, so any `Type` but 1 is refused.
fn one_to_one_peer(body: &Body<'_>) -> Result<UserId, ApiError> {
    match body.i64("Type", ErrorCode::InvalidRequest)? {
        ONE_TO_ONE => {}
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "{} is {other}; missive has one-to-one conversations only (Type 1)",
                    body.field("Type")
                ),
            ))
        }
    }
    let peer = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
    UserId::parse(peer, &body.field("To_Account"), ErrorCode::ToAccountInvalid)
}

/// A `0` or `1` flag field (absent: 0).
fn flag(body: &Body<'_>, name: &str) -> Result<bool, ApiError> {
    match body.opt_i64(name, ErrorCode::InvalidRequest)? {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(v) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{} is {v}; it must be 0 or 1", body.field(name)),
        )),
    }
}

/// A `recentcontact/delete` body.
pub fn parse_delete(body: &Body<'_>) -> Result<ConversationDelete, ApiError> {
    let user = from_account(body)?;
    let peer = one_to_one_peer(body)?;
    let clear_history = flag(body, "ClearRamble")?;
    Ok(ConversationDelete {
        user,
        peer,
        clear_history,
    })
}

/// A one-to-one conversation to pin or unpin in `user`'s recent contacts.
#[derive(Debug, Clone)]
pub struct ConversationPin {
    pub user: UserId,
    pub peer: UserId,
    pub pinned: bool,
}

/// A `missive_contact/set_top` body: `From_Account`, `Type` 1,
/// `To_Account`, `TopFlag` 1 (pin) or 0 (unpin), the flag `get_list` returns.
pub fn parse_set_top(body: &Body<'_>) -> Result<ConversationPin, ApiError> {
    let user = from_account(body)?;
    let peer = one_to_one_peer(body)?;
    if body.get("TopFlag").is_none() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "TopFlag is required: 1 pins, 0 unpins",
        ));
    }
    let pinned = flag(body, "TopFlag")?;
    Ok(ConversationPin { user, peer, pinned })
}

/// At most this many `MarkItem`s per `mark_contact` call (Tencent's limit).
pub const MAX_MARK_ITEMS: usize = 100;
/// The longest `CustomMark`, in bytes (Tencent's limit).
pub const MAX_CUSTOM_MARK_BYTES: usize = 256;

/// A `recentcontact/mark_contact` body: `From_Account` and 1 to 100
/// `MarkItem`s. `OptType` 1 applies `SetMark`/`ClearMark` only, 2
/// `CustomMark` only, 3 both; bits are 0 to 63.
pub fn parse_mark_contact(body: &Body<'_>) -> Result<(UserId, Vec<MarkChange>), ApiError> {
    let user = from_account(body)?;
    let items = match body.get("MarkItem") {
        Some(Value::Array(items)) if (1..=MAX_MARK_ITEMS).contains(&items.len()) => items,
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("MarkItem must be an array of 1 to {MAX_MARK_ITEMS} items"),
            ))
        }
    };
    let marks = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("MarkItem[{i}]");
            let Value::Object(item) = item else {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("{at} must be an object"),
                ));
            };
            parse_mark_item(&Body::at(item, at))
        })
        .collect::<Result<_, _>>()?;
    Ok((user, marks))
}

fn parse_mark_item(item: &Body<'_>) -> Result<MarkChange, ApiError> {
    let (standard, custom) = match item.i64("OptType", ErrorCode::InvalidRequest)? {
        1 => (true, false),
        2 => (false, true),
        3 => (true, true),
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("{} is {other}; it must be 1, 2 or 3", item.field("OptType")),
            ))
        }
    };
    let contact = match item.get("ContactItem") {
        Some(Value::Object(c)) => Body::at(c, item.field("ContactItem")),
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("{} must be an object", item.field("ContactItem")),
            ))
        }
    };
    let peer = one_to_one_peer(&contact)?;
    let (mut set_marks, mut clear_marks) = (0, 0);
    if standard {
        set_marks = bits(item, "SetMark")?;
        clear_marks = bits(item, "ClearMark")?;
    }
    let custom_mark = if custom {
        let mark = item
            .opt_string("CustomMark", ErrorCode::InvalidRequest)?
            .unwrap_or("");
        if mark.len() > MAX_CUSTOM_MARK_BYTES {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "{} is {} bytes; at most {MAX_CUSTOM_MARK_BYTES}",
                    item.field("CustomMark"),
                    mark.len()
                ),
            ));
        }
        Some(mark.to_owned())
    } else {
        None
    };
    Ok(MarkChange {
        peer,
        set_marks,
        clear_marks,
        custom_mark,
    })
}

/// A `SetMark`/`ClearMark` array of bit numbers (0 to 63) as a mask.
fn bits(item: &Body<'_>, name: &str) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "{} must be an array of bit numbers from 0 to 63",
                item.field(name)
            ),
        )
    };
    match item.get(name) {
        None => Ok(0),
        Some(Value::Array(bits)) => bits.iter().try_fold(0i64, |mask, b| match b.as_u64() {
            Some(n) if n < 64 => Ok(mask | (1i64 << n)),
            _ => Err(invalid()),
        }),
        Some(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn marks(v: serde_json::Value) -> Result<Vec<MarkChange>, ApiError> {
        let map = v.as_object().unwrap().clone();
        parse_mark_contact(&Body::new(&map)).map(|(_, m)| m)
    }

    #[test]
    fn opt_type_chooses_what_a_mark_item_changes() {
        let item = |opt: i64| {
            json!({"From_Account": "bob", "MarkItem": [{"OptType": opt,
                "ContactItem": {"Type": 1, "To_Account": "amy"},
                "SetMark": [1, 63], "ClearMark": [0], "CustomMark": "abcd"}]})
        };
        let standard = &marks(item(1)).unwrap()[0];
        assert_eq!(standard.set_marks, 2 | i64::MIN);
        assert_eq!(standard.clear_marks, 1);
        assert_eq!(standard.custom_mark, None);
        let custom = &marks(item(2)).unwrap()[0];
        assert_eq!((custom.set_marks, custom.clear_marks), (0, 0));
        assert_eq!(custom.custom_mark.as_deref(), Some("abcd"));
        let both = &marks(item(3)).unwrap()[0];
        assert_eq!(
            (both.set_marks, both.custom_mark.as_deref()),
            (2 | i64::MIN, Some("abcd"))
        );
    }

    #[test]
    fn bad_mark_items_are_refused_naming_the_field() {
        let refused = |item: serde_json::Value| {
            marks(json!({"From_Account": "bob", "MarkItem": [item]})).unwrap_err()
        };
        let contact = json!({"Type": 1, "To_Account": "amy"});
        let e = refused(json!({"OptType": 1, "ContactItem": contact, "SetMark": [64]}));
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.info.contains("MarkItem[0].SetMark"), "{}", e.info);
        let e = refused(json!({"OptType": 4, "ContactItem": contact}));
        assert!(e.info.contains("MarkItem[0].OptType"), "{}", e.info);
        let e = refused(json!({"OptType": 1, "ContactItem": {"Type": 2, "ToGroupId": "g"}}));
        assert!(
            e.info.contains("MarkItem[0].ContactItem.Type"),
            "{}",
            e.info
        );
        let e =
            refused(json!({"OptType": 2, "ContactItem": contact, "CustomMark": "x".repeat(257)}));
        assert!(e.info.contains("257 bytes"), "{}", e.info);
        let e = marks(json!({"From_Account": "bob", "MarkItem": []})).unwrap_err();
        assert!(e.info.contains("1 to 100"), "{}", e.info);
    }
}
