//! `admin_msgwithdraw` and `modify_c2c_msg`: history keeps a tombstone at
//! the same seq, both parties' devices are told, and bad requests change nothing.

use crate::support;

use serde_json::json;

use support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recall_and_edit_reach_both_parties_and_keep_seqs_dense() {
    let app = TestApp::spawn().await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;
    let mut alice = app.ws("alice", "laptop").await;
    alice.next_of("sync_done").await;

    let first = app.send_text("alice", "bob", 1, "oops").await["MsgKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.send_text("alice", "bob", 2, "typo hre").await["MsgKey"]
        .as_str()
        .unwrap()
        .to_owned();
    for ws in [&mut bob, &mut alice] {
        assert_eq!(ws.next_of("message").await["msg_key"], first.as_str());
        assert_eq!(ws.next_of("message").await["msg_key"], second.as_str());
    }

    let recall = app
        .rest(
            "openim/admin_msgwithdraw",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": first}),
        )
        .await;
    assert_eq!(recall["ErrorCode"], 0, "{recall}");
    for ws in [&mut bob, &mut alice] {
        let f = ws.next_of("message").await;
        assert_eq!(f["event"], "recall", "{f}");
        assert_eq!(f["msg_key"], first.as_str());
        assert_eq!(f["seq"], 1);
        assert_eq!(f["body"], json!([]));
    }

    let edit = app
        .rest(
            "openim/modify_c2c_msg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": second,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "typo here"}}]}),
        )
        .await;
    assert_eq!(edit["ErrorCode"], 0, "{edit}");
    let f = bob.next_of("message").await;
    assert_eq!(f["event"], "edit");
    assert_eq!(f["body"][0]["MsgContent"]["Text"], "typo here");

    let roam = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 10,
                   "MinTime": 0, "MaxTime": missive_core::time::now_secs() + 10}),
        )
        .await;
    assert_eq!(roam["MsgCnt"], 2, "{roam}");
    let newest = &roam["MsgList"][0];
    assert_eq!(newest["MsgBody"][0]["MsgContent"]["Text"], "typo here");
    assert_eq!(newest["MsgFlagBits"], 0);
    let tombstone = &roam["MsgList"][1];
    assert_eq!(tombstone["MsgKey"], first.as_str());
    assert_eq!(tombstone["MsgFlagBits"], 8);
    assert_eq!(tombstone["MsgBody"], json!([]));
    assert_eq!(tombstone["ConversationSeq"], 1);

    let before = app.changes_on_log();
    for (api, body, code) in [
        (
            "openim/admin_msgwithdraw",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": first}),
            20023,
        ),
        (
            "openim/admin_msgwithdraw",
            json!({"From_Account": "bob", "To_Account": "alice", "MsgKey": second}),
            20022,
        ),
        (
            "openim/admin_msgwithdraw",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": "1_2_nope"}),
            20022,
        ),
        (
            "openim/admin_msgwithdraw",
            json!({"From_Account": "alice", "To_Account": "bob"}),
            90054,
        ),
        (
            "openim/modify_c2c_msg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": first, "CloudCustomData": "x"}),
            20023,
        ),
        (
            "openim/modify_c2c_msg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": second}),
            90002,
        ),
        (
            "openim/modify_c2c_msg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": second,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {}}]}),
            90010,
        ),
    ] {
        let reply = app.rest(api, body).await;
        assert_eq!(reply["ErrorCode"], code, "{api}: {reply}");
    }
    assert_eq!(
        app.changes_on_log(),
        before,
        "rejected recalls and edits appended nothing"
    );
    app.stop().await;
}
