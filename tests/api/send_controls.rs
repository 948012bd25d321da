//! Issue #19, item 4: Tencent's send controls. `SendMsgControl` NoUnread /
//! NoLastMsg, a batch's one MsgKey recalling every recipient's copy,
//! `importmsg` with today's `SyncFromOldSystem` 5 and history ordered by
//! `MsgTimeStamp`, online-only messages (`MsgLifeTime` 0), and Tencent's
//! rule that a repeated `MsgRandom` without `MsgSeq` is a retry only within
//! the same second.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};

use support::TestApp;

fn text(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

fn now_secs() -> i64 {
    missive_core::time::now_secs() as i64
}

async fn send(app: &TestApp, body: Value) -> Value {
    let reply = app.rest("openim/sendmsg", body).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply
}

async fn unread(app: &TestApp, user: &str, peer: &str) -> i64 {
    let reply = app
        .rest(
            "openim/get_c2c_unread_msg_num",
            json!({"To_Account": user, "Peer_Account": [peer]}),
        )
        .await;
    reply["C2CUnreadMsgNumList"][0]["C2CUnreadMsgNum"]
        .as_i64()
        .unwrap_or_else(|| panic!("{reply}"))
}

async fn contacts(app: &TestApp, user: &str) -> Vec<Value> {
    let reply = app
        .rest("recentcontact/get_list", json!({"From_Account": user}))
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply["SessionItem"].as_array().unwrap().clone()
}

async fn history(app: &TestApp, operator: &str, peer: &str, min_time: i64) -> Vec<Value> {
    let reply = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": operator, "Peer_Account": peer, "MaxCnt": 100,
                   "MinTime": min_time, "MaxTime": now_secs() + 60}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply["MsgList"].as_array().unwrap().clone()
}

fn texts(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|m| m["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_msg_control_keeps_a_message_out_of_unread_counts_and_last_message() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["ann", "ben"]).await;
    let first = send(
        &app,
        json!({"From_Account": "ann", "To_Account": "ben", "MsgRandom": 1, "MsgBody": text("counted")}),
    )
    .await;
    send(
        &app,
        json!({"From_Account": "ann", "To_Account": "ben", "MsgRandom": 2, "MsgBody": text("quiet"),
               "SendMsgControl": ["NoUnread"]}),
    )
    .await;
    send(
        &app,
        json!({"From_Account": "ann", "To_Account": "ben", "MsgRandom": 3, "MsgBody": text("not last"),
               "SendMsgControl": ["NoLastMsg", "NoUnread", "WithMuteNotifications"]}),
    )
    .await;
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;

    // Only the first counts; all three are in history.
    assert_eq!(unread(&app, "ben", "ann").await, 1);
    assert_eq!(
        texts(&history(&app, "ben", "ann", 0).await),
        ["not last", "quiet", "counted"]
    );
    // The last message both sides see is "quiet": NoLastMsg left it so.
    for (user, peer) in [("ben", "ann"), ("ann", "ben")] {
        let list = contacts(&app, user).await;
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["To_Account"], peer);
        assert_eq!(
            list[0]["LastMsg"]["MsgBody"][0]["MsgContent"]["Text"],
            "quiet"
        );
    }
    assert_ne!(first["MsgKey"], Value::Null);

    // A malformed SendMsgControl is refused and appends nothing.
    let before = app.changes_on_log();
    for bad in [json!("NoUnread"), json!(["NoUnread", "Loud"]), json!([1])] {
        let reply = app
            .rest(
                "openim/sendmsg",
                json!({"From_Account": "ann", "To_Account": "ben", "MsgRandom": 9,
                       "MsgBody": text("x"), "SendMsgControl": bad}),
            )
            .await;
        assert_eq!(reply["ErrorCode"], 20001, "{reply}");
    }
    assert_eq!(app.changes_on_log(), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_msg_key_without_msg_seq_recalls_every_recipients_copy() {
    let app = TestApp::spawn().await;
    let batch = app
        .rest(
            "openim/batchsendmsg",
            json!({"From_Account": "news", "To_Account": ["r1", "r2", "r3"], "MsgRandom": 1287657,
                   "MsgBody": text("flash sale")}),
        )
        .await;
    assert_eq!(batch["ErrorCode"], 0, "{batch}");
    let key = batch["MsgKey"].as_str().unwrap().to_owned();
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;
    for r in ["r1", "r2", "r3"] {
        let reply = app
            .rest(
                "openim/admin_msgwithdraw",
                json!({"From_Account": "news", "To_Account": r, "MsgKey": key}),
            )
            .await;
        assert_eq!(reply["ErrorCode"], 0, "{r}: {reply}");
    }
    assert_eq!(
        app.scalar("SELECT count(*) FROM messages WHERE recalled")
            .await,
        3
    );
    for r in ["r1", "r2", "r3"] {
        let list = history(&app, r, "news", 0).await;
        assert_eq!(list[0]["MsgFlagBits"], 8, "{r}: {list:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imports_take_sync_from_old_system_5_and_history_follows_their_time() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["olda", "oldb"]).await;
    let base = now_secs() - 3 * 86_400;
    let import = |mode: i64, random: u32, time: i64, t: &str| {
        json!({"SyncFromOldSystem": mode, "From_Account": "olda", "To_Account": "oldb",
               "MsgRandom": random, "MsgTimeStamp": time, "MsgBody": text(t)})
    };
    // Imported newest first, as a migration walking an old store backwards does.
    for (mode, random, offset, t) in [
        (5, 3, 120, "third"),
        (2, 1, 0, "first"),
        (5, 2, 60, "second"),
    ] {
        let reply = app
            .rest("openim/importmsg", import(mode, random, base + offset, t))
            .await;
        assert_eq!(reply["ErrorCode"], 0, "{reply}");
    }
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;
    let list = history(&app, "oldb", "olda", base - 10).await;
    assert_eq!(texts(&list), ["third", "second", "first"]);
    let times: Vec<i64> = list
        .iter()
        .map(|m| m["MsgTimeStamp"].as_i64().unwrap())
        .collect();
    assert_eq!(times, [base + 120, base + 60, base]);
    // Paging keeps that order: two pages of one message and the rest.
    let page = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "oldb", "Peer_Account": "olda", "MaxCnt": 1,
                   "MinTime": base - 10, "MaxTime": now_secs()}),
        )
        .await;
    assert_eq!(texts(page["MsgList"].as_array().unwrap()), ["third"]);
    let rest = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "oldb", "Peer_Account": "olda", "MaxCnt": 10,
                   "MinTime": base - 10, "MaxTime": page["LastMsgTime"], "LastMsgKey": page["LastMsgKey"]}),
        )
        .await;
    assert_eq!(
        texts(rest["MsgList"].as_array().unwrap()),
        ["second", "first"]
    );
    assert_eq!(rest["Complete"], 1);
    // 5 (real time) counts as unread; 2 (history) does not.
    assert_eq!(unread(&app, "oldb", "olda").await, 2);

    let before = app.changes_on_log();
    for mode in [0, 3, 4, 6] {
        let reply = app
            .rest("openim/importmsg", import(mode, 7, base, "x"))
            .await;
        assert_eq!(reply["ErrorCode"], 90030, "{mode}: {reply}");
    }
    assert_eq!(app.changes_on_log(), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_only_message_reaches_online_devices_and_nothing_else() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["cat", "dan"]).await;
    send(
        &app,
        json!({"From_Account": "cat", "To_Account": "dan", "MsgRandom": 1, "MsgBody": text("stored")}),
    )
    .await;
    // Projected before the login, so it comes with the sync, not live.
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;
    let mut online = app.ws("dan", "phone").await;
    online.next_of("sync_done").await;
    let live = send(
        &app,
        json!({"From_Account": "cat", "To_Account": "dan", "MsgRandom": 2, "MsgBody": text("typing game move"),
               "MsgLifeTime": 0}),
    )
    .await;
    let pushed = online.next_of("message").await;
    assert_eq!(pushed["msg_key"], live["MsgKey"], "{pushed}");
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;

    // A device that logs in afterwards does not get it.
    let mut later = app.ws("dan", "laptop").await;
    let mut keys = Vec::new();
    loop {
        let frame = later.next().await;
        match frame["type"].as_str() {
            Some("message") => keys.push(frame["msg_key"].clone()),
            Some("sync_done") => break,
            _ => {}
        }
    }
    assert!(!keys.contains(&live["MsgKey"]), "{keys:?}");
    // Not in history, not unread, not the last message, for either side.
    assert_eq!(texts(&history(&app, "dan", "cat", 0).await), ["stored"]);
    assert_eq!(texts(&history(&app, "cat", "dan", 0).await), ["stored"]);
    assert_eq!(unread(&app, "dan", "cat").await, 1);
    for user in ["dan", "cat"] {
        let list = contacts(&app, user).await;
        assert_eq!(
            list[0]["LastMsg"]["MsgBody"][0]["MsgContent"]["Text"],
            "stored"
        );
    }
    drop(online);
    drop(later);
    app.stop().await;
}

/// Waits until early in a second, so two sends that follow land in it.
async fn start_of_a_second() {
    loop {
        let ms = missive_core::time::now_millis() % 1000;
        if ms < 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis((1000 - ms) as u64 + 5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_msg_random_without_msg_seq_is_a_retry_only_within_the_second() {
    let app = TestApp::spawn().await;
    let body = json!({"From_Account": "shop", "To_Account": "erin", "MsgRandom": 1287657,
                      "MsgBody": text("ok")});
    start_of_a_second().await;
    let (a, b) = tokio::join!(
        app.rest("openim/sendmsg", body.clone()),
        app.rest("openim/sendmsg", body.clone())
    );
    assert_eq!((&a["ErrorCode"], &b["ErrorCode"]), (&json!(0), &json!(0)));
    assert_eq!(a["MsgKey"], b["MsgKey"], "the same second: a retry");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = send(&app, body.clone()).await;
    assert_ne!(c["MsgKey"], a["MsgKey"], "two seconds later: a new message");
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;
    assert_eq!(texts(&history(&app, "erin", "shop", 0).await), ["ok", "ok"]);
    // With MsgSeq, a retry stays a retry however late (safe retries).
    let mut with_seq = body.clone();
    with_seq["MsgSeq"] = 5.into();
    let d = send(&app, with_seq.clone()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let e = send(&app, with_seq).await;
    assert_eq!(d["MsgKey"], e["MsgKey"]);
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;
    app.stop().await;
}
