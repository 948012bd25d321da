//! Fuzzing the REST JSON decoder and `sendmsg` validator (proptest; stable
//! Rust): random bytes, deeply nested JSON, and valid bodies with fields
//! removed, retyped or replaced. For each: no panic, a Tencent error code of
//! the message APIs (90001–90054) or a request whose event encodes and
//! decodes; nesting past the limit is refused before parsing.
//!
//! `make fuzz` runs many more cases (`PROPTEST_CASES`).

use missive_core::ErrorCode;
use missive_ingest::rest::decode_sendmsg;
use missive_schemas::{Decision, EventCodec, MessageSent, SenderProfile};
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

fn valid() -> Value {
    json!({
        "SyncOtherMachine": 1, "From_Account": "alice", "To_Account": "bob",
        "MsgLifeTime": 60, "MsgSeq": 93847636, "MsgRandom": 1287657,
        "MsgBody": [
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "x"}},
            {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "here", "Latitude": 1.5, "Longitude": 2.5}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Desc": "", "Ext": "", "Sound": ""}}
        ],
        "CloudCustomData": "your cloud custom data",
        "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d", "Ext": "e"}
    })
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
        "[a-z]{1,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("MsgType".to_owned()),
                    Just("MsgContent".to_owned()),
                    Just("Text".to_owned()),
                    ".{0,6}".prop_map(String::from)
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A path into a JSON document, and what to do there.
#[derive(Debug, Clone)]
enum Edit {
    Remove(Vec<prop::sample::Index>),
    Replace(Vec<prop::sample::Index>, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    let path = prop::collection::vec(any::<prop::sample::Index>(), 1..4);
    prop_oneof![
        path.clone().prop_map(Edit::Remove),
        (path, json_value()).prop_map(|(p, v)| Edit::Replace(p, v)),
    ]
}

fn apply(doc: &mut Value, edit: &Edit) {
    match edit {
        Edit::Remove(path) => apply_at(doc, path, None),
        Edit::Replace(path, v) => apply_at(doc, path, Some(v)),
    }
}

/// Follows `path` (each step picks a key or an item) and removes or
/// replaces what it ends on; a path that runs into a leaf replaces the leaf.
fn apply_at(node: &mut Value, path: &[prop::sample::Index], replacement: Option<&Value>) {
    let Some((step, rest)) = path.split_first() else {
        if let Some(v) = replacement {
            *node = v.clone();
        }
        return;
    };
    match node {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step.index(map.len())).unwrap().clone();
            match (rest.is_empty(), replacement) {
                (true, None) => {
                    map.remove(&key);
                }
                (true, Some(v)) => {
                    map.insert(key, v.clone());
                }
                (false, _) => apply_at(map.get_mut(&key).unwrap(), rest, replacement),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = step.index(items.len());
            match (rest.is_empty(), replacement) {
                (true, None) => {
                    items.remove(i);
                }
                (true, Some(v)) => items[i] = v.clone(),
                (false, _) => apply_at(&mut items[i], rest, replacement),
            }
        }
        _ => {
            if let Some(v) = replacement {
                *node = v.clone();
            }
        }
    }
}

/// What every answer must satisfy.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match decode_sendmsg(bytes, "administrator", DEPTH) {
        Ok(req) => {
            // An accepted request makes an event that encodes and decodes.
            let event = missive_schemas::Event::MessageSent(Box::new(MessageSent {
                msg_key: "k".into(),
                conversation_id: missive_schemas::conversation_id(&req.from, &req.to),
                from_account: req.from.to_string(),
                to_account: req.to.to_string(),
                msg_random: i64::from(req.msg_random),
                msg_seq: i64::from(req.msg_seq.unwrap_or(0)),
                sent_at: 0,
                body: req.body.clone(),
                cloud_custom_data: req.cloud_custom_data.clone(),
                sender_profile: SenderProfile::default(),
                sync_other_machine: req.sync_other_machine,
                lifetime_seconds: req.lifetime_seconds,
                offline_push: req.offline_push.clone(),
                need_read_receipt: req.need_read_receipt,
                import_mode: req.import_mode,
                decision: Decision::Deliver,
                before_send_callback: None,
                forbid_after_send_callback: false,
                no_unread: req.control.no_unread,
                no_last_msg: req.control.no_last_msg,
                client_ip: req.client_ip.clone(),
            }));
            let envelope = missive_schemas::Envelope {
                event_id: uuid::Uuid::nil(),
                occurred_at: 0,
                origin: missive_schemas::Origin {
                    channel: missive_schemas::Channel::Rest,
                    actor: "administrator".into(),
                    admin: true,
                    instance: "fuzz".into(),
                },
                event,
            };
            let codec = EventCodec::get();
            let decoded = codec.decode(&codec.encode(&envelope));
            prop_assert_eq!(decoded.as_ref(), Ok(&envelope));
        }
        Err(e) => {
            let code = e.code.code();
            prop_assert!(
                (90001..=90054).contains(&code) || code == ErrorCode::BodyTooLarge.code(),
                "unexpected code {code}: {}",
                e.info
            );
            prop_assert!(!e.info.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        check(&bytes)?;
    }

    #[test]
    fn random_json(doc in json_value()) {
        check(doc.to_string().as_bytes())?;
    }

    #[test]
    fn valid_bodies_edited(edits in prop::collection::vec(edit(), 1..4)) {
        let mut doc = valid();
        for e in &edits {
            apply(&mut doc, e);
        }
        check(doc.to_string().as_bytes())?;
    }

    #[test]
    fn valid_bodies_cut(cut in any::<prop::sample::Index>()) {
        let text = valid().to_string();
        let at = cut.index(text.len());
        check(&text.as_bytes()[..at])?;
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing(depth in (DEPTH + 1)..5_000, array in any::<bool>()) {
        let (open, close) = if array { ("[", "]") } else { ("{\"a\":", "}") };
        let body = format!("{{\"MsgBody\":{}1{}}}", open.repeat(depth), close.repeat(depth));
        let e = decode_sendmsg(body.as_bytes(), "administrator", DEPTH).unwrap_err();
        prop_assert_eq!(e.code, ErrorCode::MsgJsonParse);
        prop_assert!(e.info.contains("more than 32 deep"), "{}", e.info);
    }
}

#[test]
fn the_valid_body_is_accepted() {
    let req = decode_sendmsg(valid().to_string().as_bytes(), "administrator", DEPTH).unwrap();
    assert_eq!((req.from.as_str(), req.to.as_str()), ("alice", "bob"));
    assert_eq!(req.body.len(), 4);
}
