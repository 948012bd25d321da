//! Delivery to every device: multi-device fan-out, the sender's other
//! devices, requests over the WebSocket (send, history, read, recall,
//! contacts), reconnects, slow clients and several delivery instances.

use crate::support;
use support::JsonReply;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use support::{start_delivery, TestApp, WsClient};

fn text(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

/// A session past its login sync.
async fn online(app: &TestApp, user: &str, device: &str) -> WsClient {
    let mut ws = app.ws(user, device).await;
    ws.next_of("sync_done").await;
    ws
}

/// The seqs of a `history` reply's messages, in order.
fn seqs_of(page: &Value) -> Vec<i64> {
    page["messages"]
        .as_array()
        .expect("a history reply")
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

/// Sends a request frame and returns its reply (the frame with the same id).
async fn request(ws: &mut WsClient, id: u64, mut frame: Value) -> Value {
    frame["id"] = id.into();
    ws.send(frame).await;
    loop {
        let f = ws.next().await;
        if f["id"] == id {
            return f;
        }
        assert_ne!(f["type"], "closed", "closed while waiting for reply {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_device_of_the_recipient_and_the_senders_other_devices_receive() {
    let app = TestApp::spawn().await;
    let mut bob = Vec::new();
    for device in ["phone", "tablet", "web"] {
        bob.push(online(&app, "bob", device).await);
    }
    let mut alice_phone = online(&app, "alice", "phone").await;
    let mut alice_web = online(&app, "alice", "web").await;

    let sent = request(
        &mut alice_phone,
        1,
        json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 7, "MsgBody": text("hi all")}}),
    )
    .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let key = sent["msg_key"].as_str().unwrap().to_owned();

    for ws in bob.iter_mut().chain([&mut alice_web, &mut alice_phone]) {
        let m = ws.next_of("message").await;
        assert_eq!(m["msg_key"], key.as_str());
        assert_eq!(m["from"], "alice");
        assert_eq!(m["seq"], 1);
        assert_eq!(m["body"][0]["MsgContent"]["Text"], "hi all");
    }
    // Exactly once each.
    for ws in bob.iter_mut().chain([&mut alice_web, &mut alice_phone]) {
        ws.expect_silence(Duration::from_millis(300)).await;
    }

    // SyncOtherMachine=2: the recipient's devices only.
    let sent = request(
        &mut alice_phone,
        2,
        json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 8, "SyncOtherMachine": 2, "MsgBody": text("just bob")}}),
    )
    .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    for ws in bob.iter_mut() {
        assert_eq!(
            ws.next_of("message").await["body"][0]["MsgContent"]["Text"],
            "just bob"
        );
    }
    alice_web.expect_silence(Duration::from_millis(300)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_reads_recalls_and_contacts_over_the_websocket() {
    let app = TestApp::spawn().await;
    let mut alice = online(&app, "alice", "phone").await;
    let mut bob = online(&app, "bob", "phone").await;
    let mut bob_tablet = online(&app, "bob", "tablet").await;
    let mut keys = Vec::new();
    for i in 0..5u32 {
        let r = request(
            &mut alice,
            u64::from(i),
            json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": i, "MsgBody": text(&format!("m{i}"))}}),
        )
        .await;
        assert_eq!(r["type"], "sent", "{r}");
        keys.push(r["msg_key"].as_str().unwrap().to_owned());
        bob.next_of("message").await;
    }
    // A retried send (same MsgRandom) is the same message.
    let again = request(
        &mut alice,
        50,
        json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 4, "MsgBody": text("m4")}}),
    )
    .await;
    assert_eq!(again["msg_key"], keys[4].as_str());

    // History pages, newest first, from the roaming store.
    let page = request(
        &mut bob,
        10,
        json!({"type": "history", "peer": "alice", "count": 3}),
    )
    .await;
    let seqs = seqs_of(&page);
    assert_eq!(seqs, [5, 4, 3]);
    assert_eq!(page["complete"], false);
    let page = request(
        &mut bob,
        11,
        json!({"type": "history", "peer": "alice", "count": 3, "before_seq": 3}),
    )
    .await;
    let seqs = seqs_of(&page);
    assert_eq!(seqs, [2, 1]);
    assert_eq!(page["complete"], true);
    // A gap 2..=4, as a client that holds 1 and 5 asks for it.
    let page = request(
        &mut bob,
        17,
        json!({"type": "history", "peer": "alice", "after_seq": 1, "before_seq": 5}),
    )
    .await;
    let seqs = seqs_of(&page);
    assert_eq!(seqs, [4, 3, 2]);
    assert_eq!(page["complete"], true);

    // A read report up to seq 3: bob's other device clears, alice gets a receipt.
    let ok = request(
        &mut bob,
        12,
        json!({"type": "read", "peer": "alice", "seq": 3}),
    )
    .await;
    assert_eq!(ok, json!({"type": "ok", "id": 12}));
    for ws in [&mut bob_tablet, &mut alice] {
        let r = ws.next_of("read").await;
        assert_eq!(r["reader"], "bob");
        assert_eq!(r["read_seq"], 3);
    }
    let contacts = request(&mut bob, 13, json!({"type": "contacts", "messages": 2})).await;
    assert_eq!(contacts["contacts"][0]["peer"], "alice");
    assert_eq!(contacts["contacts"][0]["unread"], 2);
    assert_eq!(
        contacts["contacts"][0]["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(contacts["contacts"][0]["last_message"]["seq"], 5);

    // Recall: only the sender may; both sides' devices are told.
    let refused = request(
        &mut bob,
        14,
        json!({"type": "recall", "peer": "alice", "msg_key": keys[0]}),
    )
    .await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], 20022, "{refused}");
    let ok = request(
        &mut alice,
        15,
        json!({"type": "recall", "peer": "bob", "msg_key": keys[0]}),
    )
    .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    for ws in [&mut bob, &mut bob_tablet] {
        let m = ws.next_of("message").await;
        assert_eq!(m["event"], "recall");
        assert_eq!(m["msg_key"], keys[0].as_str());
    }
    let again = request(
        &mut alice,
        16,
        json!({"type": "recall", "peer": "bob", "msg_key": keys[0]}),
    )
    .await;
    assert_eq!(again["code"], 20023, "{again}");

    // Bad requests: precise errors carrying the id, and nothing appended.
    let before = app.changes_on_log();
    for (id, frame, code) in [
        (
            20,
            json!({"type": "send", "msg": {"From_Account": "carol", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("spoof")}}),
            90008,
        ),
        (
            21,
            json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 1, "MsgBody": [{"MsgType": "TIMSystemElem", "MsgContent": {"Text": "x"}}]}}),
            90009,
        ),
        (
            22,
            json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 1}}),
            90002,
        ),
        (
            23,
            json!({"type": "send", "msg": {"To_Account": "b:c", "MsgRandom": 1, "MsgBody": text("x")}}),
            90003,
        ),
        (
            24,
            json!({"type": "history", "peer": "alice", "count": 0}),
            20001,
        ),
        (25, json!({"type": "history", "peer": "a:b"}), 90003),
        (
            26,
            json!({"type": "read", "peer": "alice", "seq": 99}),
            20001,
        ),
        (27, json!({"type": "contacts", "start": -1}), 20001),
    ] {
        let r = request(&mut alice, id, frame.clone()).await;
        assert_eq!(r["type"], "error", "{frame}: {r}");
        assert_eq!(r["code"], code, "{frame}: {r}");
    }
    assert_eq!(app.changes_on_log(), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blocked_senders_websocket_message_is_accepted_but_not_delivered() {
    let app = TestApp::spawn().await;
    let r = app
        .rest(
            "im_open_login_svc/multiaccount_import",
            json!({"Accounts": ["gil", "hal"]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app
        .rest(
            "sns/black_list_add",
            json!({"From_Account": "gil", "To_Account": ["hal"]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let mut gil = online(&app, "gil", "phone").await;
    let mut hal = online(&app, "hal", "phone").await;
    let r = request(
        &mut hal,
        1,
        json!({"type": "send", "msg": {"To_Account": "gil", "MsgRandom": 1, "MsgBody": text("let me in")}}),
    )
    .await;
    assert_eq!(
        r["type"], "sent",
        "Tencent's default: the sender sees success: {r}"
    );
    // The sender's own devices see it; the blocker never does.
    assert_eq!(hal.next_of("message").await["to"], "gil");
    gil.expect_silence(Duration::from_millis(500)).await;
    let contacts = request(&mut gil, 2, json!({"type": "contacts"})).await;
    assert_eq!(contacts["contacts"], json!([]));
    let contacts = request(&mut hal, 3, json!({"type": "contacts"})).await;
    assert_eq!(contacts["contacts"][0]["peer"], "gil");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconnecting_device_gets_what_it_missed_once() {
    let app = TestApp::spawn().await;
    let mut ws = online(&app, "mia", "phone").await;
    let mut cursor = 0;
    for i in 0..5u32 {
        app.send_text("leo", "mia", i, &format!("live {i}")).await;
        let m = ws.next_of("message").await;
        cursor = m["cursor"].as_i64().unwrap();
    }
    drop(ws);
    let mut keys = Vec::new();
    for i in 5..10u32 {
        keys.push(
            app.send_text("leo", "mia", i, &format!("missed {i}")).await["MsgKey"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.wait_projected().await;
    let mut ws = app.ws_with_cursor("mia", "phone", Some(cursor)).await;
    let mut seen = Vec::new();
    loop {
        let f = ws.next().await;
        match f["type"].as_str().unwrap() {
            "message" => seen.push(
                f["body"][0]["MsgContent"]["Text"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            "contacts" => {}
            "sync_done" => break,
            other => panic!("unexpected {other}: {f}"),
        }
    }
    assert_eq!(
        seen,
        (5..10).map(|i| format!("missed {i}")).collect::<Vec<_>>()
    );
    app.send_text("leo", "mia", 10, "live again").await;
    assert_eq!(
        ws.next_of("message").await["body"][0]["MsgContent"]["Text"],
        "live again"
    );
    ws.expect_silence(Duration::from_millis(300)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_client_is_cut_off_and_never_holds_up_the_others() {
    let app = TestApp::spawn_with(|c| {
        c.delivery.send_queue = 8;
        c.delivery.stall_timeout_ms = 500;
    })
    .await;
    let addr = app.delivery.as_ref().unwrap().addr;
    let slow = WsClient::connect_slow(addr).await;
    let mut slow = app.login(slow, "slow", "phone", None).await;
    slow.next_of("sync_done").await;
    let mut fast = online(&app, "fast", "phone").await;
    // ~10 KB each: far more than the slow client's socket and queue hold.
    let big = "x".repeat(10_000);
    let total = 800u32;
    let sender = {
        let (http, url, big) = (
            app.http.clone(),
            app.rest_url("openim/batchsendmsg", &app.admin_query()),
            big.clone(),
        );
        tokio::spawn(async move {
            for i in 0..total {
                let body = json!({"From_Account": "src", "To_Account": ["slow", "fast"], "MsgRandom": i,
                                  "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": big}}]});
                let r: Value = http.post(&url).body(body.to_string()).json_reply().await;
                assert_eq!(r["ErrorCode"], 0, "{r}");
            }
        })
    };
    // The fast client gets every message, in order, while the slow one stalls.
    for i in 0..total {
        let m = fast.next_of("message").await;
        assert_eq!(m["msg_random"], i);
    }
    sender.await.unwrap();
    // The slow one was cut off: its stream ends before it has them all.
    let mut got = 0;
    loop {
        let f = slow.next().await;
        match f["type"].as_str().unwrap() {
            "message" => got += 1,
            "closed" => break,
            _ => {}
        }
    }
    assert!(
        got < total,
        "the slow client was not cut off ({got} messages)"
    );
    let metrics = app.metrics(addr).await;
    assert!(
        metrics.lines().any(|l| l.starts_with("missive_delivery_slow_disconnects_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // It resyncs from its cursor on reconnect: nothing is lost.
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_delivery_instances_share_users_and_presence() {
    let app = TestApp::spawn().await;
    let mut second_config = (*app.config).clone();
    second_config.instance_id = format!("{}-b", app.config.instance_id);
    let second = start_delivery(&Arc::new(second_config)).await;
    let first_addr = app.delivery.as_ref().unwrap().addr;

    let mut on_first = app.ws_at(first_addr, "nia", "phone", None).await;
    let mut on_second = app.ws_at(second.addr, "nia", "laptop", None).await;
    on_first.next_of("sync_done").await;
    on_second.next_of("sync_done").await;

    let state = app
        .rest(
            "openim/query_online_status",
            json!({"To_Account": ["nia"], "IsNeedDetail": 1}),
        )
        .await;
    assert_eq!(state["QueryResult"][0]["Status"], "Online", "{state}");
    let platforms: HashSet<String> = state["QueryResult"][0]["Detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Platform"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        platforms.len(),
        1,
        "both devices report platform Web: {state}"
    );
    assert_eq!(
        state["QueryResult"][0]["Detail"].as_array().unwrap().len(),
        2,
        "{state}"
    );

    let key = app.send_text("oli", "nia", 1, "to both instances").await["MsgKey"]
        .as_str()
        .unwrap()
        .to_owned();
    for ws in [&mut on_first, &mut on_second] {
        assert_eq!(ws.next_of("message").await["msg_key"], key.as_str());
    }
    // The second instance stops: its device goes offline, the first stays.
    drop(on_second);
    second.shutdown().await;
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let state = app
            .rest(
                "openim/query_online_status",
                json!({"To_Account": ["nia"], "IsNeedDetail": 1}),
            )
            .await;
        if state["QueryResult"][0]["Detail"].as_array().map(Vec::len) == Some(1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.send_text("oli", "nia", 2, "still here").await;
    assert_eq!(
        on_first.next_of("message").await["body"][0]["MsgContent"]["Text"],
        "still here"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_registers_and_removes_its_push_token() {
    let app = TestApp::spawn().await;
    let mut ws = online(&app, "pia", "phone").await;
    let token = "ab".repeat(32);
    let ok = request(
        &mut ws,
        1,
        json!({"type": "push_token", "platform": "apns", "token": token}),
    )
    .await;
    assert_eq!(ok, json!({"type": "ok", "id": 1}));
    assert_eq!(
        app.scalar("SELECT count(*) FROM live_push_tokens WHERE user_id = 'pia' AND device_id = 'phone' AND platform = 'apns'")
            .await,
        1
    );
    for (id, frame, code) in [
        (
            2,
            json!({"type": "push_token", "platform": "pager", "token": "x"}),
            96002,
        ),
        (
            3,
            json!({"type": "push_token", "platform": "apns", "token": "not hex"}),
            96003,
        ),
        (
            4,
            json!({"type": "push_token", "platform": "fcm", "token": "never-set", "remove": true}),
            96004,
        ),
    ] {
        let r = request(&mut ws, id, frame.clone()).await;
        assert_eq!(r["code"], code, "{frame}: {r}");
    }
    let ok = request(
        &mut ws,
        5,
        json!({"type": "push_token", "platform": "apns", "token": token, "remove": true}),
    )
    .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    assert_eq!(app.scalar("SELECT count(*) FROM live_push_tokens").await, 0);
    app.stop().await;
}
