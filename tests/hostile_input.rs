//! Hostile clients: slow headers (slowloris), too many connections,
//! oversized and deeply nested bodies and frames. Each gets a precise answer
//! or is disconnected, and changes nothing (the events topic's end offsets
//! and every view are as before).

mod support;

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
