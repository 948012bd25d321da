//! Fuzzing the WebSocket frame decoder (proptest; stable Rust): random
//! text, valid frames of every type with fields removed or retyped, cut
//! frames, and deep nesting. For each: no panic, and an error text that
//! says what is wrong; nesting past the limit is refused before parsing.
//!
//! `make fuzz` runs many more cases (`PROPTEST_CASES`).

use missive_delivery::protocol::ClientFrame;
use proptest::prelude::*;
use serde_json::{json, Value};

const DEPTH: usize = 32;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

fn valid_frames() -> Vec<Value> {
    vec![
        json!({"type": "login", "user": "bob", "usersig": "eJw", "device": "d1", "platform": "Web", "cursor": 4}),
        json!({"type": "ping", "id": 7}),
        json!({"type": "send", "id": 1, "msg": {"To_Account": "bob", "MsgRandom": 1,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]}}),
        json!({"type": "history", "id": 2, "peer": "alice", "before_seq": 40, "after_seq": 2, "count": 20}),
        json!({"type": "read", "id": 3, "peer": "alice", "seq": 7}),
        json!({"type": "recall", "id": 4, "peer": "bob", "msg_key": "1_2_3"}),
        json!({"type": "contacts", "id": 5, "start": 0, "count": 100, "messages": 20}),
        json!({"type": "push_token", "id": 6, "platform": "apns", "token": "ab", "remove": false}),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = ClientFrame::decode(text, DEPTH) {
        prop_assert!(!e.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn random_text(text in ".{0,512}") {
        check(&text)?;
    }

    #[test]
    fn random_json(doc in json_value()) {
        check(&doc.to_string())?;
    }

    #[test]
    fn valid_frames_with_a_field_changed(
        pick in any::<prop::sample::Index>(),
        field in any::<prop::sample::Index>(),
        value in prop::option::of(json_value()),
    ) {
        let frames = valid_frames();
        let mut frame = frames[pick.index(frames.len())].clone();
        let map = frame.as_object_mut().unwrap();
        let key = map.keys().nth(field.index(map.len())).unwrap().clone();
        match value {
            None => { map.remove(&key); }
            Some(v) => { map.insert(key, v); }
        }
        check(&frame.to_string())?;
    }

    #[test]
    fn valid_frames_cut(pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let frames = valid_frames();
        let text = frames[pick.index(frames.len())].to_string();
        let at = cut.index(text.len());
        prop_assert!(ClientFrame::decode(&text[..at], DEPTH).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing(depth in (DEPTH + 1)..20_000) {
        let text = format!(
            "{{\"type\":\"send\",\"msg\":{{\"MsgBody\":{}{}}}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let e = ClientFrame::decode(&text, DEPTH).unwrap_err();
        prop_assert!(e.contains("more than 32 deep"), "{}", e);
    }
}

#[test]
fn every_valid_frame_decodes() {
    for f in valid_frames() {
        ClientFrame::decode(&f.to_string(), DEPTH).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}
