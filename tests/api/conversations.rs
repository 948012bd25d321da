//! Issue #19, item 1: `recentcontact/delete`, pinning (`TopFlag`) and
//! `mark_contact`. A deleted conversation leaves the
//! user's recent contacts (unread zeroed); `ClearRamble` 1 also clears its
//! messages so far from that user's history only. The deletion is an event,
//! so a rebuild from the log gives the same views.

use crate::support;

use serde_json::{json, Value};

use support::TestApp;

async fn history(app: &TestApp, operator: &str, peer: &str) -> Vec<String> {
    app.roam_list(operator, peer)
        .await
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
    let before = app.changes_on_log();
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
    assert_eq!(app.changes_on_log(), before);

    // The log reproduces it: a rebuild gives the same views.
    app.wait_projected().await;
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_eq!(live, rebuilt);
    let (_, one_by_one) = app.rebuild_digests(1).await;
    assert_eq!(live, one_by_one);
    app.stop().await;
}

/// `get_list` with `AssistFlags` bit 0: `(peer, TopFlag)`, pinned first.
async fn pinned_list(app: &TestApp, user: &str) -> Vec<(String, i64)> {
    let reply = app
        .rest(
            "recentcontact/get_list",
            json!({"From_Account": user, "TimeStamp": 0, "StartIndex": 0,
                   "TopTimeStamp": 0, "TopStartIndex": 0, "AssistFlags": 7}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply["SessionItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["To_Account"].as_str().unwrap().to_owned(),
                s["TopFlag"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn set_top(app: &TestApp, user: &str, peer: &str, top: i64) -> Value {
    app.rest(
        "missive_contact/set_top",
        json!({"From_Account": user, "Type": 1, "To_Account": peer, "TopFlag": top}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pinned_conversations_come_first_until_unpinned_or_deleted() {
    let app = TestApp::spawn().await;
    app.send_text("amy", "bo", 1, "one").await;
    app.send_text("cy", "bo", 2, "two").await;
    app.send_text("di", "bo", 3, "three").await;
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;
    let pairs = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
        v.iter().map(|(p, f)| (p.to_string(), *f)).collect()
    };
    assert_eq!(
        pinned_list(&app, "bo").await,
        pairs(&[("di", 0), ("cy", 0), ("amy", 0)])
    );

    let reply = set_top(&app, "bo", "amy", 1).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    // Answered once the views have it; only bo's list changes.
    assert_eq!(
        pinned_list(&app, "bo").await,
        pairs(&[("amy", 1), ("di", 0), ("cy", 0)])
    );
    assert_eq!(pinned_list(&app, "amy").await, pairs(&[("bo", 0)]));
    // Without AssistFlags bit 0, Tencent's plain order and no TopFlag.
    assert_eq!(contact_peers(&app, "bo").await, ["di", "cy", "amy"]);

    // A device pins too, and its contacts say so, pinned first.
    let mut ws = app.ws("bo", "phone").await;
    let reply = ws
        .request(1, json!({"type": "pin", "peer": "cy", "pinned": true}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let reply = ws.request(2, json!({"type": "contacts"})).await;
    let listed: Vec<(String, bool)> = reply["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["peer"].as_str().unwrap().to_owned(),
                c["pinned"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("cy".to_owned(), true),
            ("amy".to_owned(), true),
            ("di".to_owned(), false)
        ]
    );

    // Unpinning puts it back in time order.
    assert_eq!(set_top(&app, "bo", "cy", 0).await["ErrorCode"], 0);
    assert_eq!(
        pinned_list(&app, "bo").await,
        pairs(&[("amy", 1), ("di", 0), ("cy", 0)])
    );

    // Deleting a pinned conversation (here from a device) unpins it: a
    // later message brings it back unpinned.
    let reply = ws
        .request(3, json!({"type": "delete_conversation", "peer": "amy"}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    assert_eq!(
        pinned_list(&app, "bo").await,
        pairs(&[("di", 0), ("cy", 0)])
    );
    app.send_text("amy", "bo", 4, "back").await;
    app.wait_for_count("SELECT count(*) FROM messages", 4).await;
    assert_eq!(
        pinned_list(&app, "bo").await,
        pairs(&[("amy", 0), ("di", 0), ("cy", 0)])
    );

    // Malformed requests change nothing.
    let before = app.changes_on_log();
    for (body, code) in [
        (
            json!({"From_Account": "bo", "Type": 1, "To_Account": "di"}),
            20001,
        ),
        (
            json!({"From_Account": "bo", "Type": 1, "To_Account": "di", "TopFlag": 2}),
            20001,
        ),
        (
            json!({"From_Account": "bo", "Type": 2, "To_Account": "di", "TopFlag": 1}),
            20001,
        ),
        (
            json!({"From_Account": "bo", "Type": 1, "TopFlag": 1}),
            90003,
        ),
    ] {
        let reply = app.rest("missive_contact/set_top", body.clone()).await;
        assert_eq!(reply["ErrorCode"], code, "{body}: {reply}");
    }
    let reply = ws
        .request(4, json!({"type": "pin", "peer": "", "pinned": true}))
        .await;
    assert_eq!(reply["code"], 90003, "{reply}");
    assert_eq!(app.changes_on_log(), before);

    app.wait_projected().await;
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_eq!(live, rebuilt);
    let (_, one_by_one) = app.rebuild_digests(1).await;
    assert_eq!(live, one_by_one);
    app.stop().await;
}

async fn marks(app: &TestApp, user: &str) -> Vec<Value> {
    let reply = app
        .rest(
            "recentcontact/get_contact_group",
            json!({"From_Account": user, "StartIndex": 0}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(reply["CompleteFlag"], 1, "{reply}");
    assert_eq!(reply["GroupItem"], json!([]), "{reply}");
    reply["ContactItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["To_Account"], c["StandardMark"], c["CustomMark"]]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mark_contact_sets_and_clears_standard_bits_and_the_custom_mark() {
    let app = TestApp::spawn().await;
    let contact = |peer: &str| json!({"Type": 1, "To_Account": peer});
    let reply = app
        .rest(
            "recentcontact/mark_contact",
            json!({"From_Account": "bo", "MarkItem": [
                {"OptType": 3, "ContactItem": contact("amy"), "SetMark": [1, 2, 3], "CustomMark": "abcd"},
                {"OptType": 1, "ContactItem": contact("cy"), "SetMark": [0]},
            ]}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(
        reply["ResultItem"],
        json!([
            {"ContactItem": contact("amy"), "ResultCode": 0, "ResultInfo": ""},
            {"ContactItem": contact("cy"), "ResultCode": 0, "ResultInfo": ""},
        ])
    );
    // Marks need no message: they are independent of recent contacts.
    assert_eq!(
        marks(&app, "bo").await,
        [json!(["amy", "1110", "abcd"]), json!(["cy", "1", ""])]
    );
    assert!(marks(&app, "amy").await.is_empty());

    // OptType 1 leaves the custom mark, 2 the bits; a cleared bit goes.
    let reply = app
        .rest(
            "recentcontact/mark_contact",
            json!({"From_Account": "bo", "MarkItem": [
                {"OptType": 1, "ContactItem": contact("amy"), "SetMark": [40], "ClearMark": [2], "CustomMark": "ignored"},
                {"OptType": 2, "ContactItem": contact("cy"), "SetMark": [5], "CustomMark": "star"},
            ]}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    let bit40 = format!("{:b}", (1u64 << 40) | 0b1010);
    assert_eq!(
        marks(&app, "bo").await,
        [json!(["amy", bit40, "abcd"]), json!(["cy", "1", "star"])]
    );

    // Clearing everything unlists the conversation; deleting a conversation keeps its marks.
    let reply = app
        .rest(
            "recentcontact/mark_contact",
            json!({"From_Account": "bo", "MarkItem": [
                {"OptType": 3, "ContactItem": contact("cy"), "ClearMark": [0], "CustomMark": ""},
            ]}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    app.send_text("amy", "bo", 1, "hi").await;
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;
    assert_eq!(delete(&app, "bo", "amy", 0).await["ErrorCode"], 0);
    assert_eq!(marks(&app, "bo").await, [json!(["amy", bit40, "abcd"])]);

    // A bad item refuses the whole call, and nothing is appended.
    let before = app.changes_on_log();
    for (body, code) in [
        (
            json!({"From_Account": "bo", "MarkItem": [
                {"OptType": 1, "ContactItem": contact("cy"), "SetMark": [1]},
                {"OptType": 1, "ContactItem": contact("di"), "SetMark": [64]}]}),
            20001,
        ),
        (
            json!({"From_Account": "bo", "MarkItem": [
                {"OptType": 1, "ContactItem": {"Type": 2, "ToGroupId": "@TGS#1"}, "SetMark": [1]}]}),
            20001,
        ),
        (json!({"From_Account": "bo", "MarkItem": []}), 20001),
        (
            json!({"MarkItem": [{"OptType": 1, "ContactItem": contact("cy")}]}),
            90008,
        ),
    ] {
        let reply = app.rest("recentcontact/mark_contact", body.clone()).await;
        assert_eq!(reply["ErrorCode"], code, "{body}: {reply}");
    }
    assert_eq!(app.changes_on_log(), before);

    app.wait_projected().await;
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_eq!(live, rebuilt);
    app.stop().await;
}
