//! Issue #19, item 1: `recentcontact/delete`. The conversation leaves the
//! user's recent contacts (unread zeroed); `ClearRamble` 1 also clears its
//! messages so far from that user's history only. The deletion is an event,
//! so a rebuild from the log gives the same views.

use crate::support;

use serde_json::{json, Value};

use support::TestApp;

fn now_secs() -> i64 {
    missive_core::time::now_secs() as i64
}

async fn history(app: &TestApp, operator: &str, peer: &str) -> Vec<String> {
    let reply = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": operator, "Peer_Account": peer, "MaxCnt": 100,
                   "MinTime": 0, "MaxTime": now_secs() + 60}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply["MsgList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["MsgBody"][0]["MsgContent"]["Text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn contact_peers(app: &TestApp, user: &str) -> Vec<String> {
    let reply = app
        .rest("recentcontact/get_list", json!({"From_Account": user}))
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply["SessionItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["To_Account"].as_str().unwrap().to_owned())
        .collect()
}

async fn unread_total(app: &TestApp, user: &str) -> Value {
    app.rest("openim/get_c2c_unread_msg_num", json!({"To_Account": user}))
        .await["AllC2CUnreadMsgNum"]
        .clone()
}

async fn delete(app: &TestApp, user: &str, peer: &str, clear: i64) -> Value {
    app.rest(
        "recentcontact/delete",
        json!({"From_Account": user, "Type": 1, "To_Account": peer, "ClearRamble": clear}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_conversation_with_clear_ramble_clears_only_that_users_history() {
    let app = TestApp::spawn().await;
    app.send_text("amy", "bo", 1, "one").await;
    app.send_text("bo", "amy", 2, "two").await;
    app.send_text("amy", "bo", 3, "three").await;
    app.send_text("cy", "bo", 4, "from cy").await;
    app.wait_for_count("SELECT count(*) FROM messages", 4).await;
    assert_eq!(unread_total(&app, "bo").await, 3);

    let reply = delete(&app, "bo", "amy", 1).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    // Answered once the views have it.
    assert_eq!(contact_peers(&app, "bo").await, ["cy"]);
    assert!(history(&app, "bo", "amy").await.is_empty());
    assert_eq!(unread_total(&app, "bo").await, 1, "only cy's is unread");
    // amy keeps everything.
    assert_eq!(history(&app, "amy", "bo").await, ["three", "two", "one"]);
    assert_eq!(contact_peers(&app, "amy").await, ["bo"]);

    // A new message brings the conversation back, with only itself in bo's history.
    app.send_text("amy", "bo", 5, "four").await;
    app.wait_for_count("SELECT count(*) FROM messages", 5).await;
    assert_eq!(history(&app, "bo", "amy").await, ["four"]);
    assert_eq!(contact_peers(&app, "bo").await, ["amy", "cy"]);
    assert_eq!(
        history(&app, "amy", "bo").await,
        ["four", "three", "two", "one"]
    );

    // Without ClearRamble, only the list entry goes.
    let reply = delete(&app, "bo", "cy", 0).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(contact_peers(&app, "bo").await, ["amy"]);
    assert_eq!(history(&app, "bo", "cy").await, ["from cy"]);

    // Malformed requests change nothing.
    let before = app.events_on_log();
    for (body, code) in [
        (
            json!({"From_Account": "bo", "Type": 2, "To_Account": "amy"}),
            20001,
        ),
        (
            json!({"From_Account": "bo", "Type": 1, "To_Account": "amy", "ClearRamble": 2}),
            20001,
        ),
        (json!({"From_Account": "bo", "Type": 1}), 90003),
        (
            json!({"From_Account": "bo:x", "Type": 1, "To_Account": "amy"}),
            90008,
        ),
        (json!({"From_Account": "bo", "To_Account": "amy"}), 20001),
    ] {
        let reply = app.rest("recentcontact/delete", body.clone()).await;
        assert_eq!(reply["ErrorCode"], code, "{body}: {reply}");
    }
    assert_eq!(app.events_on_log(), before);

    // The log reproduces it: a rebuild gives the same views.
    app.wait_projected().await;
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_eq!(live, rebuilt);
    let (_, one_by_one) = app.rebuild_digests(1).await;
    assert_eq!(live, one_by_one);
    app.stop().await;
}
