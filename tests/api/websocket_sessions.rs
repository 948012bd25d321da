//! WebSocket sessions: login with a UserSig, catch-up from a cursor, live
//! push, and precise errors for bad frames and bad signatures.

use crate::support;

use serde_json::json;

use support::{TestApp, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_or_expired_signature_is_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    let addr = app.delivery.as_ref().unwrap().addr;
    let now = missive_core::time::now_secs();
    let cases = [
        (app.sig("mallory"), 70013), // someone else's signature
        (app.verifier().generate("ivy", 10, now - 3600), 70001),
        ("garbage".to_owned(), 70003),
    ];
    for (usersig, code) in cases {
        let mut ws = WsClient::connect(addr).await;
        ws.send(json!({"type": "login", "user": "ivy", "usersig": usersig, "device": "d"}))
            .await;
        let err = ws.next().await;
        assert_eq!(err["type"], "error");
        assert_eq!(err["code"], code, "{err}");
        let closed = ws.next().await;
        assert_eq!(closed["type"], "closed");
        assert_eq!(closed["code"], 4001);
    }
    // Not a login frame first.
    let mut ws = WsClient::connect(addr).await;
    ws.send(json!({"type": "ping"})).await;
    let closed = ws.next().await;
    assert_eq!(closed["code"], 4002, "{closed}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_frames_get_an_error_frame_and_the_session_survives() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws("jane", "laptop").await;
    ws.next_of("sync_done").await;
    ws.send(json!({"type": "teleport"})).await;
    let err = ws.next().await;
    assert_eq!(err["type"], "error");
    assert!(err["info"].as_str().unwrap().contains("bad frame"), "{err}");
    ws.send(json!({"type": "ping", "id": 7})).await;
    assert_eq!(ws.next().await, json!({"type": "pong", "id": 7}));
    // Still receives pushes.
    app.send_text("kim", "jane", 5, "still there?").await;
    let m = ws.next_of("message").await;
    assert_eq!(m["body"][0]["MsgContent"]["Text"], "still there?");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_catches_up_from_its_cursor_then_gets_live_pushes() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.send_text("leo", "mia", i, &format!("offline {i}"))
            .await;
    }
    app.wait_for_count("SELECT count(*) FROM inbox WHERE user_id = 'mia'", 3)
        .await;

    // A new device gets everything still waiting, then sync_done.
    let mut fresh = app.ws("mia", "tablet").await;
    for i in 0..3 {
        let m = fresh.next().await;
        assert_eq!(m["type"], "message");
        assert_eq!(m["cursor"], i + 1);
        assert_eq!(m["body"][0]["MsgContent"]["Text"], format!("offline {i}"));
    }
    // Then the recent contacts, with the last message and the unread count.
    let contacts = fresh.next().await;
    assert_eq!(contacts["type"], "contacts");
    assert_eq!(contacts["contacts"][0]["peer"], "leo");
    assert_eq!(contacts["contacts"][0]["unread"], 3);
    assert_eq!(contacts["contacts"][0]["last_message"]["seq"], 3);
    assert_eq!(
        fresh.next().await,
        json!({"type": "sync_done", "cursor": 3})
    );

    // A device that had seen cursor 2 gets only the third.
    let mut known = app.ws_with_cursor("mia", "phone", Some(2)).await;
    let m = known.next().await;
    assert_eq!(m["cursor"], 3);
    assert_eq!(known.next().await["type"], "contacts");
    assert_eq!(known.next().await["type"], "sync_done");

    // Both get the next message live, exactly once.
    app.send_text("leo", "mia", 99, "live").await;
    for ws in [&mut fresh, &mut known] {
        let m = ws.next().await;
        assert_eq!(m["cursor"], 4);
        assert_eq!(m["seq"], 4);
        ws.expect_silence(std::time::Duration::from_millis(300))
            .await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn querystate_follows_sessions_across_devices() {
    let app = TestApp::spawn().await;
    let addr = app.delivery.as_ref().unwrap().addr;
    let mut web = app.ws("nia", "browser").await;
    web.next_of("sync_done").await;
    let mut phone = WsClient::connect(addr).await;
    phone
        .send(json!({"type": "login", "user": "nia", "usersig": app.sig("nia"), "device": "phone", "platform": "iPhone"}))
        .await;
    phone.next_of("sync_done").await;

    let state = app
        .rest(
            "openim/querystate",
            json!({"To_Account": ["nia", "oz", "bad:id"], "IsNeedDetail": 1}),
        )
        .await;
    assert_eq!(state["ErrorCode"], 0, "{state}");
    let nia = &state["QueryResult"][0];
    assert_eq!(nia["Status"], "Online");
    assert_eq!(nia["State"], "Online");
    let mut platforms: Vec<&str> = nia["Detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Platform"].as_str().unwrap())
        .collect();
    platforms.sort_unstable();
    assert_eq!(platforms, vec!["Web", "iPhone"]);
    assert_eq!(state["QueryResult"][1]["Status"], "Offline");
    assert_eq!(
        state["ErrorList"],
        json!([{"To_Account": "bad:id", "ErrorCode": 90003}])
    );

    drop(web);
    drop(phone);
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let state = app
            .rest("openim/query_online_status", json!({"To_Account": ["nia"]}))
            .await;
        if state["QueryResult"][0]["Status"] == "Offline" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still online: {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    for (body, code) in [
        (json!({"To_Account": []}), 90001),
        (json!({"To_Account": many}), 90011),
        (json!({"To_Account": "nia"}), 90003),
    ] {
        let reply = app.rest("openim/querystate", body).await;
        assert_eq!(reply["ErrorCode"], code, "{reply}");
    }
    app.stop().await;
}
