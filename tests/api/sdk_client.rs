//! The client SDK against the real stack: the login flow's order, history
//! completed from the roaming store, reconnects that lose and double
//! nothing, and sends of every element type.

use crate::support;

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use missive_sdk::{
    Client, ClientConfig, ConnectionState, Element, Event, Events, ImageInfo, Message, SdkError,
    VideoElem,
};
use support::{TestApp, WAIT};

fn config(addr: SocketAddr) -> ClientConfig {
    ClientConfig::new(format!("ws://{addr}/v1/ws"))
}

async fn login(app: &TestApp, config: ClientConfig, user: &str, device: &str) -> (Client, Events) {
    Client::login(config, user, &app.sig(user), device)
        .await
        .expect("login")
}

/// The next event, in time.
async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event arrives in time")
        .expect("the event stream is open")
}

/// Events up to and including the next `Refresh`, connection states left out.
async fn until_refresh(events: &mut Events) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        match next(events).await {
            Event::Refresh => return out,
            Event::ConnectionState(ConnectionState::Connecting | ConnectionState::Connected) => {}
            e => out.push(e),
        }
    }
}

fn texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::NewMessage(m) => text_of(m),
            other => panic!("expected a new message, got {other:?}"),
        })
        .collect()
}

fn text_of(m: &Message) -> String {
    match &m.body[..] {
        [Element::Text { text }] => text.clone(),
        other => panic!("not one text element: {other:?}"),
    }
}

async fn send_rest(app: &TestApp, from: &str, to: &str, text: &str, extra: serde_json::Value) {
    let mut body = json!({
        "From_Account": from, "To_Account": to, "MsgRandom": support::rand_u32(),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let reply = app.rest("openim/sendmsg", body).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_raises_offline_messages_then_contacts_latest_messages_then_refresh() {
    // Two conversations are offered offline; the third only through the recent contacts.
    let app = TestApp::spawn_with(|c| c.views.offline_conversations_max = 2).await;
    send_rest(&app, "dave", "bob", "from dave", json!({})).await;
    // The caps keep the conversations with the newest inbox cursors, which
    // follow commit order; projected alone, dave's is surely the oldest.
    app.wait_projected().await;
    for i in 1..=3 {
        send_rest(&app, "alice", "bob", &format!("alice {i}"), json!({})).await;
    }
    send_rest(&app, "carol", "bob", "from carol", json!({})).await;
    app.wait_projected().await;

    let delivery = app.delivery.as_ref().unwrap().addr;
    let (bob, mut events) = login(&app, config(delivery), "bob", "phone").await;
    assert_eq!(
        next(&mut events).await,
        Event::ConnectionState(ConnectionState::Connecting)
    );
    assert_eq!(
        next(&mut events).await,
        Event::ConnectionState(ConnectionState::Connected)
    );
    let synced = until_refresh(&mut events).await;
    // Offline messages oldest first, then dave's latest from the contacts, then Refresh.
    assert_eq!(
        texts(&synced),
        ["alice 1", "alice 2", "alice 3", "from carol", "from dave"]
    );

    let contacts = bob.recent_contacts().await.unwrap();
    let unread: HashMap<_, _> = contacts
        .iter()
        .map(|c| (c.peer.as_str(), c.unread))
        .collect();
    assert_eq!(contacts[0].peer, "carol", "most recent first: {contacts:?}");
    assert_eq!(unread["alice"], 3);
    assert_eq!(unread["carol"], 1);
    assert_eq!(
        text_of(contacts[1].last_message.as_ref().unwrap()),
        "alice 3"
    );

    // Live after the refresh; reading clears the count.
    send_rest(&app, "alice", "bob", "alice live", json!({})).await;
    assert_eq!(texts(&[next(&mut events).await]), ["alice live"]);
    bob.mark_read("alice", None).await.unwrap();
    let contacts = bob.recent_contacts().await.unwrap();
    assert_eq!(
        contacts.iter().find(|c| c.peer == "alice").unwrap().unread,
        0
    );
    bob.logout().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_messages_fills_gaps_from_the_roaming_store_and_serves_the_cache_offline() {
    // One message per conversation waits offline; the rest is in history only.
    let app = TestApp::spawn_with(|c| c.views.offline_unread_max = 1).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("bob.sqlite");
    let delivery = app.delivery.as_ref().unwrap().addr;

    let (bob, mut events) = login(&app, config(delivery).cache_path(&cache), "bob", "phone").await;
    until_refresh(&mut events).await;
    for i in 1..=3 {
        send_rest(&app, "alice", "bob", &format!("m{i}"), json!({})).await;
        assert_eq!(texts(&[next(&mut events).await]), [format!("m{i}")]);
    }
    bob.logout().await;
    // Past the offline cap only m9 waits offline: bob's copy will have a hole 4..=8.
    for i in 4..=9 {
        send_rest(&app, "alice", "bob", &format!("m{i}"), json!({})).await;
    }
    app.wait_projected().await;

    let (bob, mut events) = login(&app, config(delivery).cache_path(&cache), "bob", "phone").await;
    assert_eq!(texts(&until_refresh(&mut events).await), ["m9"]);
    assert_eq!(bob.roaming_fetched(), 0);
    let page = bob.get_messages("alice", 20, None).await.unwrap();
    let seqs: Vec<i64> = page.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(text_of(&page[3]), "m6");
    assert_eq!(bob.roaming_fetched(), 5, "only the hole was pulled");
    // Complete now: served from the cache alone.
    let page = bob.get_messages("alice", 4, Some(6)).await.unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [5, 4, 3, 2]);
    assert_eq!(bob.roaming_fetched(), 5);
    bob.logout().await;

    // A restarted app with no server: history and contacts from disk.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = dead.local_addr().unwrap();
    drop(dead);
    let (bob, mut events) = login(&app, config(nowhere).cache_path(&cache), "bob", "phone").await;
    assert_eq!(
        next(&mut events).await,
        Event::ConnectionState(ConnectionState::Connecting)
    );
    assert!(matches!(
        next(&mut events).await,
        Event::ConnectionState(ConnectionState::Disconnected { .. })
    ));
    let page = bob.get_messages("alice", 20, None).await.unwrap();
    assert_eq!(page.len(), 9);
    assert_eq!(bob.recent_contacts().await.unwrap()[0].peer, "alice");
    bob.logout().await;

    // The file is bob's: another user may not open it.
    let err = Client::login(
        config(delivery).cache_path(&cache),
        "carol",
        &app.sig("carol"),
        "phone",
    )
    .await
    .err()
    .expect("another user's cache is refused");
    assert!(
        matches!(&err, SdkError::CacheOwner { cache_user, .. } if cache_user == "bob"),
        "{err}"
    );
    // A bad UserSig is a login error, not a retry loop.
    let err = Client::login(config(delivery), "bob", &app.sig("mallory"), "phone")
        .await
        .err()
        .expect("a foreign UserSig is refused");
    assert!(
        matches!(
            err,
            SdkError::Auth {
                code: 70001..=70999,
                ..
            }
        ),
        "{err}"
    );
    app.stop().await;
}

/// A TCP proxy whose connections the test can cut (as a flaky network would).
async fn cuttable_proxy(upstream: SocketAddr) -> (SocketAddr, watch::Sender<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (cut, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut rx = rx.clone();
            rx.borrow_and_update();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = rx.changed() => {} // dropping both streams cuts the connection
                }
            });
        }
    });
    (addr, cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconnect_loses_nothing_and_doubles_nothing() {
    let app = TestApp::spawn().await;
    let delivery = app.delivery.as_ref().unwrap().addr;
    let (proxy, cut) = cuttable_proxy(delivery).await;
    let (bob, mut events) = login(&app, config(proxy), "bob", "phone").await;
    until_refresh(&mut events).await;

    // bob sends through the flaky link while alice's messages pour in.
    let sender = bob.clone();
    let bob_sends = tokio::spawn(async move {
        let mut keys = Vec::new();
        for i in 0..10 {
            let sent = sender
                .send_message("alice", vec![Element::text(format!("bob {i}"))])
                .await
                .expect("send survives reconnects");
            keys.push(sent.msg_key);
        }
        keys
    });
    const N: usize = 40;
    for i in 0..N {
        send_rest(&app, "alice", "bob", &format!("alice {i}"), json!({})).await;
        if i % 10 == 5 {
            cut.send_modify(|g| *g += 1);
        }
    }
    let bob_keys = bob_sends.await.unwrap();

    // Every message of alice exactly once, and bob's own sends echoed once each.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut from_alice = 0;
    let mut drops = 0;
    while from_alice < N || bob_keys.iter().any(|k| !seen.contains_key(k)) {
        match next(&mut events).await {
            Event::NewMessage(m) => {
                if m.from == "alice" {
                    from_alice += 1;
                }
                *seen.entry(m.msg_key).or_default() += 1;
            }
            Event::ConnectionState(ConnectionState::Disconnected { .. }) => drops += 1,
            _ => {}
        }
    }
    assert!(drops >= 1, "the connection was cut at least once");
    assert!(
        seen.values().all(|&n| n == 1),
        "a message was raised twice: {seen:?}"
    );
    assert_eq!(seen.len(), N + 10);
    // The server holds each of bob's sends once, whatever the retries.
    app.wait_projected().await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM messages WHERE from_account = 'bob'")
            .await,
        10
    );
    // The cache has the whole conversation, no gap.
    let page = bob.get_messages("alice", 100, None).await.unwrap();
    assert_eq!(page.len(), N + 10);
    assert_eq!(page[0].seq, (N + 10) as i64);
    bob.logout().await;
    app.stop().await;
}

fn every_element() -> Vec<Vec<Element>> {
    vec![
        vec![Element::text("hello")],
        vec![Element::Face {
            index: 3,
            data: "smile".into(),
        }],
        vec![Element::Location {
            desc: "Shenzhen".into(),
            latitude: 22.54,
            longitude: 114.06,
        }],
        vec![Element::Custom {
            data: "{\"red_packet\":8}".into(),
            desc: "red packet".into(),
            ext: String::new(),
            sound: String::new(),
        }],
        vec![Element::Sound {
            url: "https://cdn.example.com/a.m4a".into(),
            uuid: "s1".into(),
            size: 2048,
            second: 3,
            download_flag: 2,
        }],
        vec![Element::Image {
            uuid: "i1".into(),
            image_format: 3,
            images: vec![
                ImageInfo {
                    kind: 1,
                    size: 9000,
                    width: 800,
                    height: 600,
                    url: "https://cdn.example.com/i.png".into(),
                },
                ImageInfo {
                    kind: 3,
                    size: 900,
                    width: 80,
                    height: 60,
                    url: "https://cdn.example.com/t.png".into(),
                },
            ],
        }],
        vec![Element::File {
            url: "https://cdn.example.com/f.pdf".into(),
            uuid: "f1".into(),
            file_size: 5000,
            file_name: "f.pdf".into(),
            download_flag: 2,
        }],
        vec![Element::Video(Box::new(VideoElem {
            video_url: "https://cdn.example.com/v.mp4".into(),
            video_uuid: "v1".into(),
            video_size: 70000,
            video_second: 9,
            video_format: "mp4".into(),
            video_download_flag: 2,
            thumb_url: "https://cdn.example.com/v.jpg".into(),
            thumb_uuid: "t1".into(),
            thumb_size: 300,
            thumb_width: 64,
            thumb_height: 48,
            thumb_format: "jpg".into(),
            thumb_download_flag: 2,
        }))],
        // Several elements in one message.
        vec![
            Element::text("look"),
            Element::Face {
                index: 1,
                data: String::new(),
            },
        ],
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_element_type_is_sent_received_recalled_and_read() {
    let app = TestApp::spawn().await;
    let delivery = app.delivery.as_ref().unwrap().addr;
    // The browser demo (and its UserSig minting) is off unless asked for.
    let demo = app
        .http
        .get(format!("http://{delivery}/demo/usersig?user=bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 404);
    let (alice, mut alice_events) = login(&app, config(delivery), "alice", "phone").await;
    until_refresh(&mut alice_events).await;
    let (bob, mut bob_events) = login(&app, config(delivery), "bob", "phone").await;
    until_refresh(&mut bob_events).await;

    let bodies = every_element();
    let mut sent = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let s = alice.send_message("bob", body.clone()).await.expect("send");
        assert_eq!(
            s.seq,
            Some(i as i64 + 1),
            "the seq comes back with the send"
        );
        sent.push(s);
    }
    for (i, body) in bodies.iter().enumerate() {
        match next(&mut bob_events).await {
            Event::NewMessage(m) => {
                assert_eq!(&m.body, body, "element {i} arrives as sent");
                assert_eq!(m.msg_key, sent[i].msg_key);
                assert_eq!(m.from, "alice");
            }
            other => panic!("expected message {i}, got {other:?}"),
        }
    }

    // Bad input gets the server's precise error.
    let err = alice
        .send_message(
            "bob",
            vec![Element::File {
                url: "ftp://x".into(),
                uuid: String::new(),
                file_size: 1,
                file_name: "x".into(),
                download_flag: 2,
            }],
        )
        .await
        .expect_err("an ftp URL is refused");
    assert!(
        matches!(&err, SdkError::Server { code: 90010, info } if info.contains("Url")),
        "{err}"
    );
    assert!(matches!(
        alice.send_message("bob", vec![]).await,
        Err(SdkError::Invalid(_))
    ));
    assert!(matches!(
        bob.get_messages("alice", 0, None).await,
        Err(SdkError::Invalid(_))
    ));

    // Recall: bob's copy empties; a read report reaches alice as a receipt.
    alice.recall("bob", &sent[0].msg_key).await.unwrap();
    loop {
        if let Event::Recall(m) = next(&mut bob_events).await {
            assert_eq!(m.msg_key, sent[0].msg_key);
            assert!(m.recalled && m.body.is_empty());
            break;
        }
    }
    let oldest = bob.get_messages("alice", 1, Some(2)).await.unwrap();
    assert!(oldest[0].recalled, "the cache holds the recall");
    let only_alice = alice.recall("bob", &sent[0].msg_key).await.unwrap_err();
    assert!(
        matches!(only_alice, SdkError::Server { code: 20023, .. }),
        "{only_alice}"
    );
    bob.mark_read("alice", None).await.unwrap();
    loop {
        if let Event::ReadReceipt { peer, read_seq } = next(&mut alice_events).await {
            assert_eq!((peer.as_str(), read_seq), ("bob", bodies.len() as i64));
            break;
        }
    }
    bob.set_push_token("fcm", "token-123").await.unwrap();
    assert_eq!(
        app.scalar("SELECT count(*) FROM push_tokens WHERE user_id = 'bob'")
            .await,
        1
    );
    let err = bob.set_push_token("pager", "x").await.unwrap_err();
    assert!(matches!(err, SdkError::Server { .. }), "{err}");
    alice.logout().await;
    bob.logout().await;
    app.stop().await;
}

/// The next event that is not a connection state.
async fn next_app_event(events: &mut Events) -> Event {
    loop {
        match next(events).await {
            Event::ConnectionState(_) => {}
            e => return e,
        }
    }
}

/// Issue #19, item 8: pinning and deleting conversations, read receipts on
/// sent messages, and typing, through the SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pins_deletes_read_receipts_and_typing_through_the_sdk() {
    let app = TestApp::spawn().await;
    let delivery = app.delivery.as_ref().unwrap().addr;
    app.send_text("cleo", "bob", 1, "from cleo").await;
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;
    let (alice, mut alice_events) = login(&app, config(delivery), "alice", "phone").await;
    until_refresh(&mut alice_events).await;
    let (bob, mut bob_events) = login(&app, config(delivery), "bob", "phone").await;
    until_refresh(&mut bob_events).await;

    // alice asks for a read receipt; bob sees that it asked, and answers.
    let mut asking = missive_sdk::Outgoing::new("bob", vec![Element::text("read me")]);
    asking.need_read_receipt = true;
    let sent = alice.send(asking).await.unwrap();
    let received = match next_app_event(&mut bob_events).await {
        Event::NewMessage(m) => m,
        other => panic!("expected the message, got {other:?}"),
    };
    assert!(received.need_read_receipt && !received.peer_read);
    bob.send_read_receipts("alice", std::slice::from_ref(&sent.msg_key))
        .await
        .unwrap();
    loop {
        match next_app_event(&mut alice_events).await {
            Event::MessageRead { peer, msg_key, seq } => {
                assert_eq!(
                    (peer.as_str(), msg_key.as_str()),
                    ("bob", sent.msg_key.as_str())
                );
                assert_eq!(Some(seq), sent.seq);
                break;
            }
            Event::NewMessage(m) => assert_eq!(m.msg_key, sent.msg_key), // its own echo
            other => panic!("expected the receipt, got {other:?}"),
        }
    }
    let cached = alice.get_messages("bob", 1, None).await.unwrap();
    assert!(cached[0].peer_read, "the cached copy shows the receipt");

    // Typing reaches the peer; a repeat within the interval is absorbed.
    bob.typing("alice").await.unwrap();
    bob.typing("alice").await.unwrap();
    assert_eq!(
        next_app_event(&mut alice_events).await,
        Event::Typing { from: "bob".into() }
    );

    // bob pins cleo's older conversation: it comes first, on the server too.
    bob.pin_conversation("cleo", true).await.unwrap();
    let order = |cs: Vec<missive_sdk::Conversation>| -> Vec<(String, bool)> {
        cs.into_iter().map(|c| (c.peer, c.pinned)).collect()
    };
    let pinned = vec![("cleo".to_owned(), true), ("alice".to_owned(), false)];
    assert_eq!(order(bob.recent_contacts().await.unwrap()), pinned);
    let (bob_tablet, mut tablet_events) = login(&app, config(delivery), "bob", "tablet").await;
    until_refresh(&mut tablet_events).await;
    assert_eq!(order(bob_tablet.recent_contacts().await.unwrap()), pinned);

    // bob deletes his conversation with alice, history included.
    bob.delete_conversation("alice", true).await.unwrap();
    assert_eq!(
        order(bob.recent_contacts().await.unwrap()),
        [("cleo".to_owned(), true)]
    );
    assert!(bob
        .get_messages("alice", 10, None)
        .await
        .unwrap()
        .is_empty());
    let reply = app
        .rest(
            "recentcontact/get_list",
            json!({"From_Account": "bob", "AssistFlags": 1}),
        )
        .await;
    assert_eq!(reply["SessionItem"].as_array().unwrap().len(), 1, "{reply}");
    assert_eq!(reply["SessionItem"][0]["TopFlag"], 1, "{reply}");

    for c in [alice, bob, bob_tablet] {
        c.logout().await;
    }
    app.stop().await;
}
