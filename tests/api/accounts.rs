//! The account lifecycle as Tencent documents it: account_check, sends to
//! and from accounts that were never imported (20003), the one-to-one mute
//! (setnospeaking / getnospeaking, 20012), kick (sessions closed, older
//! UserSigs refused) and account_delete (no login, no messages, views
//! cleared, the same after a rebuild), with the codes a client sees.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};

use missive_core::time;
use support::{text_body, TestApp, WsClient};

async fn strict_app() -> TestApp {
    TestApp::spawn_with(|c| c.accounts.allow_unknown = false).await
}

fn send(from: &str, to: &str, random: u32) -> Value {
    json!({"From_Account": from, "To_Account": to, "MsgRandom": random, "MsgBody": text_body("hi")})
}

/// Skips frames until the server closes the connection; returns the close frame.
async fn until_closed(ws: &mut WsClient) -> Value {
    loop {
        let f = ws.next().await;
        if f["type"] == "closed" {
            return f;
        }
    }
}

/// Logs in with `usersig` and returns the first frame after the login frame.
async fn login_reply(app: &TestApp, user: &str, usersig: &str) -> (WsClient, Value) {
    let mut ws = WsClient::connect(app.delivery.as_ref().unwrap().addr).await;
    ws.send(json!({"type": "login", "user": user, "usersig": usersig, "device": "d1", "platform": "Web"}))
        .await;
    let first = ws.next().await;
    (ws, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn account_check_and_sends_between_unknown_accounts() {
    let app = strict_app().await;
    app.import_accounts(&["alice", "bob"]).await;
    let r = app
        .rest(
            "im_open_login_svc/account_check",
            json!({"CheckItem": [{"UserID": "alice"}, {"UserID": "ghost"}]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    assert_eq!(r["ResultItem"][0]["AccountStatus"], "Imported");
    assert_eq!(r["ResultItem"][1]["UserID"], "ghost");
    assert_eq!(r["ResultItem"][1]["AccountStatus"], "NotImported");
    for bad in [
        json!({}),
        json!({"CheckItem": []}),
        json!({"CheckItem": [{"UserID": "a:b"}]}),
    ] {
        let r = app
            .rest("im_open_login_svc/account_check", bad.clone())
            .await;
        assert_eq!(r["ErrorCode"], 70402, "{bad}: {r}");
    }

    let state = app
        .rest(
            "openim/query_online_status",
            json!({"To_Account": ["alice", "ghost"]}),
        )
        .await;
    assert_eq!(state["ErrorCode"], 0, "{state}");
    assert_eq!(state["QueryResult"].as_array().unwrap().len(), 1, "{state}");
    assert_eq!(
        state["ErrorList"],
        json!([{"To_Account": "ghost", "ErrorCode": 70107}])
    );

    let on_log = app.changes_on_log();
    let to_ghost = app.rest("openim/sendmsg", send("alice", "ghost", 1)).await;
    assert_eq!(to_ghost["ErrorCode"], 20003, "{to_ghost}");
    assert!(to_ghost["ErrorInfo"].as_str().unwrap().contains("ghost"));
    let from_ghost = app.rest("openim/sendmsg", send("ghost", "bob", 2)).await;
    assert_eq!(from_ghost["ErrorCode"], 20003, "{from_ghost}");
    assert_eq!(app.changes_on_log(), on_log, "a refused send logs nothing");
    let ok = app.rest("openim/sendmsg", send("alice", "bob", 3)).await;
    assert_eq!(ok["ErrorCode"], 0, "{ok}");
    // batchsendmsg lists the unknown recipient and reaches the others.
    let batch = app
        .rest(
            "openim/batchsendmsg",
            json!({"From_Account": "alice", "To_Account": ["bob", "ghost"], "MsgRandom": 4, "MsgBody": text_body("all")}),
        )
        .await;
    assert_eq!(batch["ErrorCode"], 0, "{batch}");
    assert_eq!(
        batch["ErrorList"],
        json!([{"To_Account": "ghost", "ErrorCode": 20003}])
    );
    app.stop().await;

    // The permissive setting keeps the older behaviour.
    let lenient = TestApp::spawn().await;
    let r = lenient
        .rest("openim/sendmsg", send("alice", "ghost", 1))
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    lenient.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_muted_user_cannot_send_one_to_one_until_the_mute_is_lifted() {
    let app = strict_app().await;
    app.import_accounts(&["alice", "bob"]).await;
    let mute = |secs: i64| json!({"Set_Account": "alice", "C2CmsgNospeakingTime": secs});
    let r = app.rest("openconfigsvr/setnospeaking", mute(3600)).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app
        .rest(
            "openconfigsvr/getnospeaking",
            json!({"Get_Account": "alice"}),
        )
        .await;
    assert_eq!(r["C2CmsgNospeakingTime"], 3600, "{r}");
    assert_eq!(r["GroupmsgNospeakingTime"], 0);

    let r = app.rest("openim/sendmsg", send("alice", "bob", 1)).await;
    assert_eq!(r["ErrorCode"], 20012, "{r}");
    let mut ws = app.ws("alice", "phone").await;
    let reply = ws
        .request(1, json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 2, "MsgBody": text_body("hi")}}))
        .await;
    assert_eq!(reply["code"], 20012, "{reply}");
    // bob is not muted: he may still write to alice.
    let r = app.rest("openim/sendmsg", send("bob", "alice", 3)).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");

    for (bad, code) in [
        (
            json!({"Set_Account": "alice", "C2CmsgNospeakingTime": -1}),
            70402,
        ),
        (
            json!({"Set_Account": "alice", "C2CmsgNospeakingTime": 4_294_967_296_i64}),
            70402,
        ),
        (json!({"Set_Account": "alice"}), 70402),
        (
            json!({"Set_Account": "ghost", "C2CmsgNospeakingTime": 5}),
            70107,
        ),
    ] {
        let r = app.rest("openconfigsvr/setnospeaking", bad.clone()).await;
        assert_eq!(r["ErrorCode"], code, "{bad}: {r}");
    }
    let r = app
        .rest(
            "openconfigsvr/getnospeaking",
            json!({"Get_Account": "ghost"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 70107, "{r}");

    let r = app.rest("openconfigsvr/setnospeaking", mute(0)).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app
        .rest(
            "openconfigsvr/getnospeaking",
            json!({"Get_Account": "alice"}),
        )
        .await;
    assert_eq!(r["C2CmsgNospeakingTime"], 0, "{r}");
    let r = app.rest("openim/sendmsg", send("alice", "bob", 4)).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let (live, rebuilt) = app.rebuild_digests(100).await;
    assert_eq!(live, rebuilt);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kick_closes_every_session_and_refuses_older_usersigs() {
    let app = strict_app().await;
    app.import_accounts(&["alice", "bob"]).await;
    let old_sig = app.verifier().generate("bob", 3600, time::now_secs() - 60);
    let mut phone = app.ws("bob", "phone").await;
    let mut laptop = app.ws("bob", "laptop").await;
    let r = app
        .rest("im_open_login_svc/kick", json!({"UserID": "bob"}))
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    for ws in [&mut phone, &mut laptop] {
        let closed = until_closed(ws).await;
        assert_eq!(closed["code"], 4004, "{closed}");
    }
    // A UserSig issued before the kick no longer logs in ...
    let (_, refused) = login_reply(&app, "bob", &old_sig).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], 70001, "{refused}");
    // ... a new one does.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let _again = app.ws("bob", "phone").await;
    let r = app
        .rest("im_open_login_svc/kick", json!({"UserID": "ghost"}))
        .await;
    assert_eq!(r["ErrorCode"], 70107, "{r}");
    let r = app
        .rest("im_open_login_svc/kick", json!({"UserID": ""}))
        .await;
    assert_eq!(r["ErrorCode"], 70402, "{r}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_account_cannot_log_in_nor_be_messaged_and_its_views_are_cleared() {
    let app = strict_app().await;
    app.import_accounts(&["alice", "carol"]).await;
    let r = app
        .rest(
            "sns/friend_add",
            json!({"From_Account": "alice", "AddFriendItem": [{"To_Account": "carol", "AddSource": "AddSource_Type_Web"}], "ForceAddFlags": 1}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let token = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad";
    let r = app
        .rest(
            "missive_push/set_token",
            json!({"From_Account": "carol", "DeviceId": "phone", "Platform": "apns", "Token": token}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app.rest("openim/sendmsg", send("alice", "carol", 1)).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app
        .rest(
            "missive_contact/set_top",
            json!({"From_Account": "carol", "Type": 1, "To_Account": "alice", "TopFlag": 1}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    app.wait_projected().await;
    let mut carol = app.ws("carol", "phone").await;

    let r = app
        .rest(
            "im_open_login_svc/account_delete",
            json!({"DeleteItem": [{"UserID": "carol"}, {"UserID": "ghost"}]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    assert_eq!(
        r["ResultItem"][0],
        json!({"UserID": "carol", "ResultCode": 0, "ResultInfo": ""})
    );
    assert_eq!(r["ResultItem"][1]["ResultCode"], 70107, "{r}");
    let closed = until_closed(&mut carol).await;
    assert_eq!(closed["code"], 4004, "{closed}");

    // No login, no messages to or from carol, any channel.
    let (_, refused) = login_reply(&app, "carol", &app.sig("carol")).await;
    assert_eq!(refused["code"], 70107, "{refused}");
    let r = app.rest("openim/sendmsg", send("alice", "carol", 2)).await;
    assert_eq!(r["ErrorCode"], 20003, "{r}");
    let r = app.rest("openim/sendmsg", send("carol", "alice", 3)).await;
    assert_eq!(r["ErrorCode"], 20003, "{r}");
    let mut alice = app.ws("alice", "phone").await;
    let reply = alice
        .request(1, json!({"type": "send", "msg": {"To_Account": "carol", "MsgRandom": 4, "MsgBody": text_body("hi")}}))
        .await;
    assert_eq!(reply["code"], 20003, "{reply}");
    let r = app
        .rest(
            "im_open_login_svc/account_check",
            json!({"CheckItem": [{"UserID": "carol"}]}),
        )
        .await;
    assert_eq!(r["ResultItem"][0]["AccountStatus"], "NotImported");

    // Her views are gone: profile, friends, push tokens, inbox, contacts, pins.
    for table in [
        "profiles",
        "push_tokens",
        "inbox",
        "recent_contacts",
        "conversation_marks",
    ] {
        let n = app
            .scalar(&format!(
                "SELECT count(*) FROM {table} WHERE user_id = 'carol'"
            ))
            .await;
        assert_eq!(n, 0, "{table} still holds carol");
    }
    assert_eq!(
        app.scalar("SELECT count(*) FROM friends WHERE user_id = 'carol' OR friend_id = 'carol'")
            .await,
        0
    );
    // alice keeps the message in her history.
    assert_eq!(
        app.scalar("SELECT count(*) FROM messages WHERE to_account = 'carol' AND msg_random = 1")
            .await,
        1
    );
    // A rebuild from the log clears the same.
    let (live, rebuilt) = app.rebuild_digests(100).await;
    assert_eq!(live, rebuilt);

    // Importing the account again brings it back.
    app.import_accounts(&["carol"]).await;
    let r = app.rest("openim/sendmsg", send("alice", "carol", 5)).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let _carol = app.ws("carol", "laptop").await;
    app.stop().await;
}
