//! The commands topic end to end: a backend's Kafka producer writes
//! `Command`s, ingest turns them into events (delivered like any message),
//! refuses bad ones to the dead-letter topic with reasons and codes without
//! stopping, and a retried command yields one message.

use crate::support;

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;

use missive_core::Config;
use missive_schemas::commands::{
    Action, BatchSend, Command, CommandCodec, FriendPair, SendMessage, SendSystemNotification,
};
use missive_schemas::{Channel, Event, EventCodec};
use support::{log_size, read_topic, TestApp, WAIT};

fn producer(config: &Config) -> FutureProducer {
    missive_core::kafka::producer(config).expect("producer")
}

/// Produces raw bytes to the commands topic. One key keeps a test's commands
/// on one partition, so they are handled in the order they were produced.
async fn produce(app: &TestApp, p: &FutureProducer, payload: &[u8], trace: &str) {
    let topic = app.config.commands_topic();
    let headers = OwnedHeaders::new().insert(Header {
        key: "trace-id",
        value: Some(trace),
    });
    p.send(
        FutureRecord::to(&topic)
            .key("test")
            .payload(payload)
            .headers(headers),
        Duration::from_secs(10),
    )
    .await
    .expect("command produced");
}

fn command(id: &str, action: Action) -> Command {
    Command {
        command_id: id.to_owned(),
        issued_at: missive_core::time::now_millis(),
        issuer: "test-backend".into(),
        action,
    }
}

fn text(from: &str, to: &str, t: &str) -> Action {
    Action::SendMessage(SendMessage::text(from, to, t))
}

async fn messages_between(app: &TestApp, a: &str, b: &str) -> i64 {
    let conv = missive_schemas::conversation_id(a, b);
    app.pg
        .query_one(
            "SELECT count(*) FROM messages WHERE conversation_id = $1",
            &[&conv],
        )
        .await
        .unwrap()
        .get(0)
}

async fn wait_messages(app: &TestApp, a: &str, b: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = messages_between(app, a, b).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{a}:{b} has {got} messages, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_from_a_kafka_producer_becomes_a_delivered_message() {
    let app = TestApp::spawn().await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;
    let p = producer(&app.config);
    let codec = CommandCodec::get();

    produce(
        &app,
        &p,
        &codec.encode(&command(
            "order-1-shipped",
            text("shop", "bob", "your order shipped"),
        )),
        "t1",
    )
    .await;
    let pushed = bob.next_of("message").await;
    assert_eq!(pushed["from"], "shop");
    assert_eq!(
        pushed["body"],
        json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "your order shipped"}}])
    );

    // A system notification from the administrator, pushed the same way.
    produce(
        &app,
        &p,
        &codec.encode(&command(
            "maintenance-1",
            Action::SendSystemNotification(SendSystemNotification {
                from_account: None,
                to_account: "bob".into(),
                kind: "ops.maintenance".into(),
                text: "down at 2am".into(),
                data: "{\"minutes\":30}".into(),
                lifetime_seconds: 604_800,
                offline_push_info: None,
            }),
        )),
        "t2",
    )
    .await;
    let notice = bob.next_of("message").await;
    assert_eq!(notice["from"], app.config.admin_identifier.as_str());
    assert_eq!(notice["body"][0]["MsgType"], "TIMSystemElem");
    assert_eq!(notice["body"][0]["MsgContent"]["Kind"], "ops.maintenance");

    // In history, and on the log as the administrator's, through COMMANDS.
    let roam = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "bob", "Peer_Account": "shop", "MaxCnt": 10,
                   "MinTime": 0, "MaxTime": missive_core::time::now_secs() + 10}),
        )
        .await;
    assert_eq!(roam["MsgCnt"], 1, "{roam}");
    // (bob's session is on the log too, as its own kind, from his device.)
    let events: Vec<_> = read_topic(&app.config, &app.config.events_topic())
        .iter()
        .map(|r| EventCodec::get().decode(&r.payload).unwrap())
        .filter(|e| !matches!(e.event, Event::SessionChanged(_)))
        .collect();
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e.origin.channel, Channel::Commands);
        assert!(e.origin.admin);
        assert!(matches!(e.event, Event::MessageSent(_)));
    }
    assert_eq!(log_size(&app.config, &app.config.commands_dlq_topic()), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_commands_land_on_the_dlq_with_reasons_while_good_ones_flow() {
    let app = TestApp::spawn_with(|c| c.permissions.friends_only = true).await;
    for user in ["amy", "bo", "cy"] {
        let r = app
            .rest("im_open_login_svc/account_import", json!({"UserID": user}))
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    let p = producer(&app.config);
    let codec = CommandCodec::get();
    let good = |id: &str, t: &str| codec.encode(&command(id, text("amy", "bo", t)));

    let garbage = b"this is not Avro".to_vec();
    let mut unknown_schema = good("g-x", "never");
    unknown_schema[2..10].copy_from_slice(&[0xAB; 8]);
    let invalid_body = codec.encode(&command(
        "bad-body",
        Action::SendMessage(SendMessage {
            msg_body: json!([{"MsgType": "TIMTeleportElem", "MsgContent": {}}]).to_string(),
            ..SendMessage::text("amy", "bo", "")
        }),
    ));
    let not_json = codec.encode(&command(
        "not-json",
        Action::SendMessage(SendMessage {
            msg_body: "[{".into(),
            ..SendMessage::text("amy", "bo", "")
        }),
    ));
    // Friends-only: amy and cy are not friends, and this send is checked as amy's own.
    let refused = codec.encode(&command(
        "amy-to-cy",
        Action::SendMessage(SendMessage {
            check_permissions: true,
            ..SendMessage::text("amy", "cy", "hi cy")
        }),
    ));
    let batch_one_bad = codec.encode(&command(
        "batch-1",
        Action::BatchSend(BatchSend {
            from_account: "amy".into(),
            to_accounts: vec!["bo".into(), "bad:id".into()],
            msg_body: json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "to all"}}])
                .to_string(),
            cloud_custom_data: String::new(),
            sync_other_machine: true,
            lifetime_seconds: 604_800,
            offline_push_info: None,
        }),
    ));
    let befriend = codec.encode(&command(
        "amy-bo-friends",
        Action::FriendAdd(FriendPair {
            user_id: "amy".into(),
            friend_id: "bo".into(),
            both: true,
        }),
    ));
    let checked_ok = codec.encode(&command(
        "amy-to-bo-checked",
        Action::SendMessage(SendMessage {
            check_permissions: true,
            ..SendMessage::text("amy", "bo", "hi friend")
        }),
    ));

    // Strings the views cannot store (issue #16): refused, not appended.
    let nul_text = codec.encode(&command("nul-text", text("amy", "bo", "nul \u{0} inside")));
    let lone_surrogate = codec.encode(&command(
        "lone-surrogate",
        Action::SendMessage(SendMessage {
            msg_body: r#"[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "\ud800"}}]"#.into(),
            ..SendMessage::text("amy", "bo", "")
        }),
    ));
    let nul_custom_data = codec.encode(&command(
        "nul-ccd",
        Action::SendMessage(SendMessage {
            cloud_custom_data: "\u{0}".into(),
            ..SendMessage::text("amy", "bo", "fine")
        }),
    ));

    // (trace id, bytes, expected dead-letter code and reason)
    type Step<'a> = (&'a str, Vec<u8>, Option<(u32, &'a str)>);
    let sequence: Vec<Step> = vec![
        ("g1", good("g1", "one"), None),
        ("garbage", garbage, Some((20001, "single-object marker"))),
        (
            "fingerprint",
            unknown_schema,
            Some((20001, "unknown schema")),
        ),
        ("g2", good("g2", "two"), None),
        ("body", invalid_body, Some((90010, "TIMTeleportElem"))),
        (
            "json",
            not_json,
            Some((90001, "msg_body is not valid JSON")),
        ),
        ("refused", refused, Some((20009, "limited to friends"))),
        (
            "batch",
            batch_one_bad,
            Some((90003, "1 of 2 recipients refused")),
        ),
        (
            "nul-text",
            nul_text,
            Some((90010, "MsgBody[0].MsgContent.Text holds U+0000")),
        ),
        (
            "lone-surrogate",
            lone_surrogate,
            Some((90001, "msg_body is not valid JSON")),
        ),
        (
            "nul-ccd",
            nul_custom_data,
            Some((90002, "CloudCustomData holds U+0000")),
        ),
        ("friends", befriend, None),
        ("checked", checked_ok, None),
        ("g3", good("g3", "three"), None),
    ];
    for (trace, bytes, _) in &sequence {
        produce(&app, &p, bytes, trace).await;
    }
    // g1, g2, the batch's copy for bo, the friendship notice, "hi friend", g3.
    wait_messages(&app, "amy", "bo", 6).await;
    assert_eq!(messages_between(&app, "amy", "cy").await, 0);

    let expected: Vec<_> = sequence.iter().filter(|(_, _, e)| e.is_some()).collect();
    let dlq_topic = app.config.commands_dlq_topic();
    let deadline = tokio::time::Instant::now() + WAIT;
    while log_size(&app.config, &dlq_topic) < expected.len() as i64 {
        assert!(tokio::time::Instant::now() < deadline, "DLQ incomplete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = read_topic(&app.config, &dlq_topic);
    assert_eq!(dead.len(), expected.len());
    for (trace, bytes, want) in expected {
        let (code, reason) = want.unwrap();
        let record = dead
            .iter()
            .find(|r| r.header("trace-id") == Some(trace))
            .unwrap_or_else(|| panic!("{trace}: not dead-lettered"));
        assert_eq!(&record.payload, bytes, "{trace}: original bytes");
        assert_eq!(record.key.as_deref(), Some(&b"test"[..]), "{trace}: key");
        assert_eq!(
            record.header("missive.dlq.error_code"),
            Some(code.to_string().as_str()),
            "{trace}: {:?}",
            record.header("missive.dlq.reason")
        );
        let why = record.header("missive.dlq.reason").unwrap();
        assert!(why.contains(reason), "{trace}: reason `{why}`");
        assert_eq!(
            record.header("missive.dlq.source.topic"),
            Some(app.config.commands_topic().as_str())
        );
        assert!(record.header("missive.dlq.source.offset").is_some());
    }
    let kinds: Vec<_> = dead
        .iter()
        .filter_map(|r| r.header("missive.dlq.command_kind"))
        .collect();
    assert_eq!(
        kinds.len(),
        7,
        "decoded refusals carry their kind: {kinds:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_command_yields_one_message() {
    let app = TestApp::spawn().await;
    let p = producer(&app.config);
    let codec = CommandCodec::get();
    let once = codec.encode(&command("welcome-dan", text("shop", "dan", "welcome")));
    // A backend retrying in a burst (nothing projected yet)...
    for i in 0..3 {
        produce(&app, &p, &once, &format!("burst-{i}")).await;
    }
    // ...the same text under another key is another message...
    produce(
        &app,
        &p,
        &codec.encode(&command("welcome-dan-2", text("shop", "dan", "welcome"))),
        "other",
    )
    .await;
    wait_messages(&app, "shop", "dan", 2).await;
    // ...and a retry long after the first copy is in history.
    produce(&app, &p, &once, "late").await;
    produce(
        &app,
        &p,
        &codec.encode(&command("sentinel", text("shop", "dan", "last"))),
        "sentinel",
    )
    .await;
    wait_messages(&app, "shop", "dan", 3).await;
    let keys: Vec<String> = app
        .pg
        .query(
            "SELECT msg_key FROM messages WHERE conversation_id = $1 ORDER BY seq",
            &[&missive_schemas::conversation_id("shop", "dan")],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let (seq, random) = missive_log::msg_key::command_fields(app.config.sdkappid, "welcome-dan");
    assert_eq!(
        keys[0],
        missive_log::msg_key::msg_key(app.config.sdkappid, "shop", "dan", seq, random),
        "the MsgKey derives from the command_id"
    );
    assert_eq!(log_size(&app.config, &app.config.commands_dlq_topic()), 0);
    app.stop().await;
}
