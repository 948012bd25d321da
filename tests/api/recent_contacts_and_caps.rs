//! Recent contacts, the offline caps (conversations, unread per
//! conversation), offline lifetimes and history retention.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};

use support::TestApp;

fn text(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

async fn contacts(app: &TestApp, user: &str) -> Vec<Value> {
    let r = app
        .rest("recentcontact/get_list", json!({"From_Account": user}))
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    assert_eq!(r["CompleteFlag"], 1, "{r}");
    r["SessionItem"].as_array().unwrap().clone()
}

/// (peer, unread, last message text or "" when recalled)
fn summary(items: &[Value]) -> Vec<(String, i64, String)> {
    items
        .iter()
        .map(|i| {
            let last = &i["LastMsg"];
            let text = if last["MsgFlagBits"] == 8 {
                String::new()
            } else {
                last["MsgBody"][0]["MsgContent"]["Text"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned()
            };
            (
                i["To_Account"].as_str().unwrap().to_owned(),
                i["C2CUnreadMsgNum"].as_i64().unwrap(),
                text,
            )
        })
        .collect()
}

fn row(peer: &str, unread: i64, last: &str) -> (String, i64, String) {
    (peer.to_owned(), unread, last.to_owned())
}

/// Sends one message and waits for the views to hold it, so activity times
/// are distinct and ordered.
async fn send(app: &TestApp, from: &str, to: &str, random: u32, t: &str) -> String {
    let key = app.send_text(from, to, random, t).await["MsgKey"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_projected().await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    key
}

async fn unread_total(app: &TestApp, user: &str) -> i64 {
    let r = app
        .rest("openim/get_c2c_unread_msg_num", json!({"To_Account": user}))
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    r["AllC2CUnreadMsgNum"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recent_contacts_follow_sends_reads_recalls_and_edits() {
    let app = TestApp::spawn().await;
    send(&app, "alice", "bob", 1, "a1").await;
    let c1 = send(&app, "carol", "bob", 2, "c1").await;
    send(&app, "bob", "dave", 3, "d1").await;
    assert_eq!(
        summary(&contacts(&app, "bob").await),
        vec![
            row("dave", 0, "d1"),
            row("carol", 1, "c1"),
            row("alice", 1, "a1")
        ]
    );
    assert_eq!(
        summary(&contacts(&app, "dave").await),
        vec![row("bob", 1, "d1")]
    );

    let a2 = send(&app, "alice", "bob", 4, "a2").await;
    assert_eq!(
        summary(&contacts(&app, "bob").await),
        vec![
            row("alice", 2, "a2"),
            row("dave", 0, "d1"),
            row("carol", 1, "c1")
        ]
    );
    assert_eq!(unread_total(&app, "bob").await, 3);

    // A read, a recall and an edit show at once.
    let r = app
        .rest(
            "openim/admin_set_msg_read",
            json!({"Report_Account": "bob", "Peer_Account": "alice"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app
        .rest(
            "openim/admin_msgwithdraw",
            json!({"From_Account": "carol", "To_Account": "bob", "MsgKey": c1}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app
        .rest(
            "openim/modify_c2c_msg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": a2, "MsgBody": text("a2 edited")}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let items = contacts(&app, "bob").await;
    assert_eq!(
        summary(&items),
        vec![
            row("alice", 0, "a2 edited"),
            row("dave", 0, "d1"),
            row("carol", 0, "")
        ]
    );
    assert_eq!(items[0]["LastMsgKey"], a2.as_str());
    assert_eq!(items[0]["ConversationSeq"], 2);
    assert_eq!(items[0]["Type"], 1);
    assert_eq!(unread_total(&app, "bob").await, 0);

    // SyncOtherMachine=2 keeps it out of the sender's view.
    let r = app
        .rest(
            "openim/sendmsg",
            json!({"SyncOtherMachine": 2, "From_Account": "eve", "To_Account": "frank",
                   "MsgRandom": 5, "MsgBody": text("quiet")}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    app.wait_projected().await;
    assert!(contacts(&app, "eve").await.is_empty());
    assert_eq!(
        summary(&contacts(&app, "frank").await),
        vec![row("eve", 1, "quiet")]
    );

    // Bad requests get precise errors.
    for (body, code) in [
        (json!({}), 90008),
        (json!({"From_Account": "a:b"}), 90008),
        (json!({"From_Account": "bob", "StartIndex": -1}), 20001),
        (json!({"From_Account": "bob", "StartIndex": 100}), 20001),
        (json!({"From_Account": "bob", "StartIndex": "0"}), 20001),
    ] {
        let r = app.rest("recentcontact/get_list", body.clone()).await;
        assert_eq!(r["ErrorCode"], code, "{body}: {r}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_caps_bound_contacts_offline_sync_and_unread_but_not_history() {
    let app = TestApp::spawn_with(|c| {
        c.views.recent_contacts_max = 3;
        c.views.offline_conversations_max = 2;
        c.views.offline_unread_max = 3;
    })
    .await;
    for (n, peer) in ["u1", "u2", "u3", "u4"].iter().enumerate() {
        for i in 0..4u32 {
            send(&app, peer, "bob", n as u32 * 10 + i, &format!("{peer} {i}")).await;
        }
    }
    // Contacts: the 3 most recent. Unread: 3 per conversation, 2 conversations.
    assert_eq!(
        summary(&contacts(&app, "bob").await),
        vec![
            row("u4", 3, "u4 3"),
            row("u3", 3, "u3 3"),
            row("u2", 0, "u2 3")
        ]
    );
    assert_eq!(unread_total(&app, "bob").await, 6);
    let r = app
        .rest(
            "openim/get_c2c_unread_msg_num",
            json!({"To_Account": "bob", "Peer_Account": ["u1", "u2", "u3", "u4"]}),
        )
        .await;
    let per_peer: Vec<i64> = r["C2CUnreadMsgNumList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["C2CUnreadMsgNum"].as_i64().unwrap())
        .collect();
    assert_eq!(per_peer, vec![0, 0, 3, 3], "{r}");

    // Offline sync offers the same: the newest 3 of the 2 newest conversations.
    let mut ws = app.ws("bob", "phone").await;
    let mut got = Vec::new();
    loop {
        let f = ws.next().await;
        match f["type"].as_str() {
            Some("message") => got.push(
                f["body"][0]["MsgContent"]["Text"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            Some("contacts") => {
                let peers: Vec<&str> = f["contacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["peer"].as_str().unwrap())
                    .collect();
                assert_eq!(peers, ["u4", "u3", "u2"], "{f}");
                assert_eq!(f["contacts"][0]["unread"], 3);
                assert_eq!(f["contacts"][2]["unread"], 0);
            }
            Some("sync_done") => break,
            _ => panic!("unexpected frame {f}"),
        }
    }
    assert_eq!(got, ["u3 1", "u3 2", "u3 3", "u4 1", "u4 2", "u4 3"]);

    // History keeps everything.
    let roam = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "bob", "Peer_Account": "u1", "MaxCnt": 100,
                   "MinTime": 0, "MaxTime": 4_000_000_000u64}),
        )
        .await;
    assert_eq!(roam["MsgCnt"], 4, "{roam}");

    // Trimming waits for a slack past the cap (4 rows for a cap of 3), so u1
    // is still stored, though never shown.
    assert_eq!(stored_contacts(&app, "bob").await, ["u4", "u3", "u2", "u1"]);
    assert_eq!(kept_count(&app, "bob").await, 4);
    assert_counts_match_rows(&app).await;

    // Deleting a shown contact must not bring u1 back as trimming at once
    // would not have: it leaves with it.
    let r = app
        .rest(
            "recentcontact/delete",
            json!({"From_Account": "bob", "Type": 1, "To_Account": "u3", "ClearRamble": 0}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    app.wait_projected().await;
    let peers = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|i| i["To_Account"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(peers(contacts(&app, "bob").await), ["u4", "u2"]);
    assert_eq!(stored_contacts(&app, "bob").await, ["u4", "u2"]);
    assert_eq!(kept_count(&app, "bob").await, 2);

    // Past the slack the user is trimmed back to the cap.
    for (n, peer) in ["u5", "u6", "u7"].iter().enumerate() {
        send(&app, peer, "bob", 100 + n as u32, &format!("{peer} 0")).await;
    }
    assert_eq!(stored_contacts(&app, "bob").await, ["u7", "u6", "u5"]);
    assert_eq!(
        kept_count(&app, "bob").await,
        3,
        "bob is trimmed to the cap"
    );
    assert_eq!(peers(contacts(&app, "bob").await), ["u7", "u6", "u5"]);
    assert_counts_match_rows(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_offline_lifetime_decides_what_waits_for_a_device() {
    let app = TestApp::spawn().await;
    let send = |random: u32, lifetime: Option<u32>, t: &'static str| {
        let mut body = json!({"From_Account": "ann", "To_Account": "ben", "MsgRandom": random,
                              "MsgBody": text(t)});
        if let Some(l) = lifetime {
            body["MsgLifeTime"] = l.into();
        }
        let app = &app;
        async move {
            let r = app.rest("openim/sendmsg", body).await;
            assert_eq!(r["ErrorCode"], 0, "{r}");
        }
    };
    // Offline: a message with lifetime 0 is not stored for later; others are.
    send(1, Some(0), "now or never").await;
    send(2, None, "kept").await;
    send(3, Some(60), "kept a minute").await;
    app.wait_projected().await;
    let mut ws = app.ws("ben", "phone").await;
    assert_eq!(
        ws.next_of("message").await["body"][0]["MsgContent"]["Text"],
        "kept"
    );
    assert_eq!(
        ws.next_of("message").await["body"][0]["MsgContent"]["Text"],
        "kept a minute"
    );
    ws.next_of("sync_done").await;
    // Online: lifetime 0 is pushed live.
    send(4, Some(0), "live only").await;
    assert_eq!(
        ws.next_of("message").await["body"][0]["MsgContent"]["Text"],
        "live only"
    );
    // All four are in history either way.
    assert_eq!(app.scalar("SELECT count(*) FROM messages").await, 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_removes_old_history_without_restarting_sequence_numbers() {
    let app = TestApp::spawn_with(|c| c.views.janitor_interval_secs = 1).await;
    let ten_days_ago = missive_core::time::now_secs() as i64 - 10 * 86_400;
    for i in 0..3 {
        let r = app
            .rest(
                "openim/importmsg",
                json!({"SyncFromOldSystem": 2, "From_Account": "ann", "To_Account": "ben",
                       "MsgRandom": i, "MsgTimeStamp": ten_days_ago + i64::from(i), "MsgBody": text("old")}),
            )
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    app.wait_projected().await;
    // The janitor removes them (7 days by default); the counter stays.
    app.wait_for_count("SELECT count(*) FROM messages", 0).await;
    assert_eq!(app.scalar("SELECT last_seq FROM conversations").await, 3);
    send(&app, "ann", "ben", 9, "new").await;
    assert_eq!(app.scalar("SELECT min(seq) FROM messages").await, 4);
    let roam = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "ben", "Peer_Account": "ann", "MaxCnt": 100,
                   "MinTime": 0, "MaxTime": 4_000_000_000u64}),
        )
        .await;
    assert_eq!(roam["MsgCnt"], 1, "{roam}");
    assert_eq!(roam["MsgList"][0]["ConversationSeq"], 4);
    // The contact remembers its last message's key and seq.
    assert_eq!(
        summary(&contacts(&app, "ben").await),
        vec![row("ann", 1, "new")]
    );
    // A rebuild applies the same retention.
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_eq!(live, rebuilt);
    app.stop().await;
}

/// The contact rows stored for `user`, most recently active first.
async fn stored_contacts(app: &TestApp, user: &str) -> Vec<String> {
    app.pg
        .query(
            "SELECT peer FROM recent_contacts WHERE user_id = $1 ORDER BY last_at_ms DESC, peer",
            &[&user],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The projector's count of `user`'s contact rows (which decides the trim).
async fn kept_count(app: &TestApp, user: &str) -> i64 {
    app.pg
        .query_one(
            "SELECT contacts FROM recent_contact_counts WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0)
}

/// The projector's kept counts are the rows, for every user.
async fn assert_counts_match_rows(app: &TestApp) {
    let drift = app
        .pg
        .query(
            "SELECT coalesce(n.user_id, c.user_id), n.contacts, c.rows \
             FROM recent_contact_counts n \
             FULL JOIN (SELECT user_id, count(*) AS rows FROM recent_contacts GROUP BY user_id) c \
             USING (user_id) WHERE n.contacts IS DISTINCT FROM c.rows",
            &[],
        )
        .await
        .unwrap();
    assert!(
        drift.is_empty(),
        "{} users' counts differ from their rows",
        drift.len()
    );
}
