//! Issue #19, item 6: `admin_getroammsg` pages as Tencent does (a request
//! for more than a page answers a page with `Complete: 0`), `querystate`
//! reports `PushOnline` and accounts never imported (70107), and
//! `get_c2c_unread_msg_num` lists unknown peers in `ErrorList` (both only
//! without `accounts.allow_unknown`, which the harness turns on).

use crate::support;

use std::collections::HashSet;

use serde_json::{json, Value};

use support::TestApp;

fn now_secs() -> i64 {
    missive_core::time::now_secs() as i64
}

async fn roam_page(app: &TestApp, max_cnt: i64, max_time: i64, last_key: &str) -> Value {
    let reply = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "pia", "Peer_Account": "quin", "MaxCnt": max_cnt,
                   "MinTime": 0, "MaxTime": max_time, "LastMsgKey": last_key}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn getroammsg_pages_a_large_max_cnt_to_the_end() {
    let app = TestApp::spawn().await;
    const SENT: usize = 130;
    let mut keys = HashSet::new();
    for i in 0..SENT {
        let reply = app
            .send_text("quin", "pia", i as u32, &format!("m{i}"))
            .await;
        keys.insert(reply["MsgKey"].as_str().unwrap().to_owned());
    }
    app.wait_for_count("SELECT count(*) FROM messages", SENT as i64)
        .await;

    // MaxCnt beyond one page: a full page, not a refusal, and Complete 0.
    let first = roam_page(&app, 1000, now_secs() + 60, "").await;
    assert_eq!(first["Complete"], 0, "{first}");
    assert_eq!(first["MsgCnt"], 100);
    let mut seen: Vec<String> = Vec::new();
    let mut page = first;
    loop {
        for m in page["MsgList"].as_array().unwrap() {
            seen.push(m["MsgKey"].as_str().unwrap().to_owned());
        }
        if page["Complete"] == 1 {
            break;
        }
        // Tencent's continuation: MaxTime = LastMsgTime, plus LastMsgKey.
        let (t, k) = (
            page["LastMsgTime"].as_i64().unwrap(),
            page["LastMsgKey"].as_str().unwrap().to_owned(),
        );
        page = roam_page(&app, 1000, t, &k).await;
    }
    assert_eq!(seen.len(), SENT, "every message once");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), keys);

    // MaxCnt below 1 is still refused, and changes nothing.
    let before = app.changes_on_log();
    for bad in [0, -5] {
        let reply = app
            .rest(
                "openim/admin_getroammsg",
                json!({"Operator_Account": "pia", "Peer_Account": "quin", "MaxCnt": bad,
                       "MinTime": 0, "MaxTime": now_secs()}),
            )
            .await;
        assert_eq!(reply["ErrorCode"], 20001, "{reply}");
    }
    assert_eq!(app.changes_on_log(), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn querystate_reports_push_online_and_unknown_accounts() {
    let app = TestApp::spawn_with(|c| c.accounts.allow_unknown = false).await;
    app.import_accounts(&["live", "pushy", "gone"]).await;
    let mut ws = app.ws("live", "laptop").await;
    ws.next_of("sync_done").await;
    let token = app
        .rest(
            "missive_push/set_token",
            json!({"From_Account": "pushy", "DeviceId": "phone", "Platform": "fcm", "Token": "fcm-token-pushy"}),
        )
        .await;
    assert_eq!(token["ErrorCode"], 0, "{token}");

    for api in ["openim/querystate", "openim/query_online_status"] {
        let state = app
            .rest(
                api,
                json!({"To_Account": ["live", "pushy", "gone", "stranger"], "IsNeedDetail": 1}),
            )
            .await;
        assert_eq!(state["ErrorCode"], 0, "{state}");
        let by_user = |u: &str| -> Value {
            state["QueryResult"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["To_Account"] == u)
                .cloned()
                .unwrap_or_else(|| panic!("{u} missing: {state}"))
        };
        assert_eq!(by_user("live")["State"], "Online", "{state}");
        let pushy = by_user("pushy");
        assert_eq!(pushy["State"], "PushOnline", "{state}");
        assert_eq!(pushy["Status"], "PushOnline", "{state}");
        assert_eq!(
            pushy["Detail"],
            json!([{"Platform": "Android", "Status": "PushOnline", "State": "PushOnline"}])
        );
        assert_eq!(by_user("gone")["State"], "Offline", "{state}");
        assert_eq!(
            state["ErrorList"],
            json!([{"To_Account": "stranger", "ErrorCode": 70107}]),
            "{state}"
        );
        assert_eq!(state["QueryResult"].as_array().unwrap().len(), 3);
    }

    // Once the token is removed, pushy is simply offline.
    let removed = app
        .rest(
            "missive_push/delete_token",
            json!({"From_Account": "pushy", "DeviceId": "phone", "Platform": "fcm", "Token": "fcm-token-pushy"}),
        )
        .await;
    assert_eq!(removed["ErrorCode"], 0, "{removed}");
    let state = app
        .rest("openim/querystate", json!({"To_Account": ["pushy"]}))
        .await;
    assert_eq!(state["QueryResult"][0]["State"], "Offline", "{state}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unread_counts_list_unknown_peers_in_error_list() {
    let app = TestApp::spawn_with(|c| c.accounts.allow_unknown = false).await;
    app.import_accounts(&["ria", "sol", "gone"]).await;
    app.send_text("sol", "ria", 1, "hi").await;
    app.send_text("gone", "ria", 2, "bye").await;
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;
    // A deleted account is no account either, though its message stays.
    let deleted = app
        .rest(
            "im_open_login_svc/account_delete",
            json!({"DeleteItem": [{"UserID": "gone"}]}),
        )
        .await;
    assert_eq!(deleted["ResultItem"][0]["ResultCode"], 0, "{deleted}");
    let reply = app
        .rest(
            "openim/get_c2c_unread_msg_num",
            json!({"To_Account": "ria", "Peer_Account": ["sol", "nobody", "gone", "bad:id"]}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(
        reply["C2CUnreadMsgNumList"],
        json!([{"Peer_Account": "sol", "C2CUnreadMsgNum": 1}])
    );
    assert_eq!(
        reply["ErrorList"],
        json!([
            {"Peer_Account": "nobody", "ErrorCode": 70107},
            {"Peer_Account": "gone", "ErrorCode": 70107},
            {"Peer_Account": "bad:id", "ErrorCode": 90003}
        ])
    );
    app.stop().await;
}
