//! `admin_set_msg_read` and `get_c2c_unread_msg_num`: unread counts follow
//! sends, reads and recalls, and leave out history imports.

mod support;

use serde_json::json;

use support::TestApp;

async fn unread(app: &TestApp, user: &str, peers: Option<Vec<&str>>) -> serde_json::Value {
    let mut body = json!({"To_Account": user});
    if let Some(p) = peers {
        body["Peer_Account"] = json!(p);
    }
    let reply = app.rest("openim/get_c2c_unread_msg_num", body).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unread_counts_follow_sends_reads_and_recalls() {
    let app = TestApp::spawn().await;
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(
            app.send_text("ada", "bea", i, "hi").await["MsgKey"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.send_text("cal", "bea", 9, "yo").await;
    // A history import and a message to oneself do not count.
    let old = app
        .rest(
            "openim/importmsg",
            json!({"SyncFromOldSystem": 2, "From_Account": "ada", "To_Account": "bea", "MsgRandom": 77,
                   "MsgTimeStamp": 1_600_000_000, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "old"}}]}),
        )
        .await;
    assert_eq!(old["ErrorCode"], 0, "{old}");
    app.send_text("bea", "bea", 5, "note to self").await;
    app.wait_for_count("SELECT count(*) FROM messages", 6).await;

    assert_eq!(unread(&app, "bea", None).await["AllC2CUnreadMsgNum"], 4);
    let per_peer = unread(&app, "bea", Some(vec!["ada", "cal", "bad:id"])).await;
    assert_eq!(
        per_peer["C2CUnreadMsgNumList"],
        json!([{"Peer_Account": "ada", "C2CUnreadMsgNum": 3}, {"Peer_Account": "cal", "C2CUnreadMsgNum": 1}])
    );
    assert_eq!(per_peer["ErrorList"][0]["ErrorCode"], 90003);
    // The sender has nothing unread from these.
    assert_eq!(unread(&app, "ada", None).await["AllC2CUnreadMsgNum"], 0);

    // A recall stops counting at once (acknowledged after the views have it).
    let r = app
        .rest(
            "openim/admin_msgwithdraw",
            json!({"From_Account": "ada", "To_Account": "bea", "MsgKey": keys[0]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0);
    assert_eq!(
        unread(&app, "bea", Some(vec!["ada"])).await["C2CUnreadMsgNumList"][0]["C2CUnreadMsgNum"],
        2
    );

    // Reading the conversation with ada clears it, and only it.
    let read = app
        .rest(
            "openim/admin_set_msg_read",
            json!({"Report_Account": "bea", "Peer_Account": "ada"}),
        )
        .await;
    assert_eq!(read["ErrorCode"], 0, "{read}");
    assert_eq!(unread(&app, "bea", None).await["AllC2CUnreadMsgNum"], 1);
    // A read time in the past never un-reads.
    let read = app
        .rest(
            "openim/admin_set_msg_read",
            json!({"Report_Account": "bea", "Peer_Account": "ada", "MsgReadTime": "1"}),
        )
        .await;
    assert_eq!(read["ErrorCode"], 0);
    assert_eq!(unread(&app, "bea", None).await["AllC2CUnreadMsgNum"], 1);
    // New messages after the read count again.
    app.send_text("ada", "bea", 10, "again").await;
    app.wait_for_count("SELECT count(*) FROM messages", 7).await;
    assert_eq!(
        unread(&app, "bea", Some(vec!["ada"])).await["C2CUnreadMsgNumList"][0]["C2CUnreadMsgNum"],
        1
    );

    let before = app.events_on_log();
    for (api, body, code) in [
        (
            "openim/admin_set_msg_read",
            json!({"Peer_Account": "ada"}),
            90008,
        ),
        (
            "openim/admin_set_msg_read",
            json!({"Report_Account": "bea", "Peer_Account": "ada", "MsgReadTime": "soon"}),
            20001,
        ),
        (
            "openim/get_c2c_unread_msg_num",
            json!({"To_Account": "bea", "Peer_Account": []}),
            20001,
        ),
        ("openim/get_c2c_unread_msg_num", json!({}), 90003),
    ] {
        let reply = app.rest(api, body).await;
        assert_eq!(reply["ErrorCode"], code, "{api}: {reply}");
    }
    assert_eq!(app.events_on_log(), before);
    app.stop().await;
}
