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
    let pool = missive_core::db::pool(&app.config.database_url, 4, "missive-test").unwrap();
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
            40605,
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
        json!({"From_Account": from, "AddType": add_type, "ForceAddFlags": 1,
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
        json!({"From_Account": from, "AddType": kind, "ForceAddFlags": 1,
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
    assert_eq!(app.changes_on_log(), 3 + 3 + 4 + 4);
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

/// `(To_Account, Relation)` of each item of a check reply.
fn relations(reply: &Value, list: &str) -> Vec<(String, String)> {
    reply[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {reply}"))
        .iter()
        .map(|i| {
            (
                i["To_Account"].as_str().unwrap().to_owned(),
                i["Relation"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn pendency(app: &TestApp, user: &str, kind: &str) -> Vec<Value> {
    let reply = app
        .rest(
            "sns/friend_pendency_get",
            json!({"From_Account": user, "PendencyType": kind, "StartIndex": 0, "MaxLimited": 10}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply["PendencyItem"].as_array().unwrap().clone()
}

async fn set_profile(app: &TestApp, user: &str, items: Value) -> Value {
    app.rest(
        "profile/portrait_set",
        json!({"From_Account": user, "ProfileItem": items}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn friend_add_honours_allow_type_and_waits_for_confirmation() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["ann", "ben", "cat", "dan", "eve", "fay"])
        .await;
    let allow = |v: &str| json!([{"Tag": "Tag_Profile_IM_AllowType", "Value": v}]);
    for (user, value) in [
        ("ben", "AllowType_Type_DenyAny"),
        ("cat", "AllowType_Type_AllowAny"),
    ] {
        let r = set_profile(&app, user, allow(value)).await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    // dan keeps Tencent's default, AllowType_Type_NeedConfirm.
    let add = |from: &str, to: &[&str], force: i64| {
        json!({"From_Account": from, "AddType": "Add_Type_Both", "ForceAddFlags": force,
               "AddFriendItem": to.iter().map(|t| json!({"To_Account": t, "AddSource": "AddSource_Type_Web",
                   "Remark": format!("{t}!"), "GroupName": "pals", "AddWording": "hello"})).collect::<Vec<_>>()})
    };
    let reply = app
        .rest("sns/friend_add", add("ann", &["ben", "cat", "dan"], 0))
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(
        items(&reply),
        vec![
            ("ben".into(), 30516),
            ("cat".into(), 0),
            ("dan".into(), 30539)
        ]
    );
    assert_eq!(reply["Fail_Account"], json!(["ben", "dan"]));
    let check = app
        .rest("sns/friend_check", json!({"From_Account": "ann", "To_Account": ["ben", "cat", "dan"], "CheckType": "CheckResult_Type_Both"}))
        .await;
    assert_eq!(
        relations(&check, "InfoItem"),
        vec![
            ("ben".into(), "CheckResult_Type_NoRelation".into()),
            ("cat".into(), "CheckResult_Type_BothWay".into()),
            ("dan".into(), "CheckResult_Type_NoRelation".into())
        ]
    );
    // The request waits, seen from both sides.
    let incoming = pendency(&app, "dan", "Pendency_Type_ComeIn").await;
    assert_eq!(incoming.len(), 1, "{incoming:?}");
    assert_eq!(incoming[0]["To_Account"], "ann");
    assert_eq!(incoming[0]["AddSource"], "AddSource_Type_Web");
    assert_eq!(incoming[0]["AddWording"], "hello");
    let sent = pendency(&app, "ann", "Pendency_Type_SendOut").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["To_Account"], "dan");

    // The administrator's force skips the target's AllowType.
    let forced = app.rest("sns/friend_add", add("ann", &["ben"], 1)).await;
    assert_eq!(items(&forced), vec![("ben".into(), 0)]);

    // dan agrees (one way: ann gets dan, with the remark ann asked with);
    // eve never asked.
    let answer = app
        .rest(
            "sns/friend_response",
            json!({"From_Account": "dan", "ResponseFriendItem": [
            {"To_Account": "ann", "ResponseAction": "Response_Action_Agree"},
            {"To_Account": "eve", "ResponseAction": "Response_Action_Agree"}]}),
        )
        .await;
    assert_eq!(
        items(&answer),
        vec![("ann".into(), 0), ("eve".into(), 30001)]
    );
    let check = app
        .rest("sns/friend_check", json!({"From_Account": "ann", "To_Account": ["dan"], "CheckType": "CheckResult_Type_Both"}))
        .await;
    assert_eq!(
        relations(&check, "InfoItem"),
        vec![("dan".into(), "CheckResult_Type_AWithB".into())]
    );
    let entry = app
        .rest(
            "sns/friend_get_list",
            json!({"From_Account": "ann", "To_Account": ["dan"],
            "TagList": ["Tag_SNS_IM_Remark", "Tag_SNS_IM_Group", "Tag_SNS_IM_AddSource"]}),
        )
        .await;
    assert_eq!(
        entry["InfoItem"][0]["SnsProfileItem"],
        json!([{"Tag": "Tag_SNS_IM_Remark", "Value": "dan!"},
               {"Tag": "Tag_SNS_IM_Group", "Value": ["pals"]},
               {"Tag": "Tag_SNS_IM_AddSource", "Value": "AddSource_Type_Web"}]),
        "{entry}"
    );
    assert!(pendency(&app, "dan", "Pendency_Type_ComeIn")
        .await
        .is_empty());
    assert!(pendency(&app, "ann", "Pendency_Type_SendOut")
        .await
        .is_empty());

    // eve asks dan, who declines: no friendship, nothing pending.
    let asked = app.rest("sns/friend_add", add("eve", &["dan"], 0)).await;
    assert_eq!(items(&asked), vec![("dan".into(), 30539)]);
    let declined = app
        .rest(
            "sns/friend_response",
            json!({"From_Account": "dan", "ResponseFriendItem": [
            {"To_Account": "eve", "ResponseAction": "Response_Action_Reject"}]}),
        )
        .await;
    assert_eq!(items(&declined), vec![("eve".into(), 0)]);
    assert!(pendency(&app, "dan", "Pendency_Type_ComeIn")
        .await
        .is_empty());
    let check = app
        .rest("sns/friend_check", json!({"From_Account": "eve", "To_Account": ["dan"], "CheckType": "CheckResult_Type_Both"}))
        .await;
    assert_eq!(
        relations(&check, "InfoItem"),
        vec![("dan".into(), "CheckResult_Type_NoRelation".into())]
    );

    // fay asks dan, who blocks her: the request goes with the block.
    let asked = app.rest("sns/friend_add", add("fay", &["dan"], 0)).await;
    assert_eq!(items(&asked), vec![("dan".into(), 30539)]);
    let blocked = app
        .rest(
            "sns/black_list_add",
            json!({"From_Account": "dan", "To_Account": ["fay"]}),
        )
        .await;
    assert_eq!(items(&blocked), vec![("fay".into(), 0)]);
    assert!(pendency(&app, "fay", "Pendency_Type_SendOut")
        .await
        .is_empty());

    // An administrator's ban on sending requests (AdminForbid_Type_SendOut).
    let r = set_profile(
        &app,
        "eve",
        json!([{"Tag": "Tag_Profile_IM_AdminForbidType", "Value": "AdminForbid_Type_SendOut"}]),
    )
    .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let refused = app.rest("sns/friend_add", add("eve", &["cat"], 0)).await;
    assert_eq!(items(&refused), vec![("cat".into(), 30009)]);
    let forced = app.rest("sns/friend_add", add("eve", &["cat"], 1)).await;
    assert_eq!(items(&forced), vec![("cat".into(), 0)]);

    for (api, body) in [
        ("sns/friend_add", add("ann", &["fay"], 2)),
        (
            "sns/friend_pendency_get",
            json!({"From_Account": "dan", "PendencyType": "Pendency_Type_Both"}),
        ),
        (
            "sns/friend_response",
            json!({"From_Account": "dan", "ResponseFriendItem": [{"To_Account": "ann", "ResponseAction": "Response_Action_Maybe"}]}),
        ),
    ] {
        let reply = app.rest(api, body).await;
        assert_eq!(reply["ErrorCode"], 30001, "{api}: {reply}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn friends_are_imported_updated_and_read_back_with_their_fields() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["ann", "ben", "cat", "dan"]).await;
    let import = json!({"From_Account": "ann", "AddFriendItem": [
        {"To_Account": "ben", "AddSource": "AddSource_Type_Old", "Remark": "Benny", "RemarkTime": 1_420_000_001,
         "GroupName": ["school", "chess"], "AddWording": "hi", "AddTime": 1_420_000_001,
         "CustomItem": [{"Tag": "Tag_SNS_Custom_Rank", "Value": 3}, {"Tag": "Tag_SNS_Custom_Note", "Value": "met 2014"}]},
        {"To_Account": "cat", "AddSource": "AddSource_Type_Old"}]});
    let reply = app.rest("sns/friend_import", import.clone()).await;
    assert_eq!(items(&reply), vec![("ben".into(), 0), ("cat".into(), 0)]);
    // Imported once: again, each is already a friend.
    let again = app.rest("sns/friend_import", import).await;
    assert_eq!(
        items(&again),
        vec![("ben".into(), 30001), ("cat".into(), 30001)]
    );
    // One way, whatever ben's AllowType.
    let check = app
        .rest("sns/friend_check", json!({"From_Account": "ann", "To_Account": ["ben"], "CheckType": "CheckResult_Type_Both"}))
        .await;
    assert_eq!(
        relations(&check, "InfoItem"),
        vec![("ben".into(), "CheckResult_Type_AWithB".into())]
    );

    let update = app
        .rest(
            "sns/friend_update",
            json!({"From_Account": "ann", "UpdateItem": [
            {"To_Account": "ben", "SnsItem": [
                {"Tag": "Tag_SNS_IM_Remark", "Value": "Ben"},
                {"Tag": "Tag_SNS_IM_Group", "Value": ["chess"]},
                {"Tag": "Tag_SNS_Custom_Rank", "Value": 4}]},
            {"To_Account": "dan", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "D"}]}]}),
        )
        .await;
    assert_eq!(
        items(&update),
        vec![("ben".into(), 0), ("dan".into(), 30001)]
    );

    let page = app
        .rest(
            "sns/friend_get",
            json!({"From_Account": "ann", "StartIndex": 0, "StandardSequence": 0, "CustomSequence": 0}),
        )
        .await;
    assert_eq!(page["ErrorCode"], 0, "{page}");
    assert_eq!(page["FriendNum"], 2);
    assert_eq!(page["CompleteFlag"], 1);
    assert_eq!(page["NextStartIndex"], 0);
    assert_eq!(page["UserDataItem"][0]["To_Account"], "ben");
    assert_eq!(
        page["UserDataItem"][0]["ValueItem"],
        json!([
            {"Tag": "Tag_SNS_IM_AddSource", "Value": "AddSource_Type_Old"},
            {"Tag": "Tag_SNS_IM_Remark", "Value": "Ben"},
            {"Tag": "Tag_SNS_IM_Group", "Value": ["chess"]},
            {"Tag": "Tag_SNS_IM_AddWording", "Value": "hi"},
            {"Tag": "Tag_SNS_IM_AddTime", "Value": 1_420_000_001},
            {"Tag": "Tag_SNS_Custom_Note", "Value": "met 2014"},
            {"Tag": "Tag_SNS_Custom_Rank", "Value": 4}
        ]),
        "{page}"
    );
    assert_eq!(page["UserDataItem"][1]["To_Account"], "cat");
    let past = app
        .rest(
            "sns/friend_get",
            json!({"From_Account": "ann", "StartIndex": 5}),
        )
        .await;
    assert_eq!(past["UserDataItem"], json!([]), "{past}");
    assert_eq!(past["FriendNum"], 2);

    let nick = set_profile(
        &app,
        "ben",
        json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Benjamin"}]),
    )
    .await;
    assert_eq!(nick["ErrorCode"], 0, "{nick}");
    let list = app
        .rest(
            "sns/friend_get_list",
            json!({"From_Account": "ann", "To_Account": ["ben", "dan"],
            "TagList": ["Tag_SNS_IM_Remark", "Tag_SNS_Custom_Rank", "Tag_Profile_IM_Nick"]}),
        )
        .await;
    assert_eq!(list["ErrorCode"], 0, "{list}");
    assert_eq!(
        list["InfoItem"][0]["SnsProfileItem"],
        json!([{"Tag": "Tag_SNS_IM_Remark", "Value": "Ben"},
               {"Tag": "Tag_SNS_Custom_Rank", "Value": 4},
               {"Tag": "Tag_Profile_IM_Nick", "Value": "Benjamin"}])
    );
    assert_eq!(list["InfoItem"][1]["ResultCode"], 30001, "{list}");
    assert_eq!(list["Fail_Account"], json!(["dan"]));

    // Blocklists checked one way and both ways.
    for (from, to) in [("ann", "ben"), ("cat", "ann")] {
        let r = app
            .rest(
                "sns/black_list_add",
                json!({"From_Account": from, "To_Account": [to]}),
            )
            .await;
        assert_eq!(items(&r), vec![(to.to_owned(), 0)]);
    }
    let both = app
        .rest("sns/black_list_check", json!({"From_Account": "ann", "To_Account": ["ben", "cat", "dan"], "CheckType": "BlackCheckResult_Type_Both"}))
        .await;
    assert_eq!(
        relations(&both, "BlackListCheckItem"),
        vec![
            ("ben".into(), "BlackCheckResult_Type_AWithB".into()),
            ("cat".into(), "BlackCheckResult_Type_BWithA".into()),
            ("dan".into(), "BlackCheckResult_Type_NO".into())
        ]
    );
    let single = app
        .rest("sns/black_list_check", json!({"From_Account": "ann", "To_Account": ["ben", "cat"], "CheckType": "BlackCheckResult_Type_Single"}))
        .await;
    assert_eq!(
        relations(&single, "BlackListCheckItem"),
        vec![
            ("ben".into(), "BlackCheckResult_Type_AWithB".into()),
            ("cat".into(), "BlackCheckResult_Type_NO".into())
        ]
    );

    for (api, body) in [
        (
            "sns/friend_import",
            json!({"From_Account": "ann", "AddFriendItem": [{"To_Account": "dan", "AddSource": "AddSource_Type_TooLongKey"}]}),
        ),
        (
            "sns/friend_import",
            json!({"From_Account": "ann", "AddFriendItem": [{"To_Account": "dan", "AddSource": "AddSource_Type_Old", "Remark": "r".repeat(97)}]}),
        ),
        (
            "sns/friend_update",
            json!({"From_Account": "ann", "UpdateItem": [{"To_Account": "ben", "SnsItem": [{"Tag": "Tag_SNS_IM_AddSource", "Value": "AddSource_Type_New"}]}]}),
        ),
        (
            "sns/friend_update",
            json!({"From_Account": "ann", "UpdateItem": [{"To_Account": "ben", "SnsItem": [{"Tag": "Tag_SNS_IM_Group", "Value": [""]}]}]}),
        ),
        (
            "sns/friend_get_list",
            json!({"From_Account": "ann", "To_Account": ["ben"], "TagList": ["Tag_SNS_IM_Nothing"]}),
        ),
        (
            "sns/black_list_check",
            json!({"From_Account": "ann", "To_Account": ["ben"], "CheckType": "CheckResult_Type_Both"}),
        ),
        ("sns/friend_get", json!({"From_Account": "ann"})),
    ] {
        let reply = app.rest(api, body).await;
        assert_eq!(reply["ErrorCode"], 30001, "{api}: {reply}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_profile_tag_is_checked_set_and_read_back() {
    let app = TestApp::spawn().await;
    app.import_accounts(&["ann", "ben"]).await;
    let all = json!([
        {"Tag": "Tag_Profile_IM_Nick", "Value": "Ann"},
        {"Tag": "Tag_Profile_IM_Gender", "Value": "Gender_Type_Female"},
        {"Tag": "Tag_Profile_IM_BirthDay", "Value": 19_900_101},
        {"Tag": "Tag_Profile_IM_Location", "Value": "CN-44-01"},
        {"Tag": "Tag_Profile_IM_SelfSignature", "Value": "hi, 你好"},
        {"Tag": "Tag_Profile_IM_AllowType", "Value": "AllowType_Type_AllowAny"},
        {"Tag": "Tag_Profile_IM_Language", "Value": 2},
        {"Tag": "Tag_Profile_IM_Image", "Value": "https://img.example.com/ann.png"},
        {"Tag": "Tag_Profile_IM_MsgSettings", "Value": 1},
        {"Tag": "Tag_Profile_IM_AdminForbidType", "Value": "AdminForbid_Type_None"},
        {"Tag": "Tag_Profile_IM_Level", "Value": 4_294_967_295u64},
        {"Tag": "Tag_Profile_IM_Role", "Value": 7},
        {"Tag": "Tag_Profile_Custom_Hobby", "Value": "chess"},
        {"Tag": "Tag_Profile_Custom_Score", "Value": 42}
    ]);
    let r = set_profile(&app, "ann", all.clone()).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let tags: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Tag"].clone())
        .collect();
    let get = app
        .rest(
            "profile/portrait_get",
            json!({"To_Account": ["ann", "ben"], "TagList": tags}),
        )
        .await;
    assert_eq!(get["ErrorCode"], 0, "{get}");
    assert_eq!(get["UserProfileItem"][0]["ProfileItem"], all);
    // Never set: Tencent's defaults.
    assert_eq!(
        get["UserProfileItem"][1]["ProfileItem"],
        json!([
            {"Tag": "Tag_Profile_IM_Nick", "Value": ""},
            {"Tag": "Tag_Profile_IM_Gender", "Value": "Gender_Type_Unknown"},
            {"Tag": "Tag_Profile_IM_BirthDay", "Value": 0},
            {"Tag": "Tag_Profile_IM_Location", "Value": ""},
            {"Tag": "Tag_Profile_IM_SelfSignature", "Value": ""},
            {"Tag": "Tag_Profile_IM_AllowType", "Value": "AllowType_Type_NeedConfirm"},
            {"Tag": "Tag_Profile_IM_Language", "Value": 0},
            {"Tag": "Tag_Profile_IM_Image", "Value": ""},
            {"Tag": "Tag_Profile_IM_MsgSettings", "Value": 0},
            {"Tag": "Tag_Profile_IM_AdminForbidType", "Value": "AdminForbid_Type_None"},
            {"Tag": "Tag_Profile_IM_Level", "Value": 0},
            {"Tag": "Tag_Profile_IM_Role", "Value": 0},
            {"Tag": "Tag_Profile_Custom_Hobby", "Value": ""},
            {"Tag": "Tag_Profile_Custom_Score", "Value": ""}
        ]),
        "{get}"
    );

    // All or nothing: a bad item refuses the call, the good ones before it included.
    let nick = json!({"Tag": "Tag_Profile_IM_Nick", "Value": "changed"});
    for (bad, code) in [
        (
            json!({"Tag": "Tag_Profile_IM_Gender", "Value": "Gender_Type_Robot"}),
            40605,
        ),
        (json!({"Tag": "Tag_Profile_IM_Gender", "Value": 1}), 40610),
        (
            json!({"Tag": "Tag_Profile_IM_BirthDay", "Value": "19900101"}),
            40610,
        ),
        (
            json!({"Tag": "Tag_Profile_IM_BirthDay", "Value": -1}),
            40605,
        ),
        (
            json!({"Tag": "Tag_Profile_IM_Location", "Value": "a".repeat(17)}),
            40605,
        ),
        (
            json!({"Tag": "Tag_Profile_IM_SelfSignature", "Value": "a".repeat(501)}),
            40601,
        ),
        (
            json!({"Tag": "Tag_Profile_IM_AllowType", "Value": "AllowType_Type_Maybe"}),
            40605,
        ),
        (
            json!({"Tag": "Tag_Profile_IM_Mood", "Value": "happy"}),
            40009,
        ),
        (
            json!({"Tag": "Tag_Profile_Custom_Hobby2", "Value": "x"}),
            40009,
        ),
        (
            json!({"Tag": "Tag_Profile_Custom_Hobby", "Value": {"a": 1}}),
            40610,
        ),
        (json!({"Tag": "Tag_Profile_IM_Nick"}), 40001),
    ] {
        let r = set_profile(&app, "ann", json!([nick, bad])).await;
        assert_eq!(r["ErrorCode"], code, "{bad}: {r}");
    }
    let get = app
        .rest(
            "profile/portrait_get",
            json!({"To_Account": ["ann"], "TagList": ["Tag_Profile_IM_Nick", "Tag_Profile_IM_Gender"]}),
        )
        .await;
    assert_eq!(
        get["UserProfileItem"][0]["ProfileItem"],
        json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Ann"},
               {"Tag": "Tag_Profile_IM_Gender", "Value": "Gender_Type_Female"}])
    );
    let unknown = app
        .rest(
            "profile/portrait_get",
            json!({"To_Account": ["ann"], "TagList": ["Tag_Profile_IM_Mood"]}),
        )
        .await;
    assert_eq!(unknown["ErrorCode"], 40009, "{unknown}");
    let nobody = set_profile(&app, "ghost", json!([nick])).await;
    assert_eq!(nobody["ErrorCode"], 40003, "{nobody}");
    app.stop().await;
}
