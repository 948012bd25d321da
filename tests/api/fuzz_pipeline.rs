//! Fuzzing the whole pipeline, not only the parsers (issue #16): random
//! Unicode and JSON strings (NUL, lone surrogate escapes, noncharacters,
//! 4-byte characters, strings near and over the 12 KB body limit, deep
//! nesting) go through REST `sendmsg` and a WebSocket `send` into the real
//! log, projector and PostgreSQL. Each input is either refused with the
//! error code its content calls for and appends nothing, or stored and read
//! back identical through `admin_getroammsg`. Afterwards nothing has
//! stalled: a plain message is still projected and readable.
//!
//! `cargo test` runs 48 cases (about a second); `make fuzz` runs
//! `FUZZ_PIPELINE_CASES` (`PROPTEST_CASES` here) and prints how the answers
//! were spread over the error codes.

use crate::support;

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Mutex as AsyncMutex;

use futures::SinkExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use support::{TestApp, WsClient};

/// Largest message body (MsgBody + CloudCustomData), as ingest counts it.
const MAX_BODY_BYTES: usize = 12 * 1024;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

/// A piece of a JSON string literal's content, as raw JSON text.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        // Any character, escaped as serde_json escapes it.
        8 => any::<char>().prop_map(|c| {
            let quoted = serde_json::to_string(&c.to_string()).unwrap();
            quoted[1..quoted.len() - 1].to_owned()
        }),
        4 => "[a-z ]{1,8}",
        // What PostgreSQL refuses, spelled both ways JSON allows.
        1 => Just(r"\u0000".to_owned()),
        // Unpaired surrogates, and a valid pair (U+1F600).
        1 => prop::sample::select(vec![r"\ud800", r"\udbff", r"\udc00", r"\udfff"]).prop_map(String::from),
        1 => Just(r"\ud83d\ude00".to_owned()),
        // Noncharacters, raw and escaped, and 4-byte characters.
        1 => prop::sample::select(vec!["\u{fffe}", "\u{ffff}", r"\uffff", r"\ufdd0", "\u{10ffff}", "😀", "𝄞"]).prop_map(String::from),
        // Escapes of every kind, and some that are not JSON.
        1 => prop::sample::select(vec![r"\n", r"\t", r"\u0001", r"\\", r#"\""#, r"\/", r"\x", "\u{1}", "\u{0}"]).prop_map(String::from),
    ]
}

/// A JSON string literal's content: a few pieces, or a long run near or
/// over the body limit with a piece at its end.
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(piece(), 0..16).prop_map(|p| p.concat()),
        2 => ((MAX_BODY_BYTES - 200)..(MAX_BODY_BYTES + 200), piece())
            .prop_map(|(n, p)| format!("{}{p}", "x".repeat(n))),
        // 4 bytes each: around the limit once the element's JSON is around it.
        1 => ((MAX_BODY_BYTES / 4 - 40)..(MAX_BODY_BYTES / 4 + 10))
            .prop_map(|n| "😀".repeat(n)),
    ]
}

/// Where in a send the string goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Text,
    CustomData,
    CustomExt,
    CloudCustomData,
    PushTitle,
}

#[derive(Debug, Clone)]
enum Input {
    /// `raw` (JSON string content) placed in `slot`.
    Literal { slot: Slot, raw: String },
    /// Custom element `Data` (a string in the format) as arrays nested this deep.
    Nested { depth: usize },
}

fn input() -> impl Strategy<Value = Input> {
    let slot = prop::sample::select(vec![
        Slot::Text,
        Slot::CustomData,
        Slot::CustomExt,
        Slot::CloudCustomData,
        Slot::PushTitle,
    ]);
    prop_oneof![
        9 => (slot, literal()).prop_map(|(slot, raw)| Input::Literal { slot, raw }),
        1 => (1usize..64).prop_map(|depth| Input::Nested { depth }),
    ]
}

/// The raw JSON of the `sendmsg` fields (no `From_Account`) for `input`.
fn fields(input: &Input, random: u32) -> String {
    let (msg_body, extra) = match input {
        Input::Literal { slot, raw } => {
            let s = format!("\"{raw}\"");
            match slot {
                Slot::Text => (
                    format!(r#"[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":{s}}}}}]"#),
                    String::new(),
                ),
                Slot::CustomData => (
                    format!(
                        r#"[{{"MsgType":"TIMCustomElem","MsgContent":{{"Data":{s},"Desc":"d"}}}}]"#
                    ),
                    String::new(),
                ),
                Slot::CustomExt => (
                    format!(
                        r#"[{{"MsgType":"TIMCustomElem","MsgContent":{{"Data":"d","Ext":{s}}}}}]"#
                    ),
                    String::new(),
                ),
                Slot::CloudCustomData => (plain_body(), format!(r#","CloudCustomData":{s}"#)),
                Slot::PushTitle => (
                    plain_body(),
                    format!(r#","OfflinePushInfo":{{"PushFlag":0,"Title":{s}}}"#),
                ),
            }
        }
        Input::Nested { depth } => (
            format!(
                r#"[{{"MsgType":"TIMCustomElem","MsgContent":{{"Data":{}"d"{}}}}}]"#,
                "[".repeat(*depth),
                "]".repeat(*depth)
            ),
            String::new(),
        ),
    };
    format!(
        r#""To_Account":"bob","MsgRandom":{random},"MsgSeq":{random},"MsgBody":{msg_body}{extra}"#
    )
}

fn plain_body() -> String {
    r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"plain"}}]"#.to_owned()
}

/// What must become of `input`: `Ok(the string as stored)` or `Err(codes
/// that may refuse it)`. `bad_json` is the channel's code for a body or
/// frame that does not parse (90001 REST, 20001 WebSocket).
fn expected(input: &Input, bad_json: u32) -> Result<Option<String>, Vec<u32>> {
    let (slot, raw) = match input {
        // Deeper than the nesting limit, or not a string.
        Input::Nested { .. } => return Err(vec![bad_json, 90010]),
        Input::Literal { slot, raw } => (*slot, raw),
    };
    let Ok(s) = serde_json::from_str::<String>(&format!("\"{raw}\"")) else {
        return Err(vec![bad_json]);
    };
    let nul = s.contains('\0');
    // ingest's order: CloudCustomData, the body's size, the elements, then
    // OfflinePushInfo.
    if slot == Slot::CloudCustomData && nul {
        return Err(vec![90002]);
    }
    let msg_body: Value = serde_json::from_str(&match slot {
        Slot::CloudCustomData | Slot::PushTitle => plain_body(),
        _ => fields(input, 0)
            .split_once(r#""MsgBody":"#)
            .unwrap()
            .1
            .to_owned(),
    })
    .unwrap();
    let ccd = if slot == Slot::CloudCustomData {
        s.len()
    } else {
        0
    };
    if serde_json::to_vec(&msg_body).unwrap().len() + ccd > MAX_BODY_BYTES {
        return Err(vec![93000]);
    }
    match slot {
        Slot::Text | Slot::CustomData | Slot::CustomExt if nul => Err(vec![90010]),
        Slot::PushTitle if nul => Err(vec![90043]),
        // The push title is not in history; the message is.
        Slot::PushTitle => Ok(None),
        _ => Ok(Some(s)),
    }
}

/// The string `slot` holds in a message read back from history.
fn stored(m: &Value, slot: Slot) -> Option<String> {
    let content = &m["MsgBody"][0]["MsgContent"];
    let v = match slot {
        Slot::Text => &content["Text"],
        Slot::CustomData => &content["Data"],
        Slot::CustomExt => &content["Ext"],
        Slot::CloudCustomData => &m["CloudCustomData"],
        Slot::PushTitle => return None,
    };
    v.as_str().map(str::to_owned)
}

/// Accepted sends, by MsgKey: where their string went and what it was.
type Accepted = HashMap<String, (Slot, Option<String>)>;

#[test]
fn random_strings_through_rest_and_websocket_are_refused_or_stored_identically() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(TestApp::spawn());
    let ws = AsyncMutex::new(rt.block_on(async {
        let mut ws = app.ws("alice", "phone").await;
        ws.next_of("sync_done").await;
        ws
    }));
    let log_before = app.changes_on_log();
    let accepted: Mutex<Accepted> = Mutex::new(HashMap::new());
    let refused: Mutex<std::collections::BTreeMap<u64, usize>> = Mutex::default();
    let next = std::sync::atomic::AtomicU32::new(1);

    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&input(), |input| {
        rt.block_on(async {
            // Over REST, as the administrator sending as alice.
            let random = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = format!(r#"{{"From_Account":"alice",{}}}"#, fields(&input, random));
            let (status, reply) = app
                .rest_raw("openim/sendmsg", &app.admin_query(), body)
                .await;
            tally(&refused, &reply["ErrorCode"]);
            check(
                &input,
                90001,
                status,
                &reply,
                &reply["ErrorCode"],
                &reply["MsgKey"],
                &accepted,
            )?;

            // Over WebSocket, as alice's device.
            let random = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let frame = format!(
                r#"{{"type":"send","id":{random},"msg":{{{}}}}}"#,
                fields(&input, random)
            );
            let mut ws = ws.lock().await;
            let reply = ws_send(&mut ws, frame, random).await;
            let code = if reply["type"] == "sent" {
                json!(0)
            } else {
                reply["code"].clone()
            };
            tally(&refused, &code);
            check(
                &input,
                20001,
                200,
                &reply,
                &code,
                &reply["msg_key"],
                &accepted,
            )
        })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }

    // What the cases came to, by code (0: accepted), for `make fuzz` logs.
    eprintln!("answers by code: {:?}", refused.into_inner().unwrap());
    rt.block_on(async {
        let accepted = accepted.into_inner().unwrap();
        // Exactly the accepted sends are on the log, and all are projected
        // (wait_projected fails if the projector stalls).
        assert_eq!(app.changes_on_log() - log_before, accepted.len() as i64);
        app.wait_projected().await;
        // Every accepted string reads back identical.
        let history = history(&app).await;
        assert_eq!(history.len(), accepted.len());
        for (key, (slot, want)) in &accepted {
            let m = history
                .get(key)
                .unwrap_or_else(|| panic!("{key} is not in history"));
            if want.is_some() {
                assert_eq!(&stored(m, *slot), want, "{key} ({slot:?}) read back");
            }
        }
        // Nothing stalled: a plain message afterwards is projected and read.
        let after = app.send_text("alice", "bob", 0, "after the fuzz").await;
        app.wait_projected().await;
        let history = self::history(&app).await;
        let m = &history[after["MsgKey"].as_str().unwrap()];
        assert_eq!(m["MsgBody"][0]["MsgContent"]["Text"], "after the fuzz");
        drop(ws);
        app.stop().await;
    });
}

/// Counts an answer's code (0: accepted).
fn tally(counts: &Mutex<std::collections::BTreeMap<u64, usize>>, code: &Value) {
    *counts
        .lock()
        .unwrap()
        .entry(code.as_u64().unwrap_or(u64::MAX))
        .or_default() += 1;
}

/// Checks one answer against what `input` calls for, and records an
/// accepted send.
fn check(
    input: &Input,
    bad_json: u32,
    status: u16,
    reply: &Value,
    code: &Value,
    msg_key: &Value,
    accepted: &Mutex<Accepted>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(status, 200, "{}", reply);
    match expected(input, bad_json) {
        Ok(want) => {
            prop_assert_eq!(code, &json!(0), "{:?} was refused: {}", input, reply);
            let slot = match input {
                Input::Literal { slot, .. } => *slot,
                Input::Nested { .. } => unreachable!("never accepted"),
            };
            let key = msg_key.as_str().unwrap().to_owned();
            prop_assert!(
                accepted.lock().unwrap().insert(key, (slot, want)).is_none(),
                "a MsgKey was reused: {}",
                reply
            );
        }
        Err(codes) => {
            let got = code.as_u64().unwrap_or(0) as u32;
            prop_assert!(
                codes.contains(&got),
                "{:?}: expected one of {:?}, got {}",
                input,
                codes,
                reply
            );
        }
    }
    Ok(())
}

/// Sends a raw frame; returns the reply with `id`, or the id-less error a
/// frame that does not parse gets.
async fn ws_send(ws: &mut WsClient, frame: String, id: u32) -> Value {
    ws.stream
        .send(Message::Text(frame.into()))
        .await
        .expect("send frame");
    loop {
        let f = ws.next().await;
        assert_ne!(f["type"], "closed", "the session closed: {f}");
        if f["id"] == id || (f["type"] == "error" && f["id"].is_null()) {
            return f;
        }
    }
}

/// alice's history with bob, by MsgKey (every page).
async fn history(app: &TestApp) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut last_key = String::new();
    let max_time = missive_core::time::now_secs() + 60;
    loop {
        let page = app
            .rest(
                "openim/admin_getroammsg",
                json!({"Operator_Account": "alice", "Peer_Account": "bob", "MaxCnt": 100,
                    "MinTime": 0, "MaxTime": max_time, "LastMsgKey": last_key}),
            )
            .await;
        assert_eq!(page["ErrorCode"], 0, "{page}");
        for m in page["MsgList"].as_array().unwrap() {
            out.insert(m["MsgKey"].as_str().unwrap().to_owned(), m.clone());
        }
        if page["Complete"] == 1 {
            return out;
        }
        last_key = page["LastMsgKey"].as_str().unwrap().to_owned();
    }
}
