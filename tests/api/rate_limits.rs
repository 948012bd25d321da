//! Rate limits: per app and API on the REST API (60007), per user on sends
//! over REST and WebSocket (60018), both answered with HTTP 429 and
//! appending nothing; one user's flood leaves another's sends untouched.
//!
//! No timing is asserted: a flood is many concurrent requests against a
//! budget of a few per second, so some are refused however fast the machine
//! is, and every assertion is about counts and codes.

use crate::support;

use futures::future::join_all;
use serde_json::{json, Value};

use support::{text_body, TestApp};

fn send(from: &str, to: &str, random: u32) -> Value {
    json!({"From_Account": from, "To_Account": to, "MsgRandom": random, "MsgBody": text_body("flood")})
}

/// Sends every body concurrently; returns (HTTP status, reply) of each.
async fn flood(app: &TestApp, api: &str, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    join_all(
        bodies
            .into_iter()
            .map(|b| async move { app.rest_raw(api, &app.admin_query(), b.to_string()).await }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_is_limited_per_rest_api_with_60007_and_nothing_is_appended() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rest_api_per_sec = 2;
        c.limits.user_sends_per_sec = 0;
    })
    .await;
    let before = app.changes_on_log();
    let replies = flood(
        &app,
        "openim/sendmsg",
        (0..40).map(|i| send(&format!("u{i}"), "bob", i)).collect(),
    )
    .await;
    let accepted = replies.iter().filter(|(_, r)| r["ErrorCode"] == 0).count();
    let limited: Vec<_> = replies
        .iter()
        .filter(|(_, r)| r["ErrorCode"] != 0)
        .collect();
    assert!(accepted >= 2, "the burst of 2 is accepted: {replies:?}");
    assert!(!limited.is_empty(), "40 calls at once exceed 2 per second");
    for (status, r) in &limited {
        assert_eq!(*status, 429, "{r}");
        assert_eq!(r["ErrorCode"], 60007, "{r}");
        assert_eq!(r["ActionStatus"], "FAIL");
        let info = r["ErrorInfo"].as_str().unwrap();
        assert!(
            info.contains("openim/sendmsg is limited to 2 calls per second"),
            "{info}"
        );
    }
    // Exactly the accepted sends are on the log.
    assert_eq!(app.changes_on_log() - before, accepted as i64);
    app.wait_projected().await;
    app.wait_for_count("SELECT count(*) FROM messages", accepted as i64)
        .await;
    // The limit is per API: another API still answers.
    let (status, reply) = app
        .rest_raw(
            "openim/get_c2c_unread_msg_num",
            &app.admin_query(),
            json!({"To_Account": "bob"}).to_string(),
        )
        .await;
    assert_eq!(
        (status, reply["ErrorCode"].clone()),
        (200, json!(0)),
        "{reply}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_users_rest_flood_does_not_touch_another_users_sends() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rest_api_per_sec = 0;
        c.limits.user_sends_per_sec = 1;
        c.limits.user_sends_burst = 3;
    })
    .await;
    let before = app.changes_on_log();
    // alice floods while bob sends his burst, all at once.
    let mut bodies: Vec<Value> = (0..40).map(|i| send("alice", "carol", i)).collect();
    bodies.extend((0..3).map(|i| send("bob", "carol", 1000 + i)));
    let replies = flood(&app, "openim/sendmsg", bodies).await;
    let (alice, bob) = replies.split_at(40);
    for (status, r) in bob {
        assert_eq!(
            (*status, r["ErrorCode"].clone()),
            (200, json!(0)),
            "bob: {r}"
        );
    }
    let alice_ok = alice.iter().filter(|(_, r)| r["ErrorCode"] == 0).count();
    assert!((3..40).contains(&alice_ok), "alice: {alice_ok} accepted");
    for (status, r) in alice.iter().filter(|(_, r)| r["ErrorCode"] != 0) {
        assert_eq!(*status, 429);
        assert_eq!(r["ErrorCode"], 60018, "{r}");
        assert!(
            r["ErrorInfo"]
                .as_str()
                .unwrap()
                .contains("alice sends more than 1 messages per second"),
            "{r}"
        );
    }
    assert_eq!(app.changes_on_log() - before, (alice_ok + 3) as i64);
    // All of bob's reach carol.
    app.wait_for_count(
        "SELECT count(*) FROM messages WHERE from_account = 'bob'",
        3,
    )
    .await;
    // The administrator's own sends (no From_Account) are not a user's.
    let admin_sends = flood(
        &app,
        "openim/sendmsg",
        (0..5)
            .map(|i| json!({"To_Account": "carol", "MsgRandom": 5000 + i, "MsgBody": text_body("notice")}))
            .collect(),
    )
    .await;
    for (_, r) in admin_sends {
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_users_websocket_flood_does_not_touch_another_users_sends() {
    let app = TestApp::spawn_with(|c| {
        c.limits.user_sends_per_sec = 1;
        c.limits.user_sends_burst = 3;
    })
    .await;
    let mut alice = app.ws("alice", "phone").await;
    alice.next_of("sync_done").await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;
    let mut carol = app.ws("carol", "phone").await;
    carol.next_of("sync_done").await;
    let before = app.changes_on_log();

    // alice sends 30 frames without waiting; bob sends his 3 meanwhile.
    for i in 0..30u32 {
        alice
            .send(json!({"type": "send", "id": i, "msg": {"To_Account": "carol", "MsgRandom": i, "MsgBody": text_body("flood")}}))
            .await;
    }
    for i in 0..3u32 {
        bob.send(json!({"type": "send", "id": i, "msg": {"To_Account": "carol", "MsgRandom": 100 + i, "MsgBody": text_body("hello")}}))
            .await;
    }
    let mut alice_sent = 0;
    let mut alice_limited = 0;
    while alice_sent + alice_limited < 30 {
        let f = alice.next().await;
        match f["type"].as_str() {
            Some("sent") => alice_sent += 1,
            Some("error") => {
                assert_eq!(f["code"], 60018, "{f}");
                alice_limited += 1;
            }
            Some("closed") => panic!("alice's session closed: {f}"),
            _ => {}
        }
    }
    assert!(alice_limited > 0, "30 sends at once exceed a burst of 3");
    let mut bob_sent = 0;
    while bob_sent < 3 {
        let f = bob.next().await;
        assert_ne!(f["type"], "error", "bob was limited: {f}");
        if f["type"] == "sent" {
            bob_sent += 1;
        }
    }
    assert_eq!(app.changes_on_log() - before, alice_sent + 3);
    // carol receives every accepted message, bob's three among them.
    let mut from_bob = 0;
    for _ in 0..(alice_sent + 3) {
        let m = carol.next_of("message").await;
        if m["from"] == "bob" {
            from_bob += 1;
        }
    }
    assert_eq!(from_bob, 3);
    app.stop().await;
}

/// Every WebSocket request type counts against a per-user request rate, not
/// only sends: a user flooding history, read, recall, contacts or push_token
/// frames (or frames that do not parse) is answered 60018 with the frame's
/// id, and another user's requests are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_websocket_request_type_is_rate_limited_per_user() {
    let app = TestApp::spawn_with(|c| {
        c.limits.user_requests_per_sec = 1;
        c.limits.user_requests_burst = 3;
    })
    .await;
    let mut alice = app.ws("alice", "phone").await;
    alice.next_of("sync_done").await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;
    let before = app.changes_on_log();

    let kinds = [
        json!({"type": "history", "peer": "bob"}),
        json!({"type": "read", "peer": "bob"}),
        json!({"type": "recall", "peer": "bob", "msg_key": "1_2_abcdef012345"}),
        json!({"type": "contacts"}),
        json!({"type": "push_token", "platform": "fcm", "token": "t"}),
        json!({"type": "ping"}),
    ];
    // Five rounds of every type, without waiting for replies.
    let mut sent = 0u64;
    for _ in 0..5 {
        for k in &kinds {
            let mut f = k.clone();
            f["id"] = sent.into();
            alice.send(f).await;
            sent += 1;
        }
    }
    // A frame that does not parse counts too (its error has no id).
    alice.send(json!({"type": "teleport"})).await;
    let mut limited_types = std::collections::BTreeSet::new();
    let mut answered = 0;
    let mut bad_frame = None;
    while answered < sent || bad_frame.is_none() {
        let f = alice.next().await;
        assert_ne!(f["type"], "closed", "alice's session closed: {f}");
        let Some(id) = f["id"].as_u64() else {
            if f["type"] == "error" {
                bad_frame = Some(f);
            }
            continue;
        };
        answered += 1;
        if f["type"] == "error" && f["code"] == 60018 {
            assert!(
                f["info"]
                    .as_str()
                    .unwrap()
                    .contains("alice makes more than 1 requests per second"),
                "{f}"
            );
            limited_types.insert(kinds[(id % kinds.len() as u64) as usize]["type"].to_string());
        }
    }
    assert_eq!(
        limited_types.len(),
        kinds.len(),
        "30 requests against a burst of 3 limit every type: {limited_types:?}"
    );
    let bad_frame = bad_frame.unwrap();
    assert_eq!(bad_frame["code"], 60018, "{bad_frame}");
    // bob's budget is his own.
    let reply = bob
        .request(1, json!({"type": "history", "peer": "alice"}))
        .await;
    assert_eq!(reply["type"], "history", "{reply}");
    // Limited requests changed nothing (alice's accepted read and push_token
    // changes are appended, nothing else).
    assert!(app.changes_on_log() - before <= 3);
    app.stop().await;
}
