//! Backpressure (issue #9): with the broker stopped, ingest answers every send
//! with a retryable 91000 at once instead of queueing it, appends nothing,
//! and accepts sends again by itself when the broker returns. The broker is a
//! private Apache Kafka broker on its own port, so stopping it disturbs no other test.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};

use missive_chaos::stack::PrivateBroker;
use support::TestApp;

const PENDING_MAX: usize = 4;

fn send_body(random: u32) -> Value {
    json!({
        "From_Account": "alice", "To_Account": "bob", "MsgRandom": random, "MsgSeq": random,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("#{random}")}}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_broker_gets_retryable_refusals_and_ingest_recovers_by_itself() {
    let dir = std::env::temp_dir().join(format!(
        "missive-backpressure-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut broker = PrivateBroker::start(&dir)
        .await
        .expect("private Kafka broker starts");
    let brokers = broker.addr();
    let app = TestApp::spawn_with(|c| {
        c.kafka.brokers = brokers;
        c.ingest.max_pending_appends = PENDING_MAX;
        c.ingest.produce_timeout_ms = 2_000;
    })
    .await;
    for r in 1..=5 {
        app.send_text("alice", "bob", r, "before the outage").await;
    }
    app.wait_projected().await;
    let on_log_before = app.changes_on_log();
    assert_eq!(on_log_before, 5);

    broker.kill();
    // 40 sends at once while the broker is gone: each is answered, with a
    // retryable 91000 / HTTP 503; at most PENDING_MAX of them waited for the
    // broker, the others were refused at once.
    let bodies: Vec<Value> = (100..140).map(send_body).collect();
    let query = app.admin_query();
    let replies = futures::future::join_all(
        bodies
            .iter()
            .map(|b| app.rest_raw("openim/sendmsg", &query, b.to_string())),
    )
    .await;
    let info = |v: &Value| v["ErrorInfo"].as_str().unwrap_or_default().to_owned();
    for (status, reply) in &replies {
        assert_eq!(reply["ErrorCode"], 91000, "{reply}");
        assert_eq!(*status, 503, "{reply}");
        assert!(
            info(reply).contains("retry with the same MsgRandom"),
            "the refusal says how to retry: {reply}"
        );
    }
    let waited = replies
        .iter()
        .filter(|(_, r)| info(r).contains("is unavailable"))
        .count();
    assert!(
        waited <= PENDING_MAX,
        "{waited} sends waited for the broker; the bound is {PENDING_MAX}"
    );
    // Once librdkafka has noticed, a send is refused without waiting at all.
    let mut unreachable = false;
    for attempt in 0..200u32 {
        let (_, reply) = app
            .rest_raw(
                "openim/sendmsg",
                &app.admin_query(),
                send_body(100).to_string(),
            )
            .await;
        assert_eq!(reply["ErrorCode"], 91000, "{reply}");
        if info(&reply).contains("unreachable") {
            unreachable = true;
            break;
        }
        assert!(attempt < 199, "ingest never noticed the broker is down");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unreachable);
    // A WebSocket login does not wait for the log: it succeeds while the
    // broker is gone, and its session event (State.StateChange) is refused
    // under the same rules as a send, counted and logged, never queued.
    let started = std::time::Instant::now();
    let mut carol = app.ws("carol", "phone").await;
    carol.next_of("sync_done").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the login waited {:?} for the log",
        started.elapsed()
    );
    let delivery = app.delivery.as_ref().unwrap().addr;
    let mut counted = false;
    for _ in 0..100 {
        let metrics = app.metrics(delivery).await;
        if metrics.lines().any(|l| {
            l.starts_with("missive_delivery_session_events_total")
                && l.contains("LOGIN")
                && l.contains("refused")
        }) {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(counted, "the refused session event is counted");
    let pong = carol.request(1, json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "the session goes on: {pong}");
    // Readiness says so too, naming the broker; so does the projector's.
    let ready = |addr| {
        let http = app.http.clone();
        async move {
            let r = http
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = ready(app.ingest.as_ref().unwrap().addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["broker"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["postgres"]["ok"], true, "{body}");
    // The projector samples the broker once a second.
    let mut projector_ready = true;
    for _ in 0..100 {
        let (status, body) = ready(app.projector.as_ref().unwrap().addr).await;
        if status == 503 {
            assert_eq!(body["checks"]["projection"]["ok"], false, "{body}");
            projector_ready = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !projector_ready,
        "the projector's readiness never noticed the broker is gone"
    );

    broker.start_process().await.expect("the broker restarts");
    // Nothing refused reached the log.
    assert_eq!(app.changes_on_log(), on_log_before);
    // The same ingest, not restarted, accepts the retries (same MsgRandom and MsgSeq).
    for body in &bodies {
        let mut tries = 0;
        loop {
            let (_, reply) = app
                .rest_raw("openim/sendmsg", &app.admin_query(), body.to_string())
                .await;
            if reply["ErrorCode"] == 0 {
                break;
            }
            assert_eq!(
                reply["ErrorCode"], 91000,
                "only retryable refusals: {reply}"
            );
            tries += 1;
            assert!(tries < 300, "ingest did not recover: {reply}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    app.wait_projected().await;
    let (status, body) = ready(app.ingest.as_ref().unwrap().addr).await;
    assert_eq!(status, 200, "ready again: {body}");
    // Every message once, seqs dense.
    let row = app
        .pg
        .query_one(
            "SELECT count(*), count(DISTINCT msg_key), max(seq) FROM messages WHERE conversation_id = 'alice:bob'",
            &[],
        )
        .await
        .unwrap();
    let (rows, keys, max_seq): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((rows, keys, max_seq), (45, 45, 45));
    drop(app);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
