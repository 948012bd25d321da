//! Hostile clients: slow headers (slowloris), too many connections,
//! oversized and deeply nested bodies and frames. Each gets a precise answer
//! or is disconnected, and changes nothing (the events topic's end offsets
//! and every view are as before).

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{text_body, TestApp, WsClient, WAIT};

/// Trickles header bytes to `addr` until the server closes the connection.
/// Panics if the server never does
/// (within the harness's WAIT).
async fn trickle_until_closed(addr: SocketAddr, request_line: &str) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("{request_line}\r\nHost: x\r\n").as_bytes())
        .await
        .unwrap();
    let mut lines = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = [0u8; 1024];
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server kept a client that never finished its headers"
        );
        // One more header line, a byte at a time.
        for b in format!("X-Slow-{lines}: a\r\n").bytes() {
            if tcp.write_all(&[b]).await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(20), tcp.read(&mut buf)).await {
                Err(_) => {}                      // nothing yet: keep trickling
                Ok(Ok(0)) | Ok(Err(_)) => return, // closed
                Ok(Ok(n)) => {
                    // hyper may answer 408 before closing.
                    let text = String::from_utf8_lossy(&buf[..n]);
                    assert!(
                        text.starts_with("HTTP/1.1 408"),
                        "unexpected answer: {text}"
                    );
                }
            }
        }
        lines += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_trickling_headers_are_disconnected_and_others_are_served() {
    let app = TestApp::spawn_with(|c| {
        c.limits.header_read_timeout_ms = 500;
        c.limits.rest_idle_timeout_ms = 1_000;
    })
    .await;
    let before = app.snapshot().await;
    let rest = app.ingest.as_ref().unwrap().addr;
    let ws = app.delivery.as_ref().unwrap().addr;
    let query = app.admin_query();
    let post = format!("POST /v4/openim/sendmsg?{query} HTTP/1.1");
    tokio::join!(
        trickle_until_closed(rest, &post),
        trickle_until_closed(ws, "GET /v1/ws HTTP/1.1"),
    );
    // A client that sends nothing at all is disconnected too.
    let mut idle = TcpStream::connect(rest).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(WAIT, idle.read(&mut buf))
        .await
        .expect("an idle connection is closed")
        .unwrap_or(0);
    assert!(n == 0 || buf.starts_with(b"HTTP/1.1 408"));
    // So is a keep-alive REST connection left idle after a request.
    let mut kept = TcpStream::connect(rest).await.unwrap();
    assert_eq!(healthz(&mut kept).await, "HTTP/1.1 200 OK");
    let n = tokio::time::timeout(WAIT, kept.read(&mut buf))
        .await
        .expect("an idle keep-alive connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // Normal clients are served meanwhile and after.
    app.send_text("alice", "bob", 1, "still serving").await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("message").await;
    let after = app.snapshot().await;
    assert_eq!(after.0, before.0 + 1, "only the normal send was appended");
    app.stop().await;
}

/// A complete keep-alive request on `tcp`; returns the status line.
async fn healthz(tcp: &mut TcpStream) -> String {
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("a reply in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_connections_past_the_bound_wait_for_a_free_slot() {
    let app = TestApp::spawn_with(|c| c.limits.rest_max_connections = 2).await;
    let addr = app.ingest.as_ref().unwrap().addr;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert_eq!(healthz(&mut first).await, "HTTP/1.1 200 OK");
    assert_eq!(healthz(&mut second).await, "HTTP/1.1 200 OK");
    // The third is not served while both slots are held...
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf))
            .await
            .is_err(),
        "a third connection was served past the bound of 2"
    );
    // ...and is as soon as one closes.
    drop(first);
    let n = tokio::time::timeout(WAIT, third.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    assert_eq!(healthz(&mut second).await, "HTTP/1.1 200 OK");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_sessions_hold_their_slot_until_they_end() {
    let app = TestApp::spawn_with(|c| c.limits.ws_max_connections = 1).await;
    let addr = app.delivery.as_ref().unwrap().addr;
    let mut alice = app.ws("alice", "phone").await;
    alice.next_of("sync_done").await;
    // A second client's handshake is not answered while alice's session lives.
    let pending = tokio::spawn(async move { WsClient::connect(addr).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !pending.is_finished(),
        "a second session past the bound of 1"
    );
    drop(alice);
    let ws = tokio::time::timeout(WAIT, pending)
        .await
        .expect("admitted once the slot is free")
        .unwrap();
    let mut bob = app.login(ws, "bob", "phone", None).await;
    bob.next_of("sync_done").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_or_deeply_nested_input_is_refused_precisely_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.send_text("alice", "bob", 1, "before").await;
    let before = app.snapshot().await;
    let q = app.admin_query();
    let deep = |n: usize| {
        format!(
        "{{\"From_Account\":\"alice\",\"To_Account\":\"bob\",\"MsgRandom\":7,\"MsgBody\":[{{\"MsgType\":\"TIMCustomElem\",\"MsgContent\":{{\"Data\":{}1{}}}}}]}}",
        "[".repeat(n),
        "]".repeat(n)
    )
    };
    let cases = [
        // Over ingest.max_request_bytes (64 KiB).
        (
            "openim/sendmsg",
            format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)),
            93000,
            "larger than 65536 bytes",
        ),
        // Deeper than limits.json_max_depth (32), and far deeper than serde's 128.
        ("openim/sendmsg", deep(40), 90001, "more than 32 deep"),
        ("openim/sendmsg", deep(20_000), 90001, "more than 32 deep"),
        (
            "sns/friend_add",
            "[".repeat(10_000),
            60003,
            "more than 32 deep",
        ),
        (
            "openim/sendmsg",
            "{\"From_Account\":".into(),
            90001,
            "not valid JSON",
        ),
    ];
    for (api, body, code, info) in cases {
        let (status, reply) = app.rest_raw(api, &q, body).await;
        assert_eq!(status, 200);
        assert_eq!(reply["ErrorCode"], code, "{reply}");
        let text = reply["ErrorInfo"].as_str().unwrap();
        assert!(text.contains(info), "{text}");
    }

    // Over WebSocket: a deeply nested frame gets an error and the session lives.
    let mut ws = app.ws("alice", "phone").await;
    ws.next_of("sync_done").await;
    let nested = format!(
        "{{\"type\":\"send\",\"id\":1,\"msg\":{{\"To_Account\":\"bob\",\"MsgRandom\":8,\"MsgBody\":{}{}}}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    use futures::SinkExt;
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Text(nested.into()))
        .await
        .unwrap();
    let err = ws.next_of("error").await;
    assert_eq!(err["code"], 20001);
    assert!(
        err["info"].as_str().unwrap().contains("more than 32 deep"),
        "{err}"
    );
    let pong = ws.request(2, json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    // A frame over 64 KiB closes the connection.
    ws.send(
        json!({"type": "send", "id": 3, "msg": {"To_Account": "bob", "MsgRandom": 9,
        "MsgBody": text_body(&"x".repeat(70_000))}}),
    )
    .await;
    loop {
        let f = ws.next().await;
        if f["type"] == "closed" {
            break;
        }
        assert_ne!(f["type"], "sent", "an oversized frame was accepted: {f}");
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "refused input changed something"
    );
    app.stop().await;
}

/// Issue #16: a string PostgreSQL cannot store (U+0000 in `text`, `\u0000`
/// in `jsonb`) used to be accepted and then stopped the projector for
/// everyone. Every door refuses it now, naming the field, and appends
/// nothing; unpaired surrogates are refused as bad JSON, never with a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strings_the_views_cannot_store_are_refused_at_every_door() {
    let app = TestApp::spawn().await;
    let r = app
        .rest(
            "im_open_login_svc/account_import",
            json!({"UserID": "alice"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let sent = app.send_text("alice", "bob", 1, "before").await;
    let key = sent["MsgKey"].as_str().unwrap().to_owned();
    let before = app.snapshot().await;
    let nul = "nul \u{0} inside";
    let text = |t: &str| json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}]);
    let send = |extra: serde_json::Value| {
        let mut b = json!({"From_Account": "alice", "To_Account": "bob", "MsgRandom": 5,
            "MsgBody": text("fine")});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let now = missive_core::time::now_secs();
    // (API, body, code, the start of ErrorInfo)
    let cases = [
        (
            "openim/sendmsg",
            send(json!({"MsgBody": text(nul)})),
            90010,
            "MsgBody[0].MsgContent.Text holds U+0000 (NUL) at byte 4",
        ),
        (
            "openim/sendmsg",
            send(
                json!({"MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}", "Desc": "d", "Ext": nul}}]}),
            ),
            90010,
            "MsgBody[0].MsgContent.Ext holds U+0000",
        ),
        (
            "openim/sendmsg",
            send(
                json!({"MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{\"a\":\"\u{0}\"}"}}]}),
            ),
            90010,
            "MsgBody[0].MsgContent.Data holds U+0000",
        ),
        (
            "openim/sendmsg",
            send(json!({"CloudCustomData": nul})),
            90002,
            "CloudCustomData holds U+0000",
        ),
        (
            "openim/sendmsg",
            send(json!({"OfflinePushInfo": {"PushFlag": 0, "Title": nul}})),
            90043,
            "OfflinePushInfo.Title holds U+0000",
        ),
        (
            "openim/sendmsg",
            send(json!({"OfflinePushInfo": {"ApnsInfo": {"Sound": nul}}})),
            90043,
            "OfflinePushInfo.ApnsInfo.Sound holds U+0000",
        ),
        (
            "openim/sendmsg",
            send(json!({"To_Account": "b\u{0}b"})),
            90003,
            "To_Account holds U+0000",
        ),
        (
            "openim/batchsendmsg",
            send(json!({"To_Account": ["bob", "carol"], "MsgBody": text(nul)})),
            90010,
            "MsgBody[0].MsgContent.Text holds U+0000",
        ),
        (
            "openim/importmsg",
            send(json!({"SyncFromOldSystem": 2, "MsgTimeStamp": now - 60, "MsgBody": text(nul)})),
            90010,
            "MsgBody[0].MsgContent.Text holds U+0000",
        ),
        (
            "openim/modify_c2c_msg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key, "MsgBody": text(nul)}),
            90010,
            "MsgBody[0].MsgContent.Text holds U+0000",
        ),
        (
            "openim/modify_c2c_msg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key, "CloudCustomData": nul}),
            90002,
            "CloudCustomData holds U+0000",
        ),
        (
            "openim/admin_msgwithdraw",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": format!("{key}\u{0}")}),
            90054,
            "MsgKey holds U+0000",
        ),
        (
            "im_open_login_svc/account_import",
            json!({"UserID": "carol", "Nick": nul}),
            70402,
            "Nick holds U+0000",
        ),
        (
            "im_open_login_svc/account_import",
            json!({"UserID": "carol", "FaceUrl": nul}),
            70402,
            "FaceUrl holds U+0000",
        ),
        (
            "profile/portrait_set",
            json!({"From_Account": "alice", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "ok"}, {"Tag": "Tag_Profile_IM_Image", "Value": nul}]}),
            40001,
            "ProfileItem[1].Value holds U+0000",
        ),
        (
            "missive_push/set_token",
            json!({"From_Account": "alice", "DeviceId": "phone", "Platform": "fcm", "Token": "t\u{0}"}),
            96003,
            "Token holds U+0000",
        ),
        (
            "missive_push/set_token",
            json!({"From_Account": "alice", "DeviceId": "ph\u{0}one", "Platform": "fcm", "Token": "t"}),
            96001,
            "DeviceId holds U+0000",
        ),
    ];
    for (api, body, code, info) in cases {
        let (status, reply) = app
            .rest_raw(api, &app.admin_query(), body.to_string())
            .await;
        assert_eq!(
            (status, &reply["ErrorCode"]),
            (200, &json!(code)),
            "{api}: {reply}"
        );
        let got = reply["ErrorInfo"].as_str().unwrap();
        assert!(
            got.starts_with(info),
            "{api}: `{got}` should start with `{info}`"
        );
    }
    // Unpaired surrogates and invalid UTF-8 never become strings: bad JSON.
    let q = app.admin_query();
    for raw in [
        br#"{"From_Account":"alice","To_Account":"bob","MsgRandom":6,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"\ud800"}}]}"#.to_vec(),
        br#"{"From_Account":"alice","To_Account":"bob","MsgRandom":6,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x\udc00y"}}]}"#.to_vec(),
        b"{\"From_Account\":\"alice\",\"To_Account\":\"bob\",\"MsgRandom\":6,\"MsgBody\":[{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{\"Text\":\"\xed\xa0\x80\"}}]}".to_vec(),
    ] {
        let resp = app
            .http
            .post(app.rest_url("openim/sendmsg", &q))
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let reply: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(reply["ErrorCode"], 90001, "{reply}");
        let info = reply["ErrorInfo"].as_str().unwrap();
        assert!(info.starts_with("the body is not valid JSON"), "{info}");
    }

    // WebSocket: a send naming the field, a lone surrogate as a bad frame,
    // and a login whose device could not be stored.
    let mut ws = app.ws("alice", "phone").await;
    ws.next_of("sync_done").await;
    let err = ws
        .request(1, json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 7, "MsgBody": text(nul)}}))
        .await;
    assert_eq!(err["type"], "error", "{err}");
    assert_eq!(err["code"], 90010);
    assert!(
        err["info"]
            .as_str()
            .unwrap()
            .starts_with("MsgBody[0].MsgContent.Text holds U+0000"),
        "{err}"
    );
    let err = ws
        .request(
            2,
            json!({"type": "recall", "peer": "bob", "msg_key": format!("{key}\u{0}")}),
        )
        .await;
    assert_eq!(err["code"], 90054, "{err}");
    use futures::SinkExt;
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Text(
            r#"{"type":"send","id":3,"msg":{"To_Account":"bob","MsgRandom":8,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"\ud800"}}]}}"#.into(),
        ))
        .await
        .unwrap();
    let err = ws.next_of("error").await;
    assert_eq!(err["code"], 20001, "{err}");
    // serde_json's words: "unexpected end of hex escape" (a high surrogate
    // must be followed by a low one) or "lone leading surrogate".
    assert!(
        err["info"].as_str().unwrap().starts_with("bad frame: "),
        "{err}"
    );
    let mut bad_login = WsClient::connect(app.delivery.as_ref().unwrap().addr).await;
    bad_login
        .send(
            json!({"type": "login", "user": "alice", "usersig": app.sig("alice"),
            "device": "ph\u{0}one", "platform": "Web"}),
        )
        .await;
    let closed = bad_login.next().await;
    assert_eq!(closed["type"], "closed", "{closed}");
    assert_eq!(closed["code"], 4002);
    assert!(
        closed["reason"]
            .as_str()
            .unwrap()
            .starts_with("device holds U+0000"),
        "{closed}"
    );

    assert_eq!(
        app.snapshot().await,
        before,
        "refused input changed something"
    );
    // Nothing stalled: a plain message still reaches the views.
    app.send_text("alice", "bob", 9, "after").await;
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;
    app.stop().await;
}
