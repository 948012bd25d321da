//! `batchsendmsg` (one message to many, one shared MsgKey, per-recipient
//! errors) and `importmsg` (old messages at their original time).

use crate::support;

use serde_json::json;

use support::TestApp;

fn text(t: &str) -> serde_json::Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_reaches_every_valid_recipient_once_with_one_msgkey() {
    let app = TestApp::spawn().await;
    let body = json!({
        "From_Account": "news", "MsgRandom": 31, "MsgSeq": 5,
        "To_Account": ["u1", "u2", "u3", "bad:id", "u1"],
        "MsgBody": text("weekly digest"),
    });
    let reply = app.rest("openim/batchsendmsg", body.clone()).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(
        reply["ErrorList"],
        json!([{"To_Account": "bad:id", "ErrorCode": 90003}])
    );
    let key = reply["MsgKey"].as_str().unwrap().to_owned();
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;
    let same_key = app
        .scalar(&format!(
            "SELECT count(DISTINCT conversation_id) FROM messages WHERE msg_key = '{key}'"
        ))
        .await;
    assert_eq!(same_key, 3, "every recipient's copy shares the MsgKey");
    // A retried batch adds nothing.
    let again = app.rest("openim/batchsendmsg", body).await;
    assert_eq!(again["MsgKey"], key.as_str());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.scalar("SELECT count(*) FROM messages").await, 3);
    for u in ["u1", "u2", "u3"] {
        assert_eq!(
            app.scalar(&format!("SELECT count(*) FROM inbox WHERE user_id = '{u}'"))
                .await,
            1,
            "{u}"
        );
    }

    let before = app.changes_on_log();
    let many: Vec<String> = (0..501).map(|i| format!("user{i}")).collect();
    let reply = app
        .rest(
            "openim/batchsendmsg",
            json!({"MsgRandom": 1, "To_Account": many, "MsgBody": text("x")}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 90011, "{reply}");
    let reply = app
        .rest(
            "openim/batchsendmsg",
            json!({"MsgRandom": 1, "To_Account": ["a:b"], "MsgBody": text("x")}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 90003, "{reply}");
    let reply = app
        .rest(
            "openim/batchsendmsg",
            json!({"MsgRandom": 1, "To_Account": ["ok"], "MsgBody": []}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 90002, "{reply}");
    assert_eq!(
        app.changes_on_log(),
        before,
        "rejected batches appended nothing"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imported_messages_keep_their_time_and_history_imports_are_not_pushed() {
    let app = TestApp::spawn().await;
    let old = 1_600_000_000_i64;
    let import = |mode: i64, random: u32, time: i64| {
        json!({"SyncFromOldSystem": mode, "From_Account": "olda", "To_Account": "oldb",
               "MsgRandom": random, "MsgTimeStamp": time, "MsgBody": text(&format!("from {time}"))})
    };
    let h = app.rest("openim/importmsg", import(2, 1, old)).await;
    assert_eq!(h["ErrorCode"], 0, "{h}");
    let r = app.rest("openim/importmsg", import(1, 2, old + 60)).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;

    let roam = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "oldb", "Peer_Account": "olda", "MaxCnt": 10, "MinTime": old, "MaxTime": old + 60}),
        )
        .await;
    assert_eq!(roam["MsgCnt"], 2, "{roam}");
    assert_eq!(roam["MsgList"][0]["MsgTimeStamp"], old + 60);
    assert_eq!(roam["MsgList"][1]["MsgTimeStamp"], old);
    // Only the real-time import reached the recipient's inbox.
    let inbox: Vec<String> = app
        .pg
        .query("SELECT msg_key FROM inbox WHERE user_id = 'oldb'", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(inbox, vec![r["MsgKey"].as_str().unwrap().to_owned()]);

    let future = missive_core::time::now_secs() as i64 + 3600;
    for (body, code) in [
        (import(3, 3, old), 90030),
        (import(1, 3, future), 90006),
        (
            json!({"SyncFromOldSystem": 1, "From_Account": "olda", "To_Account": "oldb", "MsgRandom": 3, "MsgBody": text("x")}),
            90006,
        ),
        (
            json!({"SyncFromOldSystem": 1, "To_Account": "oldb", "MsgRandom": 3, "MsgTimeStamp": old, "MsgBody": text("x")}),
            90008,
        ),
    ] {
        let reply = app.rest("openim/importmsg", body).await;
        assert_eq!(reply["ErrorCode"], code, "{reply}");
    }
    assert_eq!(app.changes_on_log(), 2);
    app.stop().await;
}
