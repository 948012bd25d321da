//! What the views can store. Every string a client sends that ends up in a
//! view (texts, custom data, profile values, ids, tokens, ...) is checked
//! here before anything is appended: a string PostgreSQL refuses would be
//! on the log for good, and the projector could never apply it.
//!
//! PostgreSQL `text` refuses U+0000 (SQLSTATE 22021) and `jsonb` refuses
//! `\u0000` inside its strings (22P05); every other Unicode scalar value,
//! noncharacters such as U+FFFF and 4-byte characters included, is stored
//! and read back unchanged. Unpaired surrogates never get this far: they are
//! not scalar values, so JSON parsing refuses a lone `\ud800` escape and
//! UTF-8 decoding refuses their bytes, each with its own precise error.

use serde_json::Value;

use crate::api_error::{ApiError, ErrorCode};

/// Why a string cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unstorable {
    #[error("holds U+0000 (NUL) at byte {at}, which PostgreSQL cannot store")]
    Nul { at: usize },
}

/// Whether PostgreSQL `text` and `jsonb` can hold `s` as it is.
pub fn check(s: &str) -> Result<(), Unstorable> {
    match s.bytes().position(|b| b == 0) {
        Some(at) => Err(Unstorable::Nul { at }),
        None => Ok(()),
    }
}

/// [`check`] for a request field: refused with `code`, naming `field`.
pub fn check_field(field: &str, s: &str, code: ErrorCode) -> Result<(), ApiError> {
    check(s).map_err(|e| ApiError::new(code, format!("{field} {e}")))
}

/// Every string in `v`, object keys included: the path (below `at`) of the
/// first one that cannot be stored. The path is spelled out only for that
/// one: every send walks its body here.
pub fn check_json(at: &str, v: &Value) -> Result<(), (String, Unstorable)> {
    let mut path = Vec::new();
    walk(v, &mut path).map_err(|e| {
        let mut spelled = at.to_owned();
        for step in path {
            match step {
                Step::Index(i) => spelled.push_str(&format!("[{i}]")),
                // Escaped: the path goes into error messages and logs.
                Step::Key(k) => spelled.push_str(&format!(".{}", k.escape_debug())),
            }
        }
        (spelled, e)
    })
}

/// One step from a JSON value to one inside it.
enum Step<'a> {
    Index(usize),
    Key(&'a str),
}

/// On an error, `path` leads to the string at fault.
fn walk<'a>(v: &'a Value, path: &mut Vec<Step<'a>>) -> Result<(), Unstorable> {
    match v {
        Value::String(s) => check(s),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            path.push(Step::Index(i));
            walk(item, path)?;
            path.pop();
            Ok(())
        }),
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            path.push(Step::Key(k));
            check(k)?;
            walk(item, path)?;
            path.pop();
            Ok(())
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_nul_is_refused() {
        assert_eq!(check("nul \u{0} inside"), Err(Unstorable::Nul { at: 4 }));
        assert_eq!(check("\u{0}"), Err(Unstorable::Nul { at: 0 }));
        for fine in [
            "",
            "plain",
            "\u{1}\u{1f}\u{7f}",
            "\u{fffe}\u{ffff}",
            "😀 𝄞 \u{10ffff}",
            "\\u0000 spelled out",
        ] {
            assert_eq!(check(fine), Ok(()), "{fine:?}");
        }
    }

    #[test]
    fn a_field_is_named_with_the_callers_code() {
        let e = check_field(
            "MsgBody[0].MsgContent.Text",
            "a\u{0}",
            ErrorCode::ElementFormat,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ElementFormat);
        assert_eq!(
            e.info,
            "MsgBody[0].MsgContent.Text holds U+0000 (NUL) at byte 1, which PostgreSQL cannot store"
        );
    }

    #[test]
    fn json_is_walked_keys_included() {
        assert_eq!(
            check_json("x", &json!({"a": [1, "b", {"c": null}]})),
            Ok(())
        );
        assert_eq!(
            check_json("body", &json!({"a": [1, "b\u{0}"]})),
            Err(("body.a[1]".to_owned(), Unstorable::Nul { at: 1 }))
        );
        assert_eq!(
            check_json("body", &json!({"k\u{0}": 1})),
            Err(("body.k\\0".to_owned(), Unstorable::Nul { at: 1 }))
        );
    }
}
