//! Checks on hostile input that run before anything is parsed.

/// Whether the JSON text `bytes` nests arrays and objects deeper than `max`.
/// Returns the depth reached when it does.
///
/// A linear scan with no allocation, run before `serde_json` parses a body
/// or a frame, so a deeply nested document costs neither stack nor memory
/// (serde_json's own recursion limit, 128, is a backstop). Brackets inside
/// strings do not count; the scan does not validate the JSON, the parser does.
pub fn json_too_deep(bytes: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(depth);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nesting_outside_strings_only() {
        assert_eq!(json_too_deep(br#"{"a":[1,{"b":2}]}"#, 3), None);
        assert_eq!(json_too_deep(br#"{"a":[1,{"b":2}]}"#, 2), Some(3));
        assert_eq!(json_too_deep(br#"{"a":"[[[[[[\"[[[["}"#, 1), None);
        assert_eq!(json_too_deep(br#"{"a":"\\"}"#, 1), None);
        assert_eq!(json_too_deep(&[b'['; 100_000], 32), Some(33));
        assert_eq!(json_too_deep(b"", 0), None);
    }
}
