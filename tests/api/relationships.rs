//! Accounts, profiles, friends and blocks through Tencent's REST API, and the
//! permission checks client sends get from them. A relationship change is
//! answered only once the views include it.

use crate::support;
use support::JsonReply;

use serde_json::{json, Value};

use missive_core::config::BlockMode;
use missive_core::{ErrorCode, UserId};
use missive_ingest::actions::send::{SendPipeline, SendRequest};
use missive_ingest::actions::Actor;
use missive_log::EventAppender;
use missive_schemas::{Channel, Element, TextElem};
use support::TestApp;

fn items(reply: &Value) -> Vec<(String, i64)> {
    reply["ResultItem"]
        .as_array()
        .unwrap_or_else(|| panic!("no ResultItem: {reply}"))
        .iter()
        .map(|i| {
            (
                i["To_Account"].as_str().unwrap().to_owned(),
                i["ResultCode"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A client's send (over WebSocket or the SDK): not an admin, so checked.
async fn client_send(
    pipeline: &SendPipeline,
    from: &str,
    to: &str,
    random: u32,
) -> Result<String, ErrorCode> {
    pipeline
        .send(
            &Actor {
                channel: Channel::Websocket,
                identifier: from.to_owned(),
                admin: false,
            },
            SendRequest {
                msg_seq: Some(random),
                ..SendRequest::new(
                    UserId::parse(from, "From_Account", ErrorCode::FromAccountInvalid)
                        .map_err(|e| e.code)?,
                    UserId::parse(to, "To_Account", ErrorCode::ToAccountInvalid)
                        .map_err(|e| e.code)?,
                    random,
                    vec![Element::Text(TextElem {
                        text: format!("#{random}"),
                    })],
                )
            },
        )
        .await
        .map(|r| r.msg_key)
        .map_err(|e| e.code)
}

async fn pipeline(app: &TestApp) -> SendPipeline {
    let pool = missive_core::db::pool(&app.config.database_url, 4).unwrap();
    SendPipeline::new(
        app.config.clone(),
        pool,
        EventAppender::connect(&app.config).await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_and_profiles_and_the_sender_profile_on_messages() {
    let app = TestApp::spawn().await;
    let reply = app
        .rest(
            "im_open_login_svc/account_import",
            json!({"UserID": "alice", "Nick": "Alice", "FaceUrl": "https://img.example.com/a.png"}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    let reply = app
        .rest(
            "im_open_login_svc/multiaccount_import",
            json!({"Accounts": ["bob", "carol", "bad:id"]}),
        )
        .await;
    assert_eq!(reply["FailAccounts"], json!(["bad:id"]));
    let reply = app
        .rest("im_open_login_svc/account_import", json!({"UserID": 5}))
        .await;
    assert_eq!(reply["ErrorCode"], 70402);

    // Acknowledged means visible: read right after the change.
    let set = app
        .rest(
            "profile/portrait_set",
            json!({"From_Account": "alice", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "Alice L."}]}),
        )
        .await;
    assert_eq!(set["ErrorCode"], 0, "{set}");
    let get = app
        .rest(
            "profile/portrait_get",
            json!({"To_Account": ["alice", "nobody"], "TagList": ["Tag_Profile_IM_Nick", "Tag_Profile_IM_Image"]}),
        )
        .await;
    assert_eq!(get["ErrorCode"], 0, "{get}");
    assert_eq!(
        get["UserProfileItem"][0]["ProfileItem"],
        json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Alice L."},
               {"Tag": "Tag_Profile_IM_Image", "Value": "https://img.example.com/a.png"}])
    );
    assert_eq!(get["UserProfileItem"][1]["ResultCode"], 40003);
    assert_eq!(get["Fail_Account"], json!(["nobody"]));

    for (body, code) in [
        (
            json!({"From_Account": "nobody", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "x"}]}),
            40003,
        ),
        (
            json!({"From_Account": "alice", "ProfileItem": [{"Tag": "Tag_Profile_IM_Gender", "Value": "x"}]}),
            40001,
        ),
        (
            json!({"From_Account": "alice", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "x".repeat(501)}]}),
            40601,
        ),
    ] {
        let reply = app.rest("profile/portrait_set", body).await;
        assert_eq!(reply["ErrorCode"], code, "{reply}");
    }

    // Every message carries the sender's profile as of sending.
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;
    app.send_text("alice", "bob", 1, "hi").await;
    let m = bob.next_of("message").await;
    assert_eq!(
        m["sender"],
        json!({"nickname": "Alice L.", "avatar_url": "https://img.example.com/a.png"})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn friends_are_added_checked_and_deleted_with_tencents_results() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["ann", "ben", "cat"]).await;
    let add = |from: &str, to: Vec<&str>, add_type: &str| {
        json!({"From_Account": from, "AddType": add_type,
               "AddFriendItem": to.iter().map(|t| json!({"To_Account": t, "AddSource": "AddSource_Type_Test"})).collect::<Vec<_>>()})
    };
    let mut ben = app.ws("ben", "phone").await;
    ben.next_of("sync_done").await;
    let reply = app
        .rest(
            "sns/friend_add",
            add("ann", vec!["ben", "ghost", "ann"], "Add_Type_Both"),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(
        items(&reply),
        vec![
            ("ben".into(), 0),
            ("ghost".into(), 30003),
            ("ann".into(), 30001)
        ]
    );
    assert_eq!(reply["Fail_Account"], json!(["ghost", "ann"]));
    // missive's own notice, told apart from an operator's by its source.
    let notice = ben.next_of("message").await;
    assert_eq!(notice["from"], "ann");
    assert_eq!(notice["body"][0]["MsgType"], "TIMSystemElem", "{notice}");
    assert_eq!(notice["body"][0]["MsgContent"]["Source"], "builtin");
    assert_eq!(
        notice["body"][0]["MsgContent"]["Kind"],
        "missive.friend_added"
    );
    let operator = app
        .rest(
            "openim/sendmsg",
            json!({"From_Account": "ann", "To_Account": "ben", "MsgRandom": 3,
                   "MsgBody": [{"MsgType": "TIMSystemElem", "MsgContent": {"Kind": "promo", "Text": "sale"}}]}),
        )
        .await;
    assert_eq!(operator["ErrorCode"], 0, "{operator}");
    let promo = ben.next_of("message").await;
    assert_eq!(promo["body"][0]["MsgContent"]["Source"], "operator");
    let again = app
        .rest("sns/friend_add", add("ann", vec!["ben"], "Add_Type_Both"))
        .await;
    assert_eq!(items(&again), vec![("ben".into(), 30001)]);
    let one_way = app
        .rest("sns/friend_add", add("cat", vec!["ann"], "Add_Type_Single"))
        .await;
    assert_eq!(items(&one_way), vec![("ann".into(), 0)]);

    let check = app
        .rest("sns/friend_check", json!({"From_Account": "ann", "To_Account": ["ben", "cat"], "CheckType": "CheckResult_Type_Both"}))
        .await;
    let relations: Vec<&str> = check["InfoItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Relation"].as_str().unwrap())
        .collect();
    assert_eq!(
        relations,
        vec!["CheckResult_Type_BothWay", "CheckResult_Type_BWithA"]
    );

    let del = app
        .rest("sns/friend_delete", json!({"From_Account": "ann", "To_Account": ["ben", "cat"], "DeleteType": "Delete_Type_Both"}))
        .await;
    assert_eq!(items(&del), vec![("ben".into(), 0), ("cat".into(), 0)]);
    let check = app
        .rest("sns/friend_check", json!({"From_Account": "ann", "To_Account": ["ben", "cat"], "CheckType": "CheckResult_Type_Both"}))
        .await;
    assert!(
        check["InfoItem"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["Relation"] == "CheckResult_Type_NoRelation"),
        "{check}"
    );
    let del = app
        .rest(
            "sns/friend_delete",
            json!({"From_Account": "ann", "To_Account": ["ben"]}),
        )
        .await;
    assert_eq!(items(&del), vec![("ben".into(), 31704)]);

    for (api, body, code) in [
        (
            "sns/friend_add",
            add("ghost", vec!["ann"], "Add_Type_Both"),
            30003,
        ),
        (
            "sns/friend_add",
            add("ann", vec!["ben"], "Add_Type_Sideways"),
            30001,
        ),
        (
            "sns/friend_add",
            json!({"From_Account": "ann", "AddFriendItem": [{"To_Account": "ben"}]}),
            30001,
        ),
        (
            "sns/friend_check",
            json!({"From_Account": "ann", "To_Account": "ben", "CheckType": "CheckResult_Type_Both"}),
            30001,
        ),
        ("sns/friend_add", json!("not an object"), 60003),
    ] {
        let reply = app.rest(api, body).await;
        assert_eq!(reply["ErrorCode"], code, "{api}: {reply}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_right_after_a_block_always_sees_the_block() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["bob", "mallory"]).await;
    let pipeline = pipeline(&app).await;
    let rounds = 15;
    for round in 0..rounds {
        let reply = app
            .rest(
                "sns/black_list_add",
                json!({"From_Account": "bob", "To_Account": ["mallory"]}),
            )
            .await;
        assert_eq!(items(&reply), vec![("mallory".into(), 0)], "{reply}");
        // Default block mode: accepted, silently not delivered.
        let dropped = client_send(&pipeline, "mallory", "bob", 1000 + round)
            .await
            .expect("accepted");
        let reply = app
            .rest(
                "sns/black_list_delete",
                json!({"From_Account": "bob", "To_Account": ["mallory"]}),
            )
            .await;
        assert_eq!(items(&reply), vec![("mallory".into(), 0)], "{reply}");
        let delivered = client_send(&pipeline, "mallory", "bob", 2000 + round)
            .await
            .expect("accepted");
        app.wait_for_count(
            &format!("SELECT count(*) FROM messages WHERE msg_key IN ('{dropped}', '{delivered}')"),
            2,
        )
        .await;
        let hidden: bool = app
            .pg
            .query_one(
                "SELECT hidden_from_recipient FROM messages WHERE msg_key = $1",
                &[&dropped],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            hidden,
            "round {round}: the send after the block was delivered"
        );
        let visible: bool = app
            .pg
            .query_one(
                "SELECT NOT hidden_from_recipient FROM messages WHERE msg_key = $1",
                &[&delivered],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            visible,
            "round {round}: the send after the unblock was dropped"
        );
    }
    // Bob's inbox got exactly the delivered ones; mallory's own devices got all.
    assert_eq!(
        app.scalar("SELECT count(*) FROM inbox WHERE user_id = 'bob'")
            .await,
        i64::from(rounds)
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM inbox WHERE user_id = 'mallory'")
            .await,
        i64::from(2 * rounds)
    );
    // One-way: bob, the blocker, can still message mallory... while blocked.
    app.rest(
        "sns/black_list_add",
        json!({"From_Account": "bob", "To_Account": ["mallory"]}),
    )
    .await;
    let key = client_send(&pipeline, "bob", "mallory", 9)
        .await
        .expect("accepted");
    app.wait_for_count(
        &format!("SELECT count(*) FROM inbox WHERE user_id = 'mallory' AND msg_key = '{key}'"),
        1,
    )
    .await;

    let list = app
        .rest(
            "sns/black_list_get",
            json!({"From_Account": "bob", "StartIndex": 0, "MaxLimited": 10, "LastSequence": 0}),
        )
        .await;
    assert_eq!(list["BlackListItem"][0]["To_Account"], "mallory", "{list}");
    assert_eq!(list["StartIndex"], 0);
    let again = app
        .rest(
            "sns/black_list_add",
            json!({"From_Account": "bob", "To_Account": ["mallory"]}),
        )
        .await;
    assert_eq!(items(&again), vec![("mallory".into(), 30001)]);
    // While blocked, neither side can add the other as a friend.
    for (from, to, code) in [("bob", "mallory", 30515), ("mallory", "bob", 30525)] {
        let reply = app
            .rest(
                "sns/friend_add",
                json!({"From_Account": from, "AddFriendItem": [{"To_Account": to, "AddSource": "AddSource_Type_Test"}]}),
            )
            .await;
        assert_eq!(items(&reply), vec![(to.to_owned(), code)], "{reply}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn friends_only_and_refusing_blocks_answer_with_tencents_codes() {
    let app = TestApp::spawn_with(|c| {
        c.permissions.friends_only = true;
        c.permissions.block_mode = BlockMode::Refuse;
    })
    .await;
    app.import_accounts(&["amy", "bo", "cy", "di"]).await;
    let pipeline = pipeline(&app).await;
    let friend = |from: &str, to: &str, kind: &str| {
        json!({"From_Account": from, "AddType": kind,
               "AddFriendItem": [{"To_Account": to, "AddSource": "AddSource_Type_Test"}]})
    };
    assert_eq!(
        client_send(&pipeline, "amy", "bo", 1).await,
        Err(ErrorCode::NotFriends)
    );
    app.rest("sns/friend_add", friend("amy", "bo", "Add_Type_Single"))
        .await;
    // amy lists bo, bo does not list amy.
    assert_eq!(
        client_send(&pipeline, "amy", "bo", 2).await,
        Err(ErrorCode::SenderNotFriendOfRecipient)
    );
    assert_eq!(
        client_send(&pipeline, "bo", "amy", 3).await,
        Err(ErrorCode::RecipientNotFriendOfSender)
    );
    app.rest("sns/friend_add", friend("bo", "amy", "Add_Type_Single"))
        .await;
    assert!(client_send(&pipeline, "amy", "bo", 4).await.is_ok());

    app.rest("sns/friend_add", friend("cy", "di", "Add_Type_Both"))
        .await;
    assert!(client_send(&pipeline, "cy", "di", 5).await.is_ok());
    app.rest(
        "sns/black_list_add",
        json!({"From_Account": "di", "To_Account": ["cy"]}),
    )
    .await;
    assert_eq!(
        client_send(&pipeline, "cy", "di", 6).await,
        Err(ErrorCode::Blocked)
    );
    // Blocking ended the friendship both ways.
    let check = app
        .rest("sns/friend_check", json!({"From_Account": "cy", "To_Account": ["di"], "CheckType": "CheckResult_Type_Both"}))
        .await;
    assert_eq!(
        check["InfoItem"][0]["Relation"],
        "CheckResult_Type_NoRelation"
    );

    // Admin sends skip every check and are recorded as admin sends.
    app.send_text("cy", "di", 7, "from the operator").await;
    app.wait_for_count(
        "SELECT count(*) FROM messages WHERE admin AND NOT hidden_from_recipient AND msg_key NOT LIKE 'sys_%'",
        1,
    )
    .await;
    // Refused sends appended nothing: 2 accepted client sends + 1 admin send
    // + 3 "now friends" notices + 4 relationship changes + 4 account imports.
    app.wait_for_count("SELECT count(*) FROM messages", 6).await;
    assert_eq!(app.events_on_log(), 3 + 3 + 4 + 4);
    app.stop().await;
}

/// A change waits until the views include it; it must not hold a pooled
/// PostgreSQL connection while it waits, or a lagging projector leaves every
/// other request of that ingest without one. With a pool of one connection
/// and the projector stopped, a read is still answered while an import waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_waiting_for_the_projector_holds_no_pooled_connection() {
    let mut app = TestApp::spawn_with(|c| c.ingest.projection_timeout_ms = 120_000).await;
    let mut one = (*app.config).clone();
    one.db_pool_size = 1;
    let ingest = support::start_ingest(&std::sync::Arc::new(one)).await;
    app.projector.take().unwrap().shutdown().await;
    let query = app.admin_query();
    let url = |api: &str| format!("http://{}/v4/{api}?{query}", ingest.addr);
    let log = app.events_on_log();

    let import = tokio::spawn({
        let (http, url) = (app.http.clone(), url("im_open_login_svc/account_import"));
        async move {
            let reply: Value = http
                .post(url)
                .body(json!({"UserID": "zoe", "Nick": "Zoe"}).to_string())
                .json_reply()
                .await;
            reply
        }
    });
    // The import is on the log and now waits for the (stopped) projector.
    while app.events_on_log() == log {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let read: Value = app
        .http
        .post(url("openim/get_c2c_unread_msg_num"))
        .body(json!({"To_Account": "zoe"}).to_string())
        .json_reply()
        .await;
    assert_eq!(read["ErrorCode"], 0, "{read}");
    assert!(
        !import.is_finished(),
        "the read was answered only after the import gave up its connection"
    );
    // Once the projector runs again, the import is acknowledged.
    app.projector = Some(support::start_projector(&app.config).await);
    let reply = import.await.unwrap();
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    ingest.shutdown().await;
    app.stop().await;
}
