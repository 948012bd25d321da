//! `admin_set_msg_read` and `get_c2c_unread_msg_num`: unread counts follow
//! sends, reads and recalls, and leave out history imports.

use crate::support;

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

    let before = app.changes_on_log();
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
    assert_eq!(app.changes_on_log(), before);
    app.stop().await;
}

/// Unread messages from `peer` to `user` by the definition, straight from
/// the rows: after the read seq, counted, not recalled.
async fn unread_by_definition(pg: &tokio_postgres::Client, user: &str, peer: &str) -> i64 {
    pg.query_one(
        "SELECT count(*) FROM messages m
         WHERE m.to_account = $1 AND m.from_account = $2 AND m.counts_unread AND NOT m.recalled
           AND m.seq > COALESCE((SELECT read_seq FROM read_state WHERE user_id = $1 AND peer = $2), 0)",
        &[&user, &peer],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unread_counts_agree_under_concurrent_sends_and_reads() {
    let app = TestApp::spawn().await;
    let peers = ["p0", "p1", "p2", "p3"];
    let caps = missive_core::views::OfflineCaps::from_config(&app.config.views);
    let writers = peers.iter().enumerate().map(|(n, peer)| {
        let app = &app;
        async move {
            for i in 0..15u32 {
                app.send_text(peer, "bob", n as u32 * 100 + i, "hi").await;
                if i % 4 == 3 {
                    let r = app
                        .rest(
                            "openim/admin_set_msg_read",
                            json!({"Report_Account": "bob", "Peer_Account": peer}),
                        )
                        .await;
                    assert_eq!(r["ErrorCode"], 0, "{r}");
                }
            }
        }
    });
    // While they run: in every snapshot, the total is the sum of the
    // per-peer counts, and each is what the rows say.
    let checker = async {
        let pool = missive_core::db::pool(&app.config.database_url, 1, "missive-test").unwrap();
        let mut pg = pool.get().await.unwrap();
        let mut looks = 0;
        for _ in 0..40 {
            let tx = pg
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .unwrap();
            let total = missive_core::views::unread_total(&tx, "bob", caps)
                .await
                .unwrap();
            let mut sum = 0;
            for peer in peers {
                let n = missive_core::views::unread_with(&tx, "bob", peer, caps)
                    .await
                    .unwrap();
                let rows: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM messages m
                         WHERE m.to_account = 'bob' AND m.from_account = $1 AND m.counts_unread AND NOT m.recalled
                           AND m.seq > COALESCE((SELECT read_seq FROM read_state WHERE user_id = 'bob' AND peer = $1), 0)",
                        &[&peer],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(n, rows, "{peer}: the view and the rows disagree");
                sum += n;
            }
            assert_eq!(total, sum, "total {total} != sum of peers {sum}");
            tx.commit().await.unwrap();
            looks += 1;
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        looks
    };
    let (_, looks) = tokio::join!(futures::future::join_all(writers), checker);
    assert_eq!(looks, 40);
    app.wait_projected().await;
    // At rest: the REST answers match the definition.
    let per_peer = unread(&app, "bob", Some(peers.to_vec())).await;
    let mut sum = 0;
    for (i, peer) in peers.iter().enumerate() {
        let want = unread_by_definition(&app.pg, "bob", peer).await;
        assert_eq!(
            per_peer["C2CUnreadMsgNumList"][i]["C2CUnreadMsgNum"], want,
            "{peer}"
        );
        sum += want;
    }
    assert!(
        sum > 0,
        "some messages stay unread after the last read of each peer"
    );
    assert_eq!(unread(&app, "bob", None).await["AllC2CUnreadMsgNum"], sum);
    app.stop().await;
}
