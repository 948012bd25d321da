//! Test harness: each test spawns missive's services in-process on port 0,
//! against its own freshly created and migrated database and its own topics
//! on the real broker, so tests run in parallel and leave nothing behind.
//! A failing test prints its services' warnings; `TEST_LOG=info cargo test ...
//! -- --nocapture` shows more, for every test.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod registry;

use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rdkafka::consumer::{BaseConsumer, Consumer};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use missive_core::usersig::UserSigVerifier;
use missive_core::{time, Config};

/// Row count and md5 per view table.
pub type Digests = std::collections::BTreeMap<&'static str, missive_core::views::TableDigest>;

pub const WAIT: Duration = Duration::from_secs(20);

/// The harness's one `tracing` subscriber (a process has one): through
/// libtest's capture, so a failing test prints what its services warned
/// about (they run on threads the test spawned, which inherit its capture)
/// and a passing one prints nothing; and a buffer that [`capture_logs`]
/// turns on for a test that checks what is logged.
fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{fmt, reload, EnvFilter, Layer as _};
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let shown = std::env::var("TEST_LOG")
            .ok()
            .filter(|f| !f.is_empty() && f != "1")
            .unwrap_or_else(|| "warn,apache_avro::schema=error".to_owned());
        let (captured_filter, handle) = reload::Layer::new(EnvFilter::new("off"));
        let _ = tracing_subscriber::registry()
            .with(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(CapturedLogs)
                    .with_filter(captured_filter),
            )
            .with(
                fmt::layer()
                    .with_ansi(false)
                    .with_test_writer()
                    .with_filter(EnvFilter::new(shown)),
            )
            .try_init();
        let _ = CAPTURE_FILTER.set(handle);
    });
}

type CaptureFilter =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;
static CAPTURE_FILTER: std::sync::OnceLock<CaptureFilter> = std::sync::OnceLock::new();
static CAPTURED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// From now on, every log record of this test binary that `filter` passes
/// (all its tests' services, not only the caller's) is kept; read them with
/// [`captured_logs`].
pub fn capture_logs(filter: &str) {
    init_logs();
    CAPTURE_FILTER
        .get()
        .expect("the harness's subscriber is installed")
        .reload(tracing_subscriber::EnvFilter::new(filter))
        .expect("the capture filter reloads");
}

/// What was logged since [`capture_logs`].
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&CAPTURED.lock().unwrap()).into_owned()
}

#[derive(Clone, Copy)]
struct CapturedLogs;

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// A unique, lower-case name for this test's database and topics.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The configuration a test starts from: the local stack from the
/// environment (`infra/env.sh`), its own database, topics and group.
pub async fn test_config() -> (Config, String) {
    init_logs();
    let base = Config::load().expect("configuration");
    let db = unique_name("missive_test");
    missive_core::db::create_database(&base.database_url, &db)
        .await
        .expect("create the test database (is the local stack up? run `make up`)");
    let url = missive_core::db::with_database(&base.database_url, &db).unwrap();
    missive_core::db::migrate(&url).await.expect("migrate");
    let mut config = base;
    config.database_url = url;
    config.db_pool_size = 8;
    config.kafka.topic_prefix = db.clone();
    config.projector.group_id = format!("{db}.projector");
    config.ingest.listen = "127.0.0.1:0".parse().unwrap();
    config.delivery.listen = "127.0.0.1:0".parse().unwrap();
    config.projector.listen = "127.0.0.1:0".parse().unwrap();
    config.instance_id = format!("test-{}", &db[db.len() - 6..]);
    // Tests send as fast as they can: rate limits are off unless a test
    // (tests/api/rate_limits.rs) sets them.
    config.limits.rest_api_per_sec = 0;
    config.limits.user_sends_per_sec = 0;
    config.limits.user_requests_per_sec = 0;
    // Most tests send between users they never import (written before
    // sendmsg checked accounts); the account rules' own tests
    // (tests/accounts.rs, tests/callbacks.rs) turn this back off.
    config.accounts.allow_unknown = true;
    (config, db)
}

/// One running service and the token that stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    pub task: JoinHandle<()>,
}

/// A test that panics never reaches `shutdown`: cancelling here lets the
/// services' threads end, so the runtime can close and the failure shows
/// instead of a hang.
impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Running {
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        tokio::time::timeout(WAIT, task)
            .await
            .expect("service stops in time")
            .expect("service task");
    }
}

/// Runs a bound service on its own task until its token is cancelled.
fn spawn_service<F, E>(addr: SocketAddr, run: impl FnOnce(CancellationToken) -> F) -> Running
where
    F: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Debug,
{
    let stop = CancellationToken::new();
    let fut = run(stop.clone());
    let task = tokio::spawn(async move { fut.await.expect("service runs") });
    Running { addr, stop, task }
}

pub async fn start_ingest(config: &Arc<Config>) -> Running {
    let svc = missive_ingest::Ingest::bind(config.clone())
        .await
        .expect("ingest binds");
    spawn_service(svc.local_addr(), |stop| svc.run(stop))
}

pub async fn start_projector(config: &Arc<Config>) -> Running {
    let svc = missive_projector::Projector::bind(config.clone())
        .await
        .expect("projector binds");
    spawn_service(svc.local_addr(), |stop| svc.run(stop))
}

pub async fn start_delivery(config: &Arc<Config>) -> Running {
    let svc = missive_delivery::Delivery::bind(config.clone())
        .await
        .expect("delivery binds");
    spawn_service(svc.local_addr(), |stop| svc.run(stop))
}

/// The whole system for one test.
pub struct TestApp {
    pub config: Arc<Config>,
    pub db: String,
    pub ingest: Option<Running>,
    pub projector: Option<Running>,
    pub delivery: Option<Running>,
    pub http: reqwest::Client,
    pub pg: tokio_postgres::Client,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let mut app = Self::without_services(adjust).await;
        app.ingest = Some(start_ingest(&app.config).await);
        app.projector = Some(start_projector(&app.config).await);
        app.delivery = Some(start_delivery(&app.config).await);
        app
    }

    /// A database and topic prefix of its own, and no service running (a
    /// test that runs the `missive` binary itself).
    pub async fn without_services(adjust: impl FnOnce(&mut Config)) -> Self {
        let (mut config, db) = test_config().await;
        adjust(&mut config);
        let config = Arc::new(config);
        let pg = missive_core::db::connect(&config.database_url)
            .await
            .unwrap();
        Self {
            config,
            db,
            ingest: None,
            projector: None,
            delivery: None,
            http: reqwest::Client::new(),
            pg,
        }
    }

    /// The test database's URL, to hand to a child process.
    pub fn database_url(&self) -> String {
        use secrecy::ExposeSecret;
        self.config.database_url.expose_secret().to_owned()
    }

    pub fn verifier(&self) -> UserSigVerifier {
        UserSigVerifier::new(self.config.sdkappid, self.config.secret_key.clone())
    }

    pub fn sig(&self, user: &str) -> String {
        self.verifier().generate(user, 3600, time::now_secs())
    }

    pub fn rest_url(&self, api: &str, query: &str) -> String {
        format!(
            "http://{}/v4/{api}?{query}",
            self.ingest.as_ref().expect("ingest running").addr
        )
    }

    /// The admin query string Tencent's REST API expects.
    pub fn admin_query(&self) -> String {
        format!(
            "sdkappid={}&identifier={}&usersig={}&random={}&contenttype=json",
            self.config.sdkappid,
            self.config.admin_identifier,
            self.sig(&self.config.admin_identifier),
            rand_u32()
        )
    }

    /// `operator`'s roaming history with `peer` (`admin_getroammsg`, up to
    /// 100 messages, newest first, as Tencent returns them).
    pub async fn roam_list(&self, operator: &str, peer: &str) -> Vec<Value> {
        let reply = self
            .rest(
                "openim/admin_getroammsg",
                serde_json::json!({"Operator_Account": operator, "Peer_Account": peer,
                                   "MaxCnt": 100, "MinTime": 0,
                                   "MaxTime": missive_core::time::now_secs() + 60}),
            )
            .await;
        assert_eq!(reply["ErrorCode"], 0, "{reply}");
        reply["MsgList"].as_array().unwrap().clone()
    }

    /// POSTs `body` as the administrator; returns the reply JSON.
    pub async fn rest(&self, api: &str, body: Value) -> Value {
        self.rest_raw(api, &self.admin_query(), body.to_string())
            .await
            .1
    }

    /// Imports `users` as accounts (multiaccount_import), asserting it worked.
    pub async fn import_accounts(&self, users: &[&str]) {
        let r = self
            .rest(
                "im_open_login_svc/multiaccount_import",
                json!({"Accounts": users}),
            )
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
        assert_eq!(r["FailAccounts"], json!([]), "{r}");
    }

    pub async fn rest_raw(&self, api: &str, query: &str, body: String) -> (u16, Value) {
        let resp = self
            .http
            .post(self.rest_url(api, query))
            .body(body)
            .send()
            .await
            .expect("REST request");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("REST reply is JSON"))
    }

    pub async fn send_text(&self, from: &str, to: &str, random: u32, text: &str) -> Value {
        let reply = self
            .rest(
                "openim/sendmsg",
                json!({
                    "From_Account": from, "To_Account": to, "MsgRandom": random,
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
                }),
            )
            .await;
        assert_eq!(reply["ErrorCode"], 0, "send failed: {reply}");
        reply
    }

    /// The one bigint `sql` returns.
    /// The first column of every row `sql` returns.
    pub async fn column<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let rows = self.pg.query(sql, &[]).await.expect("query");
        rows.iter().map(|r| r.get(0)).collect()
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        self.pg.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// The Prometheus text a service at `addr` exposes.
    pub async fn metrics(&self, addr: SocketAddr) -> String {
        self.http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until `sql` (returning one bigint) yields `want`.
    pub async fn wait_for_count(&self, sql: &str, want: i64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.scalar(sql).await;
            if got == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{sql}` stayed at {got}, expected {want}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn ws(&self, user: &str, device: &str) -> WsClient {
        self.ws_with_cursor(user, device, None).await
    }

    pub async fn ws_with_cursor(&self, user: &str, device: &str, cursor: Option<i64>) -> WsClient {
        let addr = self.delivery.as_ref().expect("delivery running").addr;
        self.ws_at(addr, user, device, cursor).await
    }

    /// A session on the delivery instance at `addr`, logged in.
    pub async fn ws_at(
        &self,
        addr: SocketAddr,
        user: &str,
        device: &str,
        cursor: Option<i64>,
    ) -> WsClient {
        let ws = WsClient::connect(addr).await;
        self.login(ws, user, device, cursor).await
    }

    /// Logs `ws` in as `user` on `device`; returns after `login_ok`.
    pub async fn login(
        &self,
        mut ws: WsClient,
        user: &str,
        device: &str,
        cursor: Option<i64>,
    ) -> WsClient {
        let mut login = json!({"type": "login", "user": user, "usersig": self.sig(user), "device": device, "platform": "Web"});
        if let Some(c) = cursor {
            login["cursor"] = c.into();
        }
        ws.send(login).await;
        let ok = ws.next_of("login_ok").await;
        assert_eq!(ok["user"], user);
        ws
    }

    /// What a rejected input must leave unchanged: the events topic's end
    /// offsets and every view's rows (after the projector caught up).
    pub async fn snapshot(&self) -> (i64, Digests) {
        self.wait_projected().await;
        let mut views = missive_core::views::digest(&self.pg, self.contacts_max())
            .await
            .unwrap();
        // The projector's offsets follow the whole log, sessions opening and
        // closing included; what requests appended is counted just above.
        views.remove("projector_offsets");
        (
            // Sessions opening and closing are not what a rejected input changes.
            self.changes_on_log(),
            views,
        )
    }

    /// Number of records on the events topic (sum of high watermarks).
    pub fn events_on_log(&self) -> i64 {
        log_size(&self.config, &self.config.events_topic())
    }

    /// Events on the log other than WebSocket sessions opening and closing
    /// (`SessionChanged`, which delivery appends in the background when a
    /// session starts and ends, schema v6): what a test means when it counts
    /// what requests appended.
    pub fn changes_on_log(&self) -> i64 {
        self.change_kinds_on_log().len() as i64
    }

    /// The kinds of the changes on the log (see `changes_on_log`), in log
    /// order per partition: what an assertion on their count shows.
    pub fn change_kinds_on_log(&self) -> Vec<String> {
        read_topic(&self.config, &self.config.events_topic())
            .iter()
            .filter_map(
                |r| match missive_schemas::EventCodec::get().decode(&r.payload) {
                    Ok(e) if matches!(e.event, missive_schemas::Event::SessionChanged(_)) => None,
                    Ok(e) => Some(format!("{:?}", e.event).chars().take(120).collect()),
                    Err(e) => Some(format!("undecodable: {e}")),
                },
            )
            .collect()
    }

    /// The `SessionChanged` events on the log, in log order per user.
    pub fn sessions_on_log(&self) -> Vec<missive_schemas::SessionChanged> {
        read_topic(&self.config, &self.config.events_topic())
            .iter()
            .filter_map(|r| {
                match missive_schemas::EventCodec::get()
                    .decode(&r.payload)
                    .ok()?
                    .event
                {
                    missive_schemas::Event::SessionChanged(s) => Some(s),
                    _ => None,
                }
            })
            .collect()
    }

    /// Waits until the projector has committed every event on the log.
    pub async fn wait_projected(&self) {
        let sql = format!(
            "SELECT COALESCE(sum(next_offset), 0)::bigint FROM projector_offsets WHERE topic = '{}'",
            self.config.events_topic()
        );
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (done, log) = (self.scalar(&sql).await, self.events_on_log());
            if done == log {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the projector stayed at {done} of {log} events"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Rebuilds every view from offset 0 of this test's log into a new
    /// database (`missive replay`'s code) and returns the digests of the live
    /// views and of the rebuilt ones.
    /// A new, migrated database `<test db>_<suffix>` to replay into, and this
    /// app's configuration pointed at it (its URL is `config.database_url`).
    /// The caller drops it (`missive_core::db::drop_database`).
    pub async fn replay_target(&self, suffix: &str) -> (String, Config) {
        let base = Config::load().unwrap().database_url;
        let name = format!("{}_{suffix}", self.db);
        missive_core::db::create_database(&base, &name)
            .await
            .unwrap();
        let url = missive_core::db::with_database(&base, &name).unwrap();
        missive_core::db::migrate(&url).await.unwrap();
        let mut config = (*self.config).clone();
        config.database_url = url;
        config.projector.group_id = unique_name(suffix);
        (name, config)
    }

    /// The recent contacts a user has (`views.recent_contacts_max`).
    pub fn contacts_max(&self) -> i64 {
        self.config.views.recent_contacts_max
    }

    pub async fn rebuild_digests(&self, batch_max: usize) -> (Digests, Digests) {
        let base = Config::load().unwrap().database_url;
        let (name, mut config) = self.replay_target("rebuild").await;
        let url = config.database_url.clone();
        config.projector.batch_max = batch_max;
        let progress = Arc::new(missive_projector::ReplayProgress::default());
        tokio::time::timeout(
            Duration::from_secs(120),
            missive_projector::replay(Arc::new(config), progress.clone(), CancellationToken::new()),
        )
        .await
        .expect("the replay finishes")
        .expect("the replay succeeds");
        assert_eq!(
            progress.done().0 as i64,
            self.events_on_log(),
            "replayed every event"
        );
        let kept = self.contacts_max();
        let rebuilt =
            missive_core::views::digest(&missive_core::db::connect(&url).await.unwrap(), kept)
                .await
                .unwrap();
        let live = missive_core::views::digest(&self.pg, kept).await.unwrap();
        missive_core::db::drop_database(&base, &name).await.unwrap();
        (live, rebuilt)
    }

    pub async fn stop(mut self) {
        for svc in [
            self.ingest.take(),
            self.delivery.take(),
            self.projector.take(),
        ]
        .into_iter()
        .flatten()
        {
            svc.shutdown().await;
        }
        delete_topics(&self.config).await;
        let admin_url: SecretString = Config::load().unwrap().database_url;
        drop(self.pg);
        missive_core::db::drop_database(&admin_url, &self.db)
            .await
            .expect("drop the test database");
    }
}

/// Deletes every topic of this test (its prefix is unique), so a suite
/// leaves the broker as it found it.
pub async fn delete_topics(config: &Config) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let prefix = format!("{}.", config.kafka.topic_prefix);
    let admin: AdminClient<DefaultClientContext> =
        missive_core::kafka::base_config(config, "test-cleanup")
            .create()
            .expect("admin client");
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("broker metadata");
    let topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|t| t.starts_with(&prefix))
        .collect();
    if topics.is_empty() {
        return;
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin
        .delete_topics(&names, &opts)
        .await
        .expect("delete the test's topics")
    {
        if let Err((topic, code)) = result {
            panic!("cannot delete topic {topic}: {code:?}");
        }
    }
}

/// A `MsgBody` of one text element.
pub fn text_body(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

pub fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// Sum of the high watermarks of a topic's partitions. A broker that has
/// just restarted answers "not leader" until its partitions are online
/// again: asked again then, until `WAIT`.
pub fn log_size(config: &Config, topic: &str) -> i64 {
    let consumer: BaseConsumer = missive_core::kafka::base_config(config, "test-watermarks")
        .create()
        .unwrap();
    let read = || -> rdkafka::error::KafkaResult<i64> {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut sum = 0;
        for p in md.topics()[0].partitions() {
            sum += consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))?
                .1;
        }
        Ok(sum)
    };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match read() {
            Ok(sum) => return sum,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("end offsets of {topic} not known yet ({e}); asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("end offsets of {topic}: {e}"),
        }
    }
}

/// A record read back from a topic.
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every record currently on `topic`.
pub fn read_topic(config: &Config, topic: &str) -> Vec<Record> {
    use rdkafka::message::{Headers, Message};
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = missive_core::kafka::base_config(config, "test-reader")
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    // A broker that has just restarted answers "not leader" for a while, as
    // in `log_size`: asked again until `WAIT`.
    let ends = || -> rdkafka::error::KafkaResult<Vec<(i32, i64)>> {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut ends = Vec::new();
        for p in md.topics()[0].partitions() {
            let (_, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            ends.push((p.id(), high));
        }
        Ok(ends)
    };
    let asked = std::time::Instant::now();
    let ends = loop {
        match ends() {
            Ok(ends) => break ends,
            Err(e) if asked.elapsed() < WAIT => {
                eprintln!("end offsets of {topic} not known yet ({e}); asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("end offsets of {topic}: {e}"),
        }
    };
    let mut tpl = TopicPartitionList::new();
    // Each partition is read up to its own end: records appended since (a
    // session's LOGIN, say) are left out, so what is read is the log as it
    // stood when asked. (Counting records over all partitions instead let a
    // later record on one partition stand in for an earlier one on another.)
    let ends_of: std::collections::HashMap<i32, i64> = ends.iter().copied().collect();
    let mut unread = ends_of.clone();
    unread.retain(|_, high| *high > 0);
    for (partition, _) in ends {
        tpl.add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !unread.is_empty() && std::time::Instant::now() < deadline {
        let polled = consumer.poll(Duration::from_millis(200));
        // Done with a partition once its position passed the end (a record
        // that is not delivered, such as a transaction marker, moves it too).
        if let Ok(position) = consumer.position() {
            for e in position.elements() {
                if let (Offset::Offset(next), Some(&end)) = (e.offset(), unread.get(&e.partition()))
                {
                    if next >= end {
                        unread.remove(&e.partition());
                    }
                }
            }
        }
        if let Some(Ok(m)) = polled {
            if ends_of
                .get(&m.partition())
                .is_none_or(|end| m.offset() >= *end)
            {
                continue;
            }
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            (
                                x.key.to_owned(),
                                String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Record {
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
    }
    out
}

/// A WebSocket client speaking missive's protocol.
pub struct WsClient {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws"))
            .await
            .expect("WebSocket connects");
        Self { stream }
    }

    /// A client with a tiny socket receive buffer (so a client that stops
    /// reading backs up into the server quickly, as a slow phone would).
    pub async fn connect_slow(addr: SocketAddr) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.expect("TCP connects");
        let (stream, _) = tokio_tungstenite::client_async(
            format!("ws://{addr}/v1/ws"),
            tokio_tungstenite::MaybeTlsStream::Plain(tcp),
        )
        .await
        .expect("WebSocket connects");
        Self { stream }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("send frame");
    }

    /// The next text frame, or the close frame as `{"type":"closed","code":..,"reason":..}`.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a frame arrives in time");
            match msg {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).expect("JSON frame"),
                Some(Ok(Message::Close(c))) => {
                    return json!({
                        "type": "closed",
                        "code": c.as_ref().map(|c| u16::from(c.code)),
                        "reason": c.as_ref().map(|c| c.reason.to_string()),
                    })
                }
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return json!({"type": "closed"}),
            }
        }
    }

    /// Sends `frame` with `id` and returns the reply carrying that id.
    pub async fn request(&mut self, id: u64, mut frame: Value) -> Value {
        frame["id"] = id.into();
        self.send(frame).await;
        loop {
            let f = self.next().await;
            if f["id"] == id {
                return f;
            }
            assert_ne!(f["type"], "closed", "closed while waiting for reply {id}");
        }
    }

    /// Skips frames until one of type `kind`.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["type"] == kind {
                return f;
            }
            assert_ne!(
                f["type"], "closed",
                "connection closed while waiting for {kind}: {f}"
            );
        }
    }

    /// Asserts no frame of type `kind` arrives within `within`.
    pub async fn expect_silence(&mut self, within: Duration) {
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(within, self.stream.next()).await
        {
            panic!("unexpected frame: {t}");
        }
    }
}

/// Held by each test whose push worker may count
/// `missive_push_skipped_total{reason="online"}`: metrics are process-wide,
/// every test runs in this one binary, and one of them waits for that
/// counter to move as the sign that its own worker saw a recipient online.
pub static ONLINE_PUSH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A request's JSON reply, for calls made away from a [`TestApp`] (a
/// background task holding a cloned client, a health endpoint).
pub trait JsonReply {
    fn json_reply(self) -> impl std::future::Future<Output = Value> + Send;
}

impl JsonReply for reqwest::RequestBuilder {
    async fn json_reply(self) -> Value {
        self.send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("a JSON reply")
    }
}
