//! No single event stops the projector, readiness tells the truth, and a
//! restarted missive projects again by itself (issue #11/#16).

use crate::support;
use support::JsonReply;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use missive_schemas::{samples, Element, Event, EventCodec, TextElem};
use support::{read_topic, TestApp, WAIT};

/// A `MessageSent` from alice to bob whose text PostgreSQL cannot store
/// (U+0000 in `text` and in `jsonb`): what a client could slip past an
/// ingest that did not check, or an older release could have appended.
fn poisoned_message() -> Vec<u8> {
    let mut env = samples::text_message();
    env.event_id = uuid::Uuid::new_v4();
    let Event::MessageSent(m) = &mut env.event else {
        unreachable!("a text message")
    };
    m.msg_key = format!("poison-{}", uuid::Uuid::new_v4().simple());
    m.body = vec![Element::Text(TextElem {
        text: "nul \u{0} inside".into(),
    })];
    EventCodec::get().encode(&env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_the_views_refuse_is_dead_lettered_and_the_messages_after_it_are_pushed() {
    let app = TestApp::spawn().await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;
    app.send_text("alice", "bob", 1, "before").await;
    assert_eq!(bob.next_of("message").await["seq"], 1);

    // The poisoned event, on the conversation's partition, then three
    // messages behind it in the same partition.
    let producer: FutureProducer = missive_core::kafka::producer(&app.config).unwrap();
    let delivered = producer
        .send(
            FutureRecord::to(&app.config.events_topic())
                .key("alice:bob")
                .payload(&poisoned_message()),
            Duration::from_secs(10),
        )
        .await
        .expect("appended");
    let (partition, offset) = (delivered.partition, delivered.offset);
    let sent = Instant::now();
    let mut keys = Vec::new();
    for i in 0..3 {
        let reply = app
            .send_text("alice", "bob", 10 + i, &format!("after {i}"))
            .await;
        keys.push(reply["MsgKey"].as_str().unwrap().to_owned());
    }
    // Each is pushed, in order, and the poisoned event took no seq.
    for (i, key) in keys.iter().enumerate() {
        let pushed = bob.next_of("message").await;
        assert_eq!(pushed["msg_key"], key.as_str());
        assert_eq!(pushed["seq"], 2 + i as i64, "seqs stay dense: {pushed}");
    }
    // A figure for the record, not an assertion (timings vary by machine).
    eprintln!(
        "the three messages behind the poisoned event were pushed {} ms after the first was sent",
        sent.elapsed().as_millis()
    );

    let dlq = read_topic(&app.config, &app.config.events_dlq_topic());
    assert_eq!(dlq.len(), 1, "only the poisoned event is dead-lettered");
    let dead = &dlq[0];
    assert_eq!(&dead.payload[..2], &[0xC3, 0x01], "the bytes as read");
    assert_eq!(dead.header("missive.dlq.kind"), Some("apply"));
    let reason = dead.header("missive.dlq.reason").unwrap();
    assert!(
        reason.contains("(22"),
        "a data error (SQLSTATE class 22): {reason}"
    );
    assert_eq!(
        dead.header("missive.dlq.partition"),
        Some(partition.to_string().as_str())
    );
    assert_eq!(
        dead.header("missive.dlq.offset"),
        Some(offset.to_string().as_str())
    );
    let decoded = EventCodec::get()
        .decode(&dead.payload)
        .expect("the original bytes");
    assert!(matches!(decoded.event, Event::MessageSent(m) if m.msg_key.starts_with("poison-")));

    // Every record was consumed; history holds the four good messages.
    app.wait_projected().await;
    assert_eq!(app.scalar("SELECT count(*) FROM messages").await, 4);
    let metrics = app.metrics(app.projector.as_ref().unwrap().addr).await;
    assert!(
        metrics.contains("missive_projector_dead_letters_total{reason=\"apply\"} 1"),
        "{metrics}"
    );
    // A replay skips the same event: rebuilt = live, whatever the batch size.
    for batch in [1, 3, 1000] {
        let (live, rebuilt) = app.rebuild_digests(batch).await;
        assert_eq!(live, rebuilt, "batch {batch}");
    }
    app.stop().await;
}

async fn readyz(app: &TestApp, addr: std::net::SocketAddr) -> (u16, Value) {
    let r = app
        .http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("readyz answers");
    (r.status().as_u16(), r.json().await.expect("JSON"))
}

/// Polls `/readyz` until its status is `want`.
async fn wait_readyz(app: &TestApp, addr: std::net::SocketAddr, want: u16) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = readyz(app, addr).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {status} instead of {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_projector_turns_not_ready_and_ready_again_when_it_moves() {
    let app = TestApp::spawn_with(|c| c.projector.stall_after_ms = 1_000).await;
    let projector = app.projector.as_ref().unwrap().addr;
    app.send_text("alice", "bob", 1, "warm up").await;
    let ready = wait_readyz(&app, projector, 200).await;
    assert_eq!(ready["checks"]["projection"]["ok"], true, "{ready}");
    assert_eq!(ready["checks"]["postgres"]["ok"], true, "{ready}");

    // A transaction holding the seq counters stalls every message batch
    // (the health checks' own queries are not blocked by it).
    let (locker, connection) = tokio_postgres::connect(&app.database_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute("BEGIN; LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    app.send_text("alice", "bob", 2, "stuck behind the lock")
        .await;
    let stalled = wait_readyz(&app, projector, 503).await;
    let progress = &stalled["checks"]["projection"];
    assert_eq!(progress["ok"], false, "{stalled}");
    assert!(
        progress["detail"]["lag"].as_i64().unwrap() >= 1,
        "{stalled}"
    );
    assert!(progress["detail"]["stalled_seconds"].as_f64().unwrap() >= 1.0);
    // Ingest and delivery do their jobs: they stay ready.
    for svc in [&app.ingest, &app.delivery] {
        let (status, body) = readyz(&app, svc.as_ref().unwrap().addr).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["checks"]["broker"]["ok"], true, "{body}");
    }

    locker.batch_execute("ROLLBACK").await.unwrap();
    let ready = wait_readyz(&app, projector, 200).await;
    assert_eq!(ready["checks"]["projection"]["detail"]["lag"], 0, "{ready}");
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;
    app.stop().await;
}

/// The `missive dev` process under test; killed if the test fails.
struct DevProcess(Child);

impl DevProcess {
    /// SIGINT, as Ctrl-C in a terminal, then wait for a clean exit.
    fn interrupt(mut self) {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(status.success(), "missive dev exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "missive dev ignores SIGINT");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missive_dev_stopped_with_ctrl_c_and_started_again_pushes_every_time() {
    // The test harness's database and topics, served by the real binary.
    let app = TestApp::without_services(|_| {}).await;
    let port = || missive_chaos::stack::free_port().unwrap();
    let (rest, ws, ops) = (port(), port(), port());
    let log = std::fs::File::create(std::env::temp_dir().join(format!("{}.log", app.db))).unwrap();
    for round in 0..3 {
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_missive"))
            .arg("dev")
            .env("MISSIVE_DATABASE_URL", app.database_url())
            .env("MISSIVE_TOPIC_PREFIX", &app.config.kafka.topic_prefix)
            .env(
                "MISSIVE_PROJECTOR__GROUP_ID",
                &app.config.projector.group_id,
            )
            .env("MISSIVE_INGEST_LISTEN", format!("127.0.0.1:{rest}"))
            .env("MISSIVE_DELIVERY_LISTEN", format!("127.0.0.1:{ws}"))
            .env("MISSIVE_PROJECTOR_LISTEN", format!("127.0.0.1:{ops}"))
            .env("MISSIVE_LIMITS__REST_API_PER_SEC", "0")
            .env("MISSIVE_LIMITS__USER_SENDS_PER_SEC", "0")
            // librdkafka's own session timeout: a restart must not depend
            // on the old member expiring, but on it leaving.
            .env("MISSIVE_KAFKA__SESSION_TIMEOUT_MS", "45000")
            .env_remove("MISSIVE_INSTANCE_ID")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .expect("start missive dev");
        let dev = DevProcess(child);
        let ws_addr: std::net::SocketAddr = format!("127.0.0.1:{ws}").parse().unwrap();
        let rest_addr = format!("127.0.0.1:{rest}").parse().unwrap();
        for addr in [ws_addr, rest_addr] {
            missive_chaos::stack::wait_listening(addr, WAIT)
                .await
                .unwrap();
        }

        let mut bob = app
            .login(
                support::WsClient::connect(ws_addr).await,
                "bob",
                "phone",
                None,
            )
            .await;
        bob.next_of("sync_done").await;
        if round == 0 {
            // sendmsg needs both accounts imported (Tencent's 20003 otherwise).
            let imported: Value = app
                .http
                .post(format!(
                    "http://127.0.0.1:{rest}/v4/im_open_login_svc/multiaccount_import?{}",
                    app.admin_query()
                ))
                .body(serde_json::json!({"Accounts": ["alice", "bob"]}).to_string())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(imported["ActionStatus"], "OK", "{imported}");
        }
        let reply: Value = app
            .http
            .post(format!(
                "http://127.0.0.1:{rest}/v4/openim/sendmsg?{}",
                app.admin_query()
            ))
            .body(
                serde_json::json!({
                    "From_Account": "alice", "To_Account": "bob", "MsgRandom": 500 + round,
                    "MsgBody": support::text_body(&format!("round {round}")),
                })
                .to_string(),
            )
            .json_reply()
            .await;
        assert_eq!(reply["ActionStatus"], "OK", "{reply}");
        let pushed = bob.next_of("message").await;
        assert_eq!(pushed["msg_key"], reply["MsgKey"], "round {round}");
        assert_eq!(pushed["seq"], round + 1, "round {round}");
        eprintln!(
            "round {round}: start to push in {} ms",
            started.elapsed().as_millis()
        );
        let (status, body) = readyz(&app, format!("127.0.0.1:{ops}").parse().unwrap()).await;
        assert_eq!(status, 200, "{body}");
        drop(bob);
        dev.interrupt();
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fenced_static_member_creates_its_consumer_anew_and_projects_again() {
    let app = TestApp::spawn_with(|c| {
        c.instance_id = format!("fenced-{}", uuid::Uuid::new_v4().simple());
        c.stable_instance_id = true;
    })
    .await;
    app.send_text("alice", "bob", 1, "before").await;
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;

    // Another process joins under the projector's group.instance.id: the
    // broker fences the projector, whose client is then unusable (fatal).
    let intruder = {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let mut settings = missive_core::kafka::consumer_config(&app.config, "intruder");
        missive_core::kafka::join_group(
            &app.config,
            &mut settings,
            &app.config.projector.group_id,
            "projector",
        );
        let c: BaseConsumer = settings.create().unwrap();
        c.subscribe(&[&app.config.events_topic()]).unwrap();
        c
    };
    // Until the projector has felt it (its next heartbeat is refused).
    let projector = app.projector.as_ref().unwrap().addr;
    let deadline = Instant::now() + WAIT;
    loop {
        let _ = intruder.poll(Duration::from_millis(100));
        let metrics = app.metrics(projector).await;
        if metrics.contains("missive_kafka_consumers_recreated_total{role=\"projector\"}") {
            break;
        }
        assert!(Instant::now() < deadline, "the projector was never fenced");
    }
    drop(intruder);
    // The projector notices, creates its consumer anew under the same id
    // (fencing the intruder in turn) and projects what comes next.
    app.send_text("alice", "bob", 2, "after the fence").await;
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;
    app.stop().await;
}

/// An id too long to index (a producer that skipped ingest could append
/// one) fails with PostgreSQL's limit error, class 54: it must count as the
/// values refused, like U+0000 does, so the projector dead-letters the event
/// and the push worker skips it instead of retrying them forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_too_long_to_index_counts_as_refused_values() {
    let app = TestApp::without_services(|_| {}).await;
    // Random hex does not compress: ~6 KB in a key index entry.
    let long: String = (0..200)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let err = app
        .pg
        .execute(
            "INSERT INTO recent_contacts (user_id, peer, conversation_id, last_seq, last_msg_key, last_at_ms) \
             VALUES ($1, 'bob', 'c', 1, 'k', 1)",
            &[&long],
        )
        .await
        .expect_err("an index row past a third of a page");
    assert_eq!(err.code().map(|c| c.code()), Some("54000"));
    assert!(missive_core::db::refused_values(&err));
    let nul = app
        .pg
        .execute("SELECT $1::text", &[&"a\u{0}b"])
        .await
        .expect_err("U+0000 in text");
    assert!(missive_core::db::refused_values(&nul));
}
