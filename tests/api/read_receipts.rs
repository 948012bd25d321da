//! Issue #19, item 5: per-message read receipts for messages sent with
//! `IsNeedReadReceipt` (a device's `receipt` frame and missive's REST
//! `missive_msg/read_receipt`; the sender's devices get a `receipt` push),
//! `IsPeerRead` in `admin_getroammsg`, and the typing indicator (relayed to
//! the peer's online devices, never on the log, rate-limited).

use crate::support;

use serde_json::{json, Value};

use support::TestApp;

/// `(MsgKey, IsPeerRead)` of `operator`'s history with `peer`, oldest first.
async fn peer_read(app: &TestApp, operator: &str, peer: &str) -> Vec<(String, i64)> {
    let mut list: Vec<(String, i64)> = app
        .roam_list(operator, peer)
        .await
        .iter()
        .map(|m| {
            (
                m["MsgKey"].as_str().unwrap().to_owned(),
                m["IsPeerRead"].as_i64().unwrap(),
            )
        })
        .collect();
    list.reverse();
    list
}

async fn send(app: &TestApp, from: &str, to: &str, random: u32, receipt: bool) -> String {
    let reply = app
        .rest(
            "openim/sendmsg",
            json!({"From_Account": from, "To_Account": to, "MsgRandom": random,
                   "IsNeedReadReceipt": i64::from(receipt),
                   "MsgBody": support::text_body(&format!("m{random}"))}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply["MsgKey"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receipts_reach_the_senders_devices_and_is_peer_read_follows_reads() {
    let app = TestApp::spawn().await;
    let k1 = send(&app, "ann", "ben", 1, true).await;
    let k2 = send(&app, "ann", "ben", 2, true).await;
    let k3 = send(&app, "ann", "ben", 3, false).await;
    let k4 = send(&app, "ben", "ann", 4, true).await;
    app.wait_for_count("SELECT count(*) FROM messages", 4).await;
    let mut ann = app.ws("ann", "phone").await;
    ann.next_of("sync_done").await;
    let mut ben = app.ws("ben", "phone").await;
    ben.next_of("sync_done").await;

    // ben reports reading k2 from his device: ann's device gets a receipt.
    let reply = ben
        .request(
            1,
            json!({"type": "receipt", "peer": "ann", "msg_keys": [k2]}),
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let receipt = ann.next_of("receipt").await;
    assert_eq!(receipt["msg_key"], k2.as_str(), "{receipt}");
    assert_eq!(receipt["reader"], "ben", "{receipt}");
    assert_eq!(receipt["peer"], "ben", "{receipt}");
    assert_eq!(receipt["seq"], 2, "{receipt}");
    assert_eq!(
        peer_read(&app, "ann", "ben").await,
        [
            (k1.clone(), 0),
            (k2.clone(), 1),
            (k3.clone(), 0),
            (k4.clone(), 0)
        ]
    );

    // The REST extension, as the administrator, for ann's message too.
    let reply = app
        .rest(
            "missive_msg/read_receipt",
            json!({"Report_Account": "ben", "Peer_Account": "ann", "MsgKeyList": [k1]}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    let receipt = ann.next_of("receipt").await;
    assert_eq!(receipt["msg_key"], k1.as_str(), "{receipt}");
    // History shows it to the sender (WebSocket) too.
    let history = ann
        .request(2, json!({"type": "history", "peer": "ben"}))
        .await;
    let read: Vec<bool> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["peer_read"].as_bool().unwrap())
        .collect();
    assert_eq!(read, [false, false, true, true], "{history}");

    // Refused, and nothing appended: a message that asked for no receipt,
    // one the reader sent, an unknown key, none at all.
    let before = app.changes_on_log();
    for (keys, code) in [
        (json!([k3]), 20001),
        (json!([k4]), 20022),
        (json!(["1_2_3"]), 20022),
        (json!([]), 20001),
    ] {
        let reply = ben
            .request(
                3,
                json!({"type": "receipt", "peer": "ann", "msg_keys": keys}),
            )
            .await;
        assert_eq!(reply["code"], code, "{keys}: {reply}");
    }
    let reply = app
        .rest(
            "missive_msg/read_receipt",
            json!({"Report_Account": "ben", "Peer_Account": "ann", "MsgKeyList": "x"}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 90054, "{reply}");
    assert_eq!(app.changes_on_log(), before);

    // A read report (the read position) makes IsPeerRead 1 for everything
    // up to it, receipt or not; ann's own unread message from ben stays 0.
    let reply = app
        .rest(
            "openim/admin_set_msg_read",
            json!({"Report_Account": "ben", "Peer_Account": "ann"}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(
        peer_read(&app, "ben", "ann").await,
        [(k1, 1), (k2, 1), (k3, 1), (k4, 0)]
    );

    app.wait_projected().await;
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_eq!(live, rebuilt);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typing_reaches_the_peers_online_devices_only_and_is_never_stored() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["ann", "cat", "dan"]).await;
    let r = app
        .rest(
            "sns/black_list_add",
            json!({"From_Account": "cat", "To_Account": ["ann"]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let mut cat = app.ws("cat", "phone").await;
    cat.next_of("sync_done").await;
    let mut dan = app.ws("dan", "phone").await;
    dan.next_of("sync_done").await;
    let mut ben_phone = app.ws("ben", "phone").await;
    ben_phone.next_of("sync_done").await;
    let mut ben_laptop = app.ws("ben", "laptop").await;
    ben_laptop.next_of("sync_done").await;
    let mut ann = app.ws("ann", "phone").await;
    ann.next_of("sync_done").await;
    let before = app.changes_on_log();

    let reply = ann
        .request(1, json!({"type": "typing", "peer": "ben"}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let expected: Value = json!({"type": "typing", "from": "ann"});
    assert_eq!(ben_phone.next_of("typing").await, expected);
    assert_eq!(ben_laptop.next_of("typing").await, expected);

    // At once again: refused with 60018 (one relay per peer per interval),
    // while typing to someone else still goes.
    let reply = ann
        .request(2, json!({"type": "typing", "peer": "ben"}))
        .await;
    assert_eq!(reply["code"], 60018, "{reply}");
    let reply = ann
        .request(3, json!({"type": "typing", "peer": "dan"}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    assert_eq!(
        dan.next_of("typing").await,
        json!({"type": "typing", "from": "ann"})
    );
    // cat blocked ann: accepted, never relayed (dan's, relayed after it, is
    // the first cat sees).
    let reply = ann
        .request(5, json!({"type": "typing", "peer": "cat"}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let reply = dan
        .request(1, json!({"type": "typing", "peer": "cat"}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    assert_eq!(
        cat.next_of("typing").await,
        json!({"type": "typing", "from": "dan"})
    );
    let reply = ann.request(4, json!({"type": "typing", "peer": ""})).await;
    assert_eq!(reply["code"], 90003, "{reply}");

    // Never on the log, never in a view.
    assert_eq!(
        app.changes_on_log(),
        before,
        "{:#?}",
        app.change_kinds_on_log()
    );
    assert_eq!(app.scalar("SELECT count(*) FROM inbox").await, 0);
    app.stop().await;
}
