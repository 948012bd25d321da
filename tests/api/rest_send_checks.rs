//! Issue #19, item 7: with `permissions.check_rest_sends`, REST sends the
//! administrator makes as a user meet that user's friends-only and block
//! rules; off (the default), they skip them as Tencent's REST API does.

use crate::support;

use missive_core::config::BlockMode;
use serde_json::{json, Value};

use support::TestApp;

async fn send_as(app: &TestApp, from: Option<&str>, to: &str, random: u32) -> Value {
    let mut body = json!({"To_Account": to, "MsgRandom": random,
                          "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]});
    if let Some(f) = from {
        body["From_Account"] = f.into();
    }
    app.rest("openim/sendmsg", body).await
}

async fn ok(app: &TestApp, api: &str, body: Value) {
    let reply = app.rest(api, body).await;
    assert_eq!(reply["ErrorCode"], 0, "{api}: {reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_sends_as_a_user_meet_the_users_rules_when_asked() {
    let app = TestApp::spawn_with(|c| {
        c.permissions.check_rest_sends = true;
        c.permissions.friends_only = true;
        c.permissions.block_mode = BlockMode::Refuse;
    })
    .await;
    app.import_accounts(&["al", "bea"]).await;
    let before = app.changes_on_log();
    assert_eq!(
        send_as(&app, Some("al"), "bea", 1).await["ErrorCode"],
        20009
    );
    let batch = app
        .rest(
            "openim/batchsendmsg",
            json!({"From_Account": "al", "To_Account": ["bea"], "MsgRandom": 2,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]}),
        )
        .await;
    assert_eq!(batch["ErrorCode"], 90003, "no recipient reached: {batch}");
    assert!(
        batch["ErrorInfo"].as_str().unwrap().contains("20009"),
        "{batch}"
    );
    assert_eq!(app.changes_on_log(), before, "refused sends append nothing");
    // The administrator's own sends and imports stay unchecked.
    assert_eq!(send_as(&app, None, "bea", 3).await["ErrorCode"], 0);
    let import = app
        .rest(
            "openim/importmsg",
            json!({"SyncFromOldSystem": 2, "From_Account": "al", "To_Account": "bea", "MsgRandom": 4,
                   "MsgTimeStamp": 1_600_000_000,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "old"}}]}),
        )
        .await;
    assert_eq!(import["ErrorCode"], 0, "{import}");

    ok(
        &app,
        "sns/friend_add",
        json!({"From_Account": "al", "AddType": "Add_Type_Both", "ForceAddFlags": 1,
               "AddFriendItem": [{"To_Account": "bea", "AddSource": "AddSource_Type_Web"}]}),
    )
    .await;
    assert_eq!(send_as(&app, Some("al"), "bea", 5).await["ErrorCode"], 0);
    ok(
        &app,
        "sns/black_list_add",
        json!({"From_Account": "bea", "To_Account": ["al"]}),
    )
    .await;
    assert_eq!(
        send_as(&app, Some("al"), "bea", 6).await["ErrorCode"],
        20007
    );
    // Blocking ended the friendship both ways: bea's send to al now fails
    // friends-only (not the block, which is one-way).
    assert_eq!(
        send_as(&app, Some("bea"), "al", 7).await["ErrorCode"],
        20009
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn by_default_rest_sends_skip_the_rules() {
    let app = TestApp::spawn_with(|c| {
        c.permissions.friends_only = true;
        c.permissions.block_mode = BlockMode::Refuse;
    })
    .await;
    assert_eq!(send_as(&app, Some("al"), "bea", 1).await["ErrorCode"], 0);
    app.stop().await;
}
