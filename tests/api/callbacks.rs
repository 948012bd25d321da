//! Third-party callbacks against a fake app server on loopback (a real HTTP
//! server speaking Tencent's callback format): the before-send verdicts
//! (refuse, drop, rewrite; fail-open and fail-closed on a timeout) and what
//! sender and recipient see, and the after-callbacks worker's guarantees
//! (once each, in order, through failures, a DLQ, a killed worker, and no
//! call again on a replay).

use crate::support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use missive_core::Config;
use missive_schemas::{BeforeSendOutcome, Element, Event, EventCodec, TextElem};
use support::{read_topic, start_ingest, TestApp, WAIT};

/// One request the fake app server received, and what it answered.
#[derive(Debug, Clone)]
struct Call {
    query: HashMap<String, String>,
    event_id_header: Option<String>,
    body: Value,
    status: u16,
}

type Script = dyn Fn(&Value, usize) -> (StatusCode, Value, Duration) + Send + Sync;
/// What the fake app server's handler holds: the calls so far and the script.
type Shared = (Arc<Mutex<Vec<Call>>>, Arc<Script>);

/// The fake app server: answers each request by `script(body, try)` where
/// `try` counts earlier requests with the same `EventId` (0 for the first).
#[derive(Clone)]
struct AppServer {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl AppServer {
    async fn start(
        script: impl Fn(&Value, usize) -> (StatusCode, Value, Duration) + Send + Sync + 'static,
    ) -> Self {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let state = (calls.clone(), script);
        let app = Router::new().route("/cb", post(answer)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, calls }
    }

    fn url(&self) -> String {
        format!("http://{}/cb", self.addr)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

async fn answer(
    State((calls, script)): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let tries = match body.get("EventId") {
        Some(id) => calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.body.get("EventId") == Some(id))
            .count(),
        None => 0,
    };
    let (status, reply, delay) = script(&body, tries);
    let query = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    calls.lock().unwrap().push(Call {
        query,
        event_id_header: headers
            .get("x-missive-event-id")
            .map(|v| v.to_str().unwrap().to_owned()),
        body,
        status: status.as_u16(),
    });
    tokio::time::sleep(delay).await;
    (status, Json(reply))
}

fn ok(code: i64) -> Value {
    json!({"ActionStatus": "OK", "ErrorCode": code, "ErrorInfo": ""})
}

fn text_of(body: &Value) -> String {
    body["MsgBody"][0]["MsgContent"]["Text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn sendmsg_at(app: &TestApp, ingest: SocketAddr, body: Value) -> Value {
    let url = format!("http://{ingest}/v4/openim/sendmsg?{}", app.admin_query());
    app.http
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn msg(from: &str, to: &str, random: u32, text: &str) -> Value {
    json!({"From_Account": from, "To_Account": to, "MsgRandom": random,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
        "CloudCustomData": "original"})
}

/// The MessageSent events on the log, by MsgKey.
fn sent_events(config: &Config) -> HashMap<String, missive_schemas::MessageSent> {
    read_topic(config, &config.events_topic())
        .iter()
        .filter_map(|r| match EventCodec::get().decode(&r.payload).ok()?.event {
            Event::MessageSent(m) => Some((m.msg_key.clone(), *m)),
            _ => None,
        })
        .collect()
}

async fn roam(app: &TestApp, operator: &str, peer: &str) -> Vec<Value> {
    let r = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": operator, "Peer_Account": peer, "MaxCnt": 100,
                "MinTime": 0, "MaxTime": missive_core::time::now_secs() + 10}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    r["MsgList"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_before_send_callback_refuses_drops_rewrites_and_fails_open_or_closed() {
    let server = AppServer::start(|body, _| {
        let text = text_of(body);
        let immediate = Duration::ZERO;
        match text.as_str() {
            "refuse me" => (
                StatusCode::OK,
                json!({"ActionStatus": "OK", "ErrorCode": 1, "ErrorInfo": "no swearing"}),
                immediate,
            ),
            "refuse with my code" => (
                StatusCode::OK,
                json!({"ActionStatus": "OK", "ErrorCode": 120_005, "ErrorInfo": "banned word"}),
                immediate,
            ),
            "drop me" => (StatusCode::OK, ok(2), immediate),
            "rewrite me" => (
                StatusCode::OK,
                json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "rewritten ***"}}],
                    "CloudCustomData": "moderated"}),
                immediate,
            ),
            "slow" => (StatusCode::OK, ok(1), Duration::from_millis(1_500)),
            _ => (StatusCode::OK, ok(0), immediate),
        }
    })
    .await;
    let url = server.url();
    let app = TestApp::spawn_with(|c| {
        c.accounts.allow_unknown = false;
        c.callbacks.url = url;
        c.callbacks.token = Some("app-token".to_owned().into());
        c.callbacks.before_send_msg = true;
        c.callbacks.before_send_timeout_ms = 300;
    })
    .await;
    app.import_accounts(&["alice", "bob"]).await;
    let ingest = app.ingest.as_ref().unwrap().addr;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;

    // Allowed: the app server saw Tencent's request, signed with the token.
    let allowed = sendmsg_at(&app, ingest, msg("alice", "bob", 1, "hello")).await;
    assert_eq!(allowed["ErrorCode"], 0, "{allowed}");
    let call = server.calls().pop().unwrap();
    assert_eq!(call.query["CallbackCommand"], "C2C.CallbackBeforeSendMsg");
    assert_eq!(call.query["SdkAppid"], app.config.sdkappid.to_string());
    assert_eq!(call.query["contenttype"], "json");
    assert_eq!(call.query["OptPlatform"], "RESTAPI");
    let time: i64 = call.query["RequestTime"].parse().unwrap();
    assert_eq!(
        call.query["Sign"],
        missive_callbacks::sign("app-token", time)
    );
    assert_eq!(call.body["From_Account"], "alice");
    assert_eq!(call.body["To_Account"], "bob");
    assert_eq!(call.body["MsgKey"], allowed["MsgKey"]);
    assert_eq!(call.body["MsgTime"], allowed["MsgTime"]);
    assert_eq!(call.body["CloudCustomData"], "original");
    assert_eq!(text_of(&call.body), "hello");
    let pushed = bob.next_of("message").await;
    assert_eq!(pushed["body"][0]["MsgContent"]["Text"], "hello");

    // Refused: the sender gets 20006 with the app server's reason; no
    // message is logged (sessions opening and closing are, since v6).
    let on_log = sent_events(&app.config).len();
    let refused = sendmsg_at(&app, ingest, msg("alice", "bob", 2, "refuse me")).await;
    assert_eq!(refused["ActionStatus"], "FAIL");
    assert_eq!(refused["ErrorCode"], 20006, "{refused}");
    assert!(refused["ErrorInfo"]
        .as_str()
        .unwrap()
        .contains("no swearing"));
    // The app server's own code (120001..=130000) and reason reach the
    // sender as they are, as Tencent passes them through: over REST ...
    let custom = sendmsg_at(&app, ingest, msg("alice", "bob", 3, "refuse with my code")).await;
    assert_eq!(custom["ActionStatus"], "FAIL");
    assert_eq!(custom["ErrorCode"], 120_005, "{custom}");
    assert_eq!(custom["ErrorInfo"], "banned word", "{custom}");
    // ... and in a WebSocket error frame.
    let mut alice = app.ws("alice", "laptop").await;
    alice.next_of("sync_done").await;
    let ws_refused = alice
        .request(
            1,
            json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 31,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "refuse with my code"}}]}}),
        )
        .await;
    assert_eq!(ws_refused["type"], "error", "{ws_refused}");
    assert_eq!(ws_refused["code"], 120_005, "{ws_refused}");
    assert_eq!(ws_refused["info"], "banned word", "{ws_refused}");
    let ws_refused = alice
        .request(
            2,
            json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 32,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "refuse me"}}]}}),
        )
        .await;
    assert_eq!(ws_refused["code"], 20006, "{ws_refused}");
    assert!(ws_refused["info"].as_str().unwrap().contains("no swearing"));
    drop(alice);
    assert_eq!(
        sent_events(&app.config).len(),
        on_log,
        "a refused message is not logged"
    );

    // ForbidBeforeSendMsgCallback: not asked, so not refused.
    let calls_before = server.calls().len();
    let mut quiet = msg("alice", "bob", 4, "refuse me");
    quiet["ForbidCallbackControl"] = json!(["ForbidBeforeSendMsgCallback"]);
    let forbidden = sendmsg_at(&app, ingest, quiet).await;
    assert_eq!(forbidden["ErrorCode"], 0, "{forbidden}");
    assert_eq!(
        server.calls().len(),
        calls_before,
        "the app server was not asked"
    );
    let mut bad = msg("alice", "bob", 5, "x");
    bad["ForbidCallbackControl"] = json!(["ForbidEverything"]);
    let bad = sendmsg_at(&app, ingest, bad).await;
    assert_eq!(bad["ErrorCode"], 20001, "{bad}");

    // Dropped: the sender is told it was sent; the recipient never sees it.
    let dropped = sendmsg_at(&app, ingest, msg("alice", "bob", 6, "drop me")).await;
    assert_eq!(dropped["ErrorCode"], 0, "{dropped}");

    // Rewritten: both sides get the app server's body and CloudCustomData.
    let rewritten = sendmsg_at(&app, ingest, msg("alice", "bob", 7, "rewrite me")).await;
    assert_eq!(rewritten["ErrorCode"], 0, "{rewritten}");

    // A time-out fails open by default: sent, recorded as FAILED_OPEN.
    let open = sendmsg_at(&app, ingest, msg("alice", "bob", 8, "slow")).await;
    assert_eq!(open["ErrorCode"], 0, "{open}");
    // ... and fails closed where the setting says so: 20006, nothing logged.
    let mut closed_config = (*app.config).clone();
    closed_config.callbacks.before_send_fail_open = false;
    let closed_ingest = start_ingest(&Arc::new(closed_config)).await;
    let on_log = sent_events(&app.config).len();
    let closed = sendmsg_at(&app, closed_ingest.addr, msg("alice", "bob", 9, "slow")).await;
    assert_eq!(closed["ErrorCode"], 20006, "{closed}");
    assert!(closed["ErrorInfo"]
        .as_str()
        .unwrap()
        .contains("no answer within 300 ms"));
    assert_eq!(sent_events(&app.config).len(), on_log);
    closed_ingest.shutdown().await;

    // What bob saw live, in order: the forbidden-callback one, the rewrite,
    // the failed-open one; never the dropped one.
    for want in ["refuse me", "rewritten ***", "slow"] {
        let m = bob.next_of("message").await;
        assert_eq!(m["body"][0]["MsgContent"]["Text"], want, "{m}");
        if want == "rewritten ***" {
            assert_eq!(m["cloud_custom_data"], "moderated");
            assert_eq!(m["msg_key"], rewritten["MsgKey"]);
        }
    }
    app.wait_projected().await;
    let texts = |list: Vec<Value>| -> Vec<String> {
        list.iter()
            .map(|m| {
                m["MsgBody"][0]["MsgContent"]["Text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        texts(roam(&app, "bob", "alice").await),
        ["slow", "rewritten ***", "refuse me", "hello"],
        "the recipient's history (newest first) lacks the dropped message"
    );
    assert_eq!(
        texts(roam(&app, "alice", "bob").await),
        ["slow", "rewritten ***", "drop me", "refuse me", "hello"],
        "the sender's history keeps it, as a block's drop does"
    );

    // Each verdict is in its event.
    let events = sent_events(&app.config);
    let outcome = |reply: &Value| {
        events[reply["MsgKey"].as_str().unwrap()]
            .before_send_callback
            .clone()
    };
    assert_eq!(
        outcome(&allowed).unwrap().outcome,
        BeforeSendOutcome::Allowed
    );
    assert_eq!(outcome(&forbidden), None);
    assert_eq!(
        outcome(&dropped).unwrap().outcome,
        BeforeSendOutcome::Dropped
    );
    assert_eq!(
        outcome(&rewritten).unwrap().outcome,
        BeforeSendOutcome::Rewritten
    );
    let failed_open = outcome(&open).unwrap();
    assert_eq!(failed_open.outcome, BeforeSendOutcome::FailedOpen);
    assert!(failed_open.detail.contains("no answer"), "{failed_open:?}");
    let m = &events[rewritten["MsgKey"].as_str().unwrap()];
    assert_eq!(m.cloud_custom_data, "moderated");

    // A rebuild from the log gives the same views and asks the app server nothing.
    let calls = server.calls().len();
    let (live, rebuilt) = app.rebuild_digests(100).await;
    assert_eq!(live, rebuilt);
    assert_eq!(
        server.calls().len(),
        calls,
        "a replay never calls the app server"
    );

    // The latency histogram is exported.
    let metrics = app.metrics(app.projector.as_ref().unwrap().addr).await;
    let ingest_metrics = app.metrics(ingest).await;
    assert!(
        ingest_metrics.contains("missive_callbacks_before_send_seconds")
            || metrics.contains("missive_callbacks_before_send_seconds"),
        "the before-send latency histogram is exported"
    );
    app.stop().await;
}

/// Runs the after-callbacks worker on a task of its own, as `missive
/// callbacks` does.
async fn start_worker(config: &Arc<Config>) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let worker = missive_callbacks::CallbackWorker::new(config.clone())
        .await
        .unwrap()
        .expect("after-callbacks are switched on");
    let stop = CancellationToken::new();
    let task = tokio::spawn(worker.run(stop.clone()));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_callbacks_arrive_once_each_in_order_through_failures_a_killed_worker_and_a_replay() {
    // Every callback fails its first two tries (HTTP 500); a blocklist
    // removal always fails, so it ends in the DLQ.
    let (first_try_tx, mut first_try) = tokio::sync::mpsc::unbounded_channel::<String>();
    let server = AppServer::start(move |body, tries| {
        if tries == 0 {
            let _ = first_try_tx.send(body["EventId"].as_str().unwrap_or_default().to_owned());
        }
        if body["CallbackCommand"] == "Sns.CallbackBlackListDelete" || tries < 2 {
            (StatusCode::INTERNAL_SERVER_ERROR, json!({}), Duration::ZERO)
        } else {
            (StatusCode::OK, ok(0), Duration::ZERO)
        }
    })
    .await;
    let url = server.url();
    let app = TestApp::spawn_with(|c| {
        c.accounts.allow_unknown = false;
        c.callbacks.url = url;
        c.callbacks.after_send_msg = true;
        c.callbacks.after_msg_withdraw = true;
        c.callbacks.after_msg_report = true;
        c.callbacks.friend_add = true;
        c.callbacks.friend_delete = true;
        c.callbacks.black_list_add = true;
        c.callbacks.black_list_delete = true;
        c.callbacks.max_attempts = 3;
        c.callbacks.retry_base_ms = 100;
        c.callbacks.retry_max_ms = 200;
        c.callbacks.new_group_from_start = true;
    })
    .await;
    app.import_accounts(&["alice", "bob"]).await;
    let (stop, task) = start_worker(&app.config).await;

    // A conversation's worth of changes, all between alice and bob.
    let r = app
        .rest(
            "sns/friend_add",
            json!({"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": "AddSource_Type_Web"}],
                "AddType": "Add_Type_Both", "ForceAddFlags": 1}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let started = std::time::Instant::now();
    let first = app.send_text("alice", "bob", 1, "one").await;
    app.send_text("bob", "alice", 2, "two").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "sends do not wait for a failing app server"
    );
    let mut quiet = msg("alice", "bob", 3, "not reported");
    quiet["ForbidCallbackControl"] = json!(["ForbidAfterSendMsgCallback"]);
    let quiet = app.rest("openim/sendmsg", quiet).await;
    assert_eq!(quiet["ErrorCode"], 0, "{quiet}");

    // Kill the worker (no graceful stop) while a callback is between tries.
    let mut seen = 0;
    while seen < 3 {
        tokio::time::timeout(WAIT, first_try.recv()).await.unwrap();
        seen += 1;
    }
    task.abort();
    let _ = task.await;
    drop(stop);

    let r = app
        .rest(
            "openim/admin_msgwithdraw",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": first["MsgKey"]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let r = app
        .rest(
            "openim/admin_set_msg_read",
            json!({"Report_Account": "bob", "Peer_Account": "alice"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    for (api, body) in [
        (
            "sns/black_list_add",
            json!({"From_Account": "bob", "To_Account": ["alice"]}),
        ),
        (
            "sns/black_list_delete",
            json!({"From_Account": "bob", "To_Account": ["alice"]}),
        ),
        (
            "sns/friend_add",
            json!({"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": "AddSource_Type_Web"}], "ForceAddFlags": 1}),
        ),
        (
            "sns/friend_delete",
            json!({"From_Account": "alice", "To_Account": ["bob"], "DeleteType": "Delete_Type_Both"}),
        ),
    ] {
        let r = app.rest(api, body).await;
        assert_eq!(r["ErrorCode"], 0, "{api}: {r}");
    }

    // A new worker takes over where the killed one stopped.
    let (stop, task) = start_worker(&app.config).await;
    let expected = [
        "Sns.CallbackFriendAdd",
        "C2C.CallbackAfterSendMsg",
        "C2C.CallbackAfterSendMsg",
        "C2C.CallbackAfterMsgWithDraw",
        "C2C.CallbackAfterMsgReport",
        "Sns.CallbackBlackListAdd",
        "Sns.CallbackFriendAdd",
        "Sns.CallbackFriendDelete",
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let answered = loop {
        let answered: Vec<Call> = server
            .calls()
            .into_iter()
            .filter(|c| c.status == 200)
            .collect();
        if answered.len() >= expected.len() {
            break answered;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {} callbacks answered: {:?}",
            answered.len(),
            expected.len(),
            answered
                .iter()
                .map(|c| &c.body["CallbackCommand"])
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Once each, in log order, each after two failed tries with the same id.
    let commands: Vec<&str> = answered
        .iter()
        .map(|c| c.body["CallbackCommand"].as_str().unwrap())
        .collect();
    assert_eq!(commands, expected);
    let mut ids: Vec<&str> = answered
        .iter()
        .map(|c| c.body["EventId"].as_str().unwrap())
        .collect();
    let all = server.calls();
    for c in &answered {
        let id = c.body["EventId"].as_str().unwrap();
        assert_eq!(c.event_id_header.as_deref(), Some(id));
        let tries = all.iter().filter(|x| x.body["EventId"] == id).count();
        assert_eq!(tries, 3, "{id}: two failures, then the answer");
    }
    ids.dedup();
    assert_eq!(ids.len(), expected.len(), "no callback answered twice");
    assert_eq!(answered[1].body["From_Account"], "alice");
    assert_eq!(text_of(&answered[1].body), "one");
    assert_eq!(answered[2].body["From_Account"], "bob");
    assert_eq!(answered[3].body["MsgKey"], first["MsgKey"]);
    assert_eq!(answered[4].body["Report_Account"], "bob");
    assert_eq!(answered[0].body["PairList"].as_array().unwrap().len(), 2);
    assert!(
        all.iter().all(|c| text_of(&c.body) != "not reported"),
        "ForbidAfterSendMsgCallback is honoured"
    );

    // The blocklist removal ran out of tries: dead-lettered with the reason.
    let dlq = read_topic(&app.config, &app.config.callbacks_dlq_topic());
    assert_eq!(dlq.len(), 1);
    let dead: Value = serde_json::from_slice(&dlq[0].payload).unwrap();
    assert_eq!(dead["CallbackCommand"], "Sns.CallbackBlackListDelete");
    assert_eq!(dlq[0].header("missive.callback.attempts"), Some("3"));
    assert!(dlq[0]
        .header("missive.dlq.reason")
        .unwrap()
        .contains("HTTP 500"));

    // Counters by command.
    let metrics = app.metrics(app.ingest.as_ref().unwrap().addr).await;
    assert!(
        metrics.contains(
            "missive_callbacks_dead_lettered_total{command=\"Sns.CallbackBlackListDelete\"} 1"
        ),
        "{metrics}"
    );

    // A replay into a new database calls nobody back.
    let calls = server.calls().len();
    let (live, rebuilt) = app.rebuild_digests(100).await;
    assert_eq!(live, rebuilt);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.calls().len(), calls, "nothing is sent again");
    stop.cancel();
    task.await.unwrap();
    app.stop().await;
}

/// With `kafka.encoding=confluent` the events are Confluent-framed: the
/// worker must read them (it once decoded single-object records only and
/// skipped every other one without a word).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_after_send_callback_reads_confluent_framed_events() {
    let server = AppServer::start(|_, _| (StatusCode::OK, ok(0), Duration::ZERO)).await;
    let registry = support::registry::FakeRegistry::start().await;
    let (url, registry_url) = (server.url(), registry.url.clone());
    let app = TestApp::spawn_with(|c| {
        c.kafka.encoding = missive_core::config::Encoding::Confluent;
        c.kafka.schema_registry_url = Some(registry_url);
        c.callbacks.url = url;
        c.callbacks.after_send_msg = true;
        c.callbacks.new_group_from_start = true;
    })
    .await;
    app.import_accounts(&["alice", "bob"]).await;
    let (stop, task) = start_worker(&app.config).await;
    let r = app.send_text("alice", "bob", 7, "framed").await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let msg_key = r["MsgKey"].as_str().unwrap().to_owned();
    let sent = tokio::time::timeout(WAIT, async {
        loop {
            let calls = server.calls();
            if let Some(c) = calls
                .iter()
                .find(|c| c.body["CallbackCommand"] == "C2C.CallbackAfterSendMsg")
            {
                return c.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("no C2C.CallbackAfterSendMsg for a Confluent-framed event");
    assert_eq!(sent.body["MsgKey"], msg_key.as_str(), "{}", sent.body);
    assert_eq!(sent.body["From_Account"], "alice");
    assert_eq!(sent.body["To_Account"], "bob");
    stop.cancel();
    task.await.unwrap();
}

/// A rewrite is held to the sender's limit (12 KiB of MsgBody and
/// CloudCustomData): past it the answer is no valid answer, so the message
/// goes out as sent (fail-open, the reason recorded) or is refused
/// (fail-closed), never stored larger than any sender may send.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rewrite_over_the_size_limit_is_no_valid_answer() {
    let server = AppServer::start(|_, _| {
        (
            StatusCode::OK,
            json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x".repeat(13_000)}}]}),
            Duration::ZERO,
        )
    })
    .await;
    let url = server.url();
    let app = TestApp::spawn_with(|c| {
        c.callbacks.url = url;
        c.callbacks.before_send_msg = true;
    })
    .await;
    let ingest = app.ingest.as_ref().unwrap().addr;

    let open = sendmsg_at(&app, ingest, msg("alice", "bob", 1, "short")).await;
    assert_eq!(open["ErrorCode"], 0, "{open}");
    let events = sent_events(&app.config);
    let sent = &events[open["MsgKey"].as_str().unwrap()];
    assert_eq!(
        sent.body,
        vec![Element::Text(TextElem {
            text: "short".into()
        })],
        "sent as the sender wrote it"
    );
    let recorded = sent.before_send_callback.clone().unwrap();
    assert_eq!(recorded.outcome, BeforeSendOutcome::FailedOpen);
    assert!(
        recorded.detail.contains("bytes; at most 12288 are allowed"),
        "{recorded:?}"
    );

    let mut closed_config = (*app.config).clone();
    closed_config.callbacks.before_send_fail_open = false;
    let closed_ingest = start_ingest(&Arc::new(closed_config)).await;
    let on_log = app.changes_on_log();
    let closed = sendmsg_at(&app, closed_ingest.addr, msg("alice", "bob", 2, "short")).await;
    assert_eq!(closed["ErrorCode"], 20006, "{closed}");
    assert!(closed["ErrorInfo"]
        .as_str()
        .unwrap()
        .contains("at most 12288"));
    assert_eq!(app.changes_on_log(), on_log, "nothing logged");
    closed_ingest.shutdown().await;
    app.stop().await;
}

/// The calls of `command` the fake app server has received, once there are `n`.
async fn calls_of(server: &AppServer, command: &str, n: usize) -> Vec<Call> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let calls: Vec<Call> = server
            .calls()
            .into_iter()
            .filter(|c| c.query["CallbackCommand"] == command)
            .collect();
        if calls.len() >= n {
            return calls;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} {command} calls: {calls:#?}",
            calls.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_change_reports_logins_logouts_disconnects_and_kicks_from_the_log() {
    let server = AppServer::start(|_, _| (StatusCode::OK, ok(0), Duration::ZERO)).await;
    let url = server.url();
    let app = TestApp::spawn_with(|c| {
        c.callbacks.url = url;
        c.callbacks.state_change = true;
        c.callbacks.new_group_from_start = true;
    })
    .await;
    app.import_accounts(&["alice"]).await;
    let (stop, task) = start_worker(&app.config).await;
    const STATE: &str = "State.StateChange";

    // A logout: the client closes the session with a close frame.
    let mut phone = app.ws("alice", "phone").await;
    phone.next_of("sync_done").await;
    phone.stream.close(None).await.unwrap();
    calls_of(&server, STATE, 2).await;
    // A disconnect: the connection drops without one.
    let mut laptop = app.ws("alice", "laptop").await;
    laptop.next_of("sync_done").await;
    drop(laptop);
    calls_of(&server, STATE, 4).await;
    // A kick: the administrator closes the account's sessions.
    let mut tablet = app.ws("alice", "tablet").await;
    tablet.next_of("sync_done").await;
    let r = app
        .rest("im_open_login_svc/kick", json!({"UserID": "alice"}))
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    loop {
        if tablet.next().await["type"] == "closed" {
            break;
        }
    }
    let calls = calls_of(&server, STATE, 6).await;

    // Tencent's body, in the order of the log, each session's login first.
    let got: Vec<(String, String, String)> = calls
        .iter()
        .map(|c| {
            let info = &c.body["Info"];
            (
                info["Action"].as_str().unwrap().to_owned(),
                info["Reason"].as_str().unwrap().to_owned(),
                info["To_Account"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("Login", "Register"),
        ("Logout", "Unregister"),
        ("Login", "Register"),
        ("Disconnect", "LinkClose"),
        ("Login", "Register"),
        ("Logout", "Kicked"),
    ];
    assert_eq!(
        got,
        want.map(|(a, r)| (a.to_owned(), r.to_owned(), "alice".to_owned())),
        "{calls:#?}"
    );
    for c in &calls {
        assert_eq!(c.body["CallbackCommand"], STATE);
        assert!(c.body["EventTime"].as_i64().unwrap() > 0);
        assert_eq!(c.body["EventId"].as_str(), c.event_id_header.as_deref());
        // The session's peer address, and the platform it declared at login.
        assert_eq!(c.query["ClientIP"], "127.0.0.1", "{c:?}");
        assert_eq!(c.query["OptPlatform"], "Web", "{c:?}");
        assert_eq!(c.query["SdkAppid"], app.config.sdkappid.to_string());
    }

    // What the log holds: one event per change, from the device's session.
    let sessions = app.sessions_on_log();
    let logged: Vec<(&str, missive_schemas::SessionAction)> = sessions
        .iter()
        .map(|s| (s.device.as_str(), s.action))
        .collect();
    use missive_schemas::SessionAction::*;
    assert_eq!(
        logged,
        [
            ("phone", Login),
            ("phone", Logout),
            ("laptop", Login),
            ("laptop", Disconnect),
            ("tablet", Login),
            ("tablet", Kicked),
        ]
    );
    assert!(sessions.iter().all(|s| s.user_id == "alice"
        && s.platform == "Web"
        && s.client_ip.as_deref() == Some("127.0.0.1")));

    // The views ignore sessions: a rebuild gives the live views, and calls nothing.
    app.wait_projected().await;
    let before = server.calls().len();
    let (live, rebuilt) = app.rebuild_digests(100).await;
    assert_eq!(live, rebuilt);
    assert_eq!(server.calls().len(), before);
    stop.cancel();
    task.await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_sends_carry_the_client_ip_and_message_callbacks_the_unread_count() {
    let server = AppServer::start(|_, _| (StatusCode::OK, ok(0), Duration::ZERO)).await;
    let url = server.url();
    let app = TestApp::spawn_with(|c| {
        c.accounts.allow_unknown = false;
        c.callbacks.url = url;
        c.callbacks.before_send_msg = true;
        c.callbacks.after_send_msg = true;
        c.callbacks.after_msg_withdraw = true;
        c.callbacks.after_msg_report = true;
        c.callbacks.new_group_from_start = true;
    })
    .await;
    app.import_accounts(&["alice", "bob"]).await;
    const BEFORE: &str = "C2C.CallbackBeforeSendMsg";
    const AFTER: &str = "C2C.CallbackAfterSendMsg";

    // A WebSocket send: the before-send callback names the session's peer.
    let mut alice = app.ws("alice", "phone").await;
    alice.next_of("sync_done").await;
    let one = alice
        .request(
            1,
            json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 1,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "one"}}]}}),
        )
        .await;
    assert_eq!(one["type"], "sent", "{one}");
    let asked = calls_of(&server, BEFORE, 1).await;
    assert_eq!(asked[0].query["ClientIP"], "127.0.0.1");
    assert_eq!(asked[0].query["OptPlatform"], "Unknown");
    // REST sends come from the app server: no ClientIP.
    let two = app.send_text("alice", "bob", 2, "two").await;
    let three = app.send_text("alice", "bob", 3, "three").await;
    let asked = calls_of(&server, BEFORE, 3).await;
    assert_eq!(asked[1].query["ClientIP"], "");
    assert_eq!(asked[1].query["OptPlatform"], "RESTAPI");
    // The address is recorded in the event (schema v6) for the after-callbacks.
    let events = sent_events(&app.config);
    let one_key = one["msg_key"].as_str().unwrap();
    assert_eq!(events[one_key].client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(events[two["MsgKey"].as_str().unwrap()].client_ip, None);

    // The after-send callbacks, made once all three are in the views: bob
    // has three unread from alice when each is made.
    app.wait_projected().await;
    let (stop, task) = start_worker(&app.config).await;
    let after = calls_of(&server, AFTER, 3).await;
    let keys: Vec<&str> = after
        .iter()
        .map(|c| c.body["MsgKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            one_key,
            two["MsgKey"].as_str().unwrap(),
            three["MsgKey"].as_str().unwrap()
        ]
    );
    for c in &after {
        assert_eq!(c.body["UnreadMsgNum"], 3, "{c:?}");
    }
    assert_eq!(after[0].query["ClientIP"], "127.0.0.1");
    assert_eq!(after[1].query["ClientIP"], "");
    stop.cancel();
    task.await.unwrap();

    // alice recalls "three" and bob reads up to "one": one unread ("two")
    // when the recall and the read report are called back.
    let r = app
        .rest(
            "openim/admin_msgwithdraw",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": three["MsgKey"]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let mut bob = app.ws("bob", "pad").await;
    bob.next_of("sync_done").await;
    let read = bob
        .request(1, json!({"type": "read", "peer": "alice", "seq": 1}))
        .await;
    assert_eq!(read["type"], "ok", "{read}");
    app.wait_projected().await;
    let (stop, task) = start_worker(&app.config).await;
    let withdraw = calls_of(&server, "C2C.CallbackAfterMsgWithDraw", 1).await;
    assert_eq!(withdraw[0].body["UnreadMsgNum"], 1, "{withdraw:?}");
    let report = calls_of(&server, "C2C.CallbackAfterMsgReport", 1).await;
    assert_eq!(report[0].body["Report_Account"], "bob");
    assert_eq!(report[0].body["UnreadMsgNum"], 1, "{report:?}");
    // Only sends and sessions record the address (docs/callbacks.md).
    assert_eq!(report[0].query["ClientIP"], "");
    stop.cancel();
    task.await.unwrap();
    app.stop().await;
}
