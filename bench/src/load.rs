//! The load harness behind `steady`, `ramp`, `burst` and `flat`: missive's
//! three services on a fresh database and fresh topics (optionally prefilled
//! with history), in this process, in a `missive dev` child process, or
//! already running elsewhere (`--services`); `users` users, a share of them
//! online with `devices` WebSockets each; sends are
//! offered open loop (each starts at its scheduled time whether or not the
//! earlier ones finished) through REST (as the administrator, on behalf of
//! any user) and through the senders' own WebSockets, to random recipients,
//! online or not.
//!
//! Every latency is measured from the send's *scheduled* time, so a client or
//! server that falls behind shows as latency instead of silently lowering
//! the offered rate (no coordinated omission). The message text carries that
//! time, so a receiving device computes send→push without a shared table.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{json, Value};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use missive_core::usersig::UserSigVerifier;
use missive_core::{db, time, Config};

use crate::procstat;
use crate::stats::{self, summary};

/// Bytes a device's socket is read in at a time. tungstenite zeroes its whole
/// read buffer (128 KiB by default) before every read: with pushes of a few
/// hundred bytes that memset was 14% of the load generator's CPU (issue #17),
/// charged to the box the services are measured on.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// What the simulated population looks like and how it sends.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct Options {
    /// Users (senders and recipients are drawn from all of them).
    #[arg(long, default_value_t = 1_000)]
    pub users: usize,
    /// WebSocket devices per online user; each receives every push.
    #[arg(long, default_value_t = 2)]
    pub devices: usize,
    /// Share of users that stay offline: their messages are stored (and
    /// count in the projector's lag), not pushed.
    #[arg(long, default_value_t = 0.2)]
    pub offline: f64,
    /// Share of sends made over a sender's WebSocket (`send` frames); the
    /// rest go through REST `sendmsg` as the administrator.
    #[arg(long, default_value_t = 0.5)]
    pub ws_share: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 100)]
    pub text_bytes: usize,
    /// HTTP connections of the REST client (an operator backend's pool): a
    /// send waits for a free one, and the wait counts as latency.
    #[arg(long, default_value_t = 256)]
    pub rest_connections: usize,
    /// Sends in flight past which new ones are counted as errors
    /// ("client backlog") instead of queued without bound.
    #[arg(long, default_value_t = 50_000)]
    pub max_in_flight: usize,
    /// Seconds to wait after the last send for the log to be projected and
    /// pushed.
    #[arg(long, default_value_t = 60)]
    pub drain_timeout: u64,
    /// Where missive's services run: `in-process` (in this process, beside
    /// the load generator), `child` (a `missive dev` child process on the
    /// run's database and topics) or `external` (already running: this
    /// process's configuration names their database and topics, `--rest-addr`
    /// and `--ws-addr` their listeners). The report says which.
    #[arg(long, value_enum, default_value_t = ServicesMode::InProcess)]
    pub services: ServicesMode,
    /// The `missive` binary for `--services child` (default: beside this one).
    #[arg(long)]
    pub missive_bin: Option<std::path::PathBuf>,
    /// REST listener of external services.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub rest_addr: std::net::SocketAddr,
    /// WebSocket listener of external services.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub ws_addr: std::net::SocketAddr,
    /// Messages stored before the run (SQL straight into the views, as the
    /// projector would have stored them: bench/src/sql/prefill.sql), so a
    /// run measures missive on a database that already holds history.
    #[arg(long, default_value_t = 0)]
    pub prefill_messages: u64,
    /// Users the prefilled messages are between (`u0` ..., the load's names).
    #[arg(long, default_value_t = 10_000)]
    pub prefill_users: u64,
    /// Users each prefilled user writes to (it talks with about twice as many).
    #[arg(long, default_value_t = 20)]
    pub prefill_peers: u64,
    /// Switch `C2C.CallbackBeforeSendMsg` on, against a fake app server in
    /// this process that allows every message at once: the send path's
    /// cost with the callback (docs/callbacks.md). Not with `--services external`.
    #[arg(long)]
    pub before_send_callback: bool,
    /// Switch offline push on: every user registers a Xiaomi token before the
    /// run, and a fake Xiaomi server in this process accepts every
    /// notification at once. Messages to offline users are then notified,
    /// and every message costs the push worker its presence check: the
    /// delivery path of a deployment with push (docs/push.md). Not with
    /// `--services external`.
    #[arg(long)]
    pub offline_push: bool,
}

/// Before-send callbacks the fake app server of `--before-send-callback` answered.
static CALLBACKS_ANSWERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A loopback app server that allows every message at once, as the
/// before-send callback of `--before-send-callback` asks it; returns its URL.
async fn allow_all_app_server() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::post(|| async {
            CALLBACKS_ANSWERED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            axum::Json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}))
        }),
    );
    let addr = serve_on_loopback(app, "the fake app server").await?;
    Ok(format!("http://{addr}/callback"))
}

/// Serves `app` on a free loopback port, in the background, for the run.
async fn serve_on_loopback(
    app: axum::Router,
    what: &'static str,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("{what} stopped: {e}");
        }
    });
    Ok(addr)
}

/// Notifications the fake Xiaomi server of `--offline-push` accepted.
static NOTIFICATIONS_ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The Xiaomi app secret `--offline-push` configures and its fake server expects.
const FAKE_XIAOMI_SECRET: &str = "bench-xiaomi-secret";

/// A loopback Mi Push server that accepts every notification at once, with
/// Xiaomi's success answer (delivery/src/push/xiaomi.rs); returns its base URL.
async fn accept_all_xiaomi() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/v3/message/regid",
        axum::routing::post(|headers: axum::http::HeaderMap| async move {
            let key = format!("key={FAKE_XIAOMI_SECRET}");
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(key.as_str()) {
                return axum::Json(
                    json!({"result": "error", "code": 22000, "description": "bad app secret"}),
                );
            }
            NOTIFICATIONS_ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            axum::Json(
                json!({"result": "ok", "code": 0, "data": {"id": "bench"}, "description": "成功"}),
            )
        }),
    );
    let addr = serve_on_loopback(app, "the fake Xiaomi server").await?;
    Ok(format!("http://{addr}"))
}

/// One Xiaomi token per user (`--offline-push`), through missive's own
/// token API; returns once the projector has stored them all.
async fn register_push_tokens(
    http: &reqwest::Client,
    sendmsg_url: &str,
    config: &Config,
    users: usize,
) -> anyhow::Result<()> {
    let url = sendmsg_url.replacen("/v4/openim/sendmsg", "/v4/missive_push/set_token", 1);
    eprintln!("registering a Xiaomi push token for each of {users} users...");
    futures::stream::iter(0..users)
        .map(|u| {
            let body = json!({"From_Account": format!("u{u}"), "DeviceId": "phone",
                              "Platform": "xiaomi", "Token": format!("bench-xiaomi-u{u}")});
            let request = http.post(&url).body(body.to_string());
            async move {
                let reply: Value = request.send().await?.json().await?;
                anyhow::ensure!(reply["ErrorCode"] == 0, "set_token: {reply}");
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await?;
    let pg = db::connect(&config.database_url).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored: i64 = pg
            .query_one(
                "SELECT count(*) FROM push_tokens WHERE removed_at_ms IS NULL",
                &[],
            )
            .await?
            .get(0);
        if stored >= users as i64 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{stored} of {users} push tokens projected after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where missive's services run during a load run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServicesMode {
    InProcess,
    Child,
    External,
}

impl ServicesMode {
    pub fn describe(self) -> &'static str {
        match self {
            ServicesMode::InProcess => "services in the bench process, beside the load generator",
            ServicesMode::Child => {
                "services in a `missive dev` child process; load generator apart"
            }
            ServicesMode::External => "services already running; load generator apart",
        }
    }
}

/// The services of a run, and how to stop them.
enum Services {
    InProcess(Vec<JoinHandle<anyhow::Result<()>>>),
    Child(tokio::process::Child),
    External,
}

/// Per-second figures, indexed by the second (since the run started) a send
/// was scheduled in, or for `*_at`, the second the event happened in.
struct Second {
    offered: u64,
    accepted: u64,
    errors: u64,
    expected_pushes: u64,
    pushes: u64,
    /// Latest ack time (µs since start) of a send scheduled in this second.
    last_ack_us: u64,
    acked_at: u64,
    pushed_at: u64,
    ack: Histogram<u64>,
    push: Histogram<u64>,
}

impl Second {
    fn new() -> Self {
        Self {
            offered: 0,
            accepted: 0,
            errors: 0,
            expected_pushes: 0,
            pushes: 0,
            last_ack_us: 0,
            acked_at: 0,
            pushed_at: 0,
            ack: stats::histogram(2),
            push: stats::histogram(2),
        }
    }
}

#[derive(Default)]
struct Recorder {
    seconds: Vec<Second>,
    /// (seconds since start, events appended but not yet projected).
    lag: Vec<(f64, i64)>,
    errors: BTreeMap<String, u64>,
    last_push_us: u64,
}

impl Recorder {
    fn sec(&mut self, s: usize) -> &mut Second {
        while self.seconds.len() <= s {
            self.seconds.push(Second::new());
        }
        &mut self.seconds[s]
    }
}

struct Shared {
    t0: Instant,
    rec: Mutex<Recorder>,
    in_flight: AtomicUsize,
    devices: u64,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn rec(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.rec.lock().expect("recorder")
    }

    fn accepted(&self, t_us: u64, online_recipient: bool) {
        let now = self.now_us();
        let mut rec = self.rec();
        rec.sec((now / 1_000_000) as usize).acked_at += 1;
        let s = rec.sec((t_us / 1_000_000) as usize);
        s.accepted += 1;
        s.last_ack_us = s.last_ack_us.max(now);
        let _ = s.ack.record(now.saturating_sub(t_us).max(1));
        if online_recipient {
            s.expected_pushes += self.devices;
        }
    }

    fn error(&self, t_us: u64, kind: String) {
        let mut rec = self.rec();
        rec.sec((t_us / 1_000_000) as usize).errors += 1;
        *rec.errors.entry(kind).or_default() += 1;
    }

    fn pushed(&self, t_us: u64) {
        let now = self.now_us();
        let mut rec = self.rec();
        rec.last_push_us = now;
        rec.sec((now / 1_000_000) as usize).pushed_at += 1;
        let s = rec.sec((t_us / 1_000_000) as usize);
        s.pushes += 1;
        let _ = s.push.record(now.saturating_sub(t_us).max(1));
    }
}

/// A send awaiting its `sent` (or `error`) reply on a WebSocket.
struct Pending {
    t_us: u64,
    online_recipient: bool,
    _permit: OwnedSemaphorePermit,
}

/// One logged-in device of an online user.
struct Device {
    out: mpsc::UnboundedSender<Message>,
    /// The server runs at most 32 requests per session at a time and
    /// refuses more: a client waits for a reply before sending the 33rd.
    permits: Arc<Semaphore>,
    pending: Arc<Mutex<HashMap<u64, Pending>>>,
}

/// Events appended to the log and not yet projected: the end offsets of
/// the events topic minus the projector's committed offsets in PostgreSQL.
struct LagProbe {
    consumer: Arc<BaseConsumer>,
    topic: String,
    partitions: i32,
    pg: tokio_postgres::Client,
}

impl LagProbe {
    async fn lag(&self) -> anyhow::Result<i64> {
        let (consumer, topic, partitions) =
            (self.consumer.clone(), self.topic.clone(), self.partitions);
        let end = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
            let mut sum = 0;
            for p in 0..partitions {
                sum += consumer
                    .fetch_watermarks(&topic, p, Duration::from_secs(5))?
                    .1;
            }
            Ok(sum)
        })
        .await??;
        let committed: i64 = self
            .pg
            .query_one(
                "SELECT coalesce(sum(next_offset), 0)::bigint FROM projector_offsets \
                 WHERE topic = $1",
                &[&self.topic],
            )
            .await?
            .get(0);
        Ok(end - committed)
    }
}

/// A phase as it ran: its rate, and the whole seconds it covered.
#[derive(Debug, Clone)]
pub struct PhaseMark {
    pub label: String,
    pub rate: u64,
    pub start_s: usize,
    pub seconds: u64,
    cpu: Value,
}

/// After the last send: how long until everything was projected and pushed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drain {
    pub seconds: f64,
    pub drained: bool,
    pub lag_left: i64,
    pub pushes_missing: i64,
}

pub struct Harness {
    opts: Options,
    base: Config,
    /// The run's own database and topic prefix (none for external services).
    run: Option<String>,
    stop: CancellationToken,
    services: Services,
    tasks: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    devices: Vec<Vec<Device>>,
    online: usize,
    http: reqwest::Client,
    rest_pool: Arc<Semaphore>,
    url: String,
    probe: Arc<LagProbe>,
    rng: SmallRng,
    next_id: AtomicU64,
    pub phases: Vec<PhaseMark>,
    pad: String,
}

impl Harness {
    /// Starts the services on a fresh database and topics, and logs every
    /// online device in.
    pub async fn start(base: &Config, opts: Options) -> anyhow::Result<Self> {
        anyhow::ensure!(
            opts.users >= 2 && opts.devices >= 1,
            "--users >= 2, --devices >= 1"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&opts.offline) && (0.0..=1.0).contains(&opts.ws_share),
            "--offline and --ws-share are shares between 0 and 1"
        );
        anyhow::ensure!(
            opts.prefill_messages == 0 || opts.services != ServicesMode::External,
            "--prefill-messages needs a fresh database: not with --services external"
        );
        anyhow::ensure!(
            !opts.before_send_callback || opts.services != ServicesMode::External,
            "--before-send-callback configures the services: not with --services external"
        );
        anyhow::ensure!(
            !opts.offline_push || opts.services != ServicesMode::External,
            "--offline-push configures the services: not with --services external"
        );
        let stop = CancellationToken::new();
        let (run, config, services, rest_addr, ws_addr) = if opts.services == ServicesMode::External
        {
            // The running services' database and topics, from this process's
            // configuration (the same environment as theirs).
            procstat::services_external();
            let config = Arc::new(base.clone());
            (
                None,
                config,
                Services::External,
                opts.rest_addr,
                opts.ws_addr,
            )
        } else {
            let run = format!("bench_{}", uuid::Uuid::new_v4().simple());
            db::create_database(&base.database_url, &run).await?;
            let mut config = base.clone();
            config.database_url = db::with_database(&base.database_url, &run)?;
            db::migrate(&config.database_url).await?;
            if opts.prefill_messages > 0 {
                prefill(&config, &opts).await?;
            }
            config.kafka.topic_prefix = run.clone();
            config.projector.group_id = format!("{run}.projector");
            // The load comes from one backend and simulated users far past
            // Tencent's default per-API and per-user rates: measure missive, not
            // its rate limits (docs/limits.md).
            config.limits.rest_api_per_sec = 0;
            config.limits.user_sends_per_sec = 0;
            // Simulated users are never imported (u0, u1, ...): the account
            // check's read is paid either way, only its verdict is relaxed.
            config.accounts.allow_unknown = true;
            if opts.before_send_callback {
                config.callbacks.url = allow_all_app_server().await?;
                config.callbacks.before_send_msg = true;
            }
            if opts.offline_push {
                config.push.xiaomi = Some(missive_core::config::XiaomiConfig {
                    package_name: "im.missive.bench".into(),
                    app_secret: FAKE_XIAOMI_SECRET.to_owned().into(),
                    base_url: accept_all_xiaomi().await?,
                });
            }
            if opts.services == ServicesMode::Child {
                let (child, rest, ws) = spawn_child(&config, &run, &opts).await?;
                procstat::services_in_child(child.id().unwrap_or(0));
                (
                    Some(run),
                    Arc::new(config),
                    Services::Child(child),
                    rest,
                    ws,
                )
            } else {
                config.ingest.listen = "127.0.0.1:0".parse()?;
                config.delivery.listen = "127.0.0.1:0".parse()?;
                config.projector.listen = "127.0.0.1:0".parse()?;
                let config = Arc::new(config);
                // One producer for the three, as `missive dev` has.
                let appender = missive_log::EventAppender::connect(&config).await?;
                let ingest =
                    missive_ingest::Ingest::bind_with(config.clone(), appender.clone()).await?;
                let projector =
                    missive_projector::Projector::bind_with(config.clone(), appender.clone())
                        .await?;
                let delivery =
                    missive_delivery::Delivery::bind_with(config.clone(), appender).await?;
                let (rest, ws) = (ingest.local_addr(), delivery.local_addr());
                let services = vec![
                    tokio::spawn({
                        let s = stop.clone();
                        async move { ingest.run(s).await.map_err(anyhow::Error::from) }
                    }),
                    tokio::spawn({
                        let s = stop.clone();
                        async move { projector.run(s).await.map_err(anyhow::Error::from) }
                    }),
                    tokio::spawn({
                        let s = stop.clone();
                        async move { delivery.run(s).await.map_err(anyhow::Error::from) }
                    }),
                ];
                (Some(run), config, Services::InProcess(services), rest, ws)
            }
        };

        // Measure the running system, not its start-up: wait until the
        // projector owns every partition (it creates their offset rows then;
        // a group join is not part of what is measured).
        {
            let pg = db::connect(&config.database_url).await?;
            // Only this cluster's processes count as PostgreSQL's CPU
            // (reading the setting needs a superuser or pg_read_all_settings;
            // without it every PostgreSQL on the box counts, as before).
            if let Ok(row) = pg
                .query_one("SELECT current_setting('data_directory')", &[])
                .await
            {
                procstat::postgresql_cluster(row.get(0));
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let owned: i64 = pg
                    .query_one(
                        "SELECT count(*) FROM projector_offsets WHERE topic = $1",
                        &[&config.events_topic()],
                    )
                    .await?
                    .get(0);
                if owned >= i64::from(config.kafka.partitions) {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "the projector owns {owned} of {} partitions after 60 s",
                    config.kafka.partitions
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let shared = Arc::new(Shared {
            t0: Instant::now(),
            rec: Mutex::new(Recorder::default()),
            in_flight: AtomicUsize::new(0),
            devices: opts.devices as u64,
        });
        let verifier = UserSigVerifier::new(config.sdkappid, config.secret_key.clone());
        let online = ((opts.users as f64) * (1.0 - opts.offline)).round() as usize;
        let logins: Vec<(usize, usize)> = (0..online)
            .flat_map(|u| (0..opts.devices).map(move |d| (u, d)))
            .collect();
        eprintln!(
            "logging in {} devices of {online} online users ({} offline)...",
            logins.len(),
            opts.users - online
        );
        let mut tasks = Vec::new();
        let connected: Vec<(usize, Device, [JoinHandle<()>; 2])> = futures::stream::iter(logins)
            .map(|(u, d)| {
                let (shared, verifier) = (shared.clone(), &verifier);
                async move {
                    let (dev, t) = connect(ws_addr, u, d, verifier, shared).await?;
                    anyhow::Ok((u, dev, t))
                }
            })
            .buffer_unordered(32)
            .try_collect()
            .await?;
        let mut devices: Vec<Vec<Device>> = (0..online).map(|_| Vec::new()).collect();
        for (u, dev, t) in connected {
            devices[u].push(dev);
            tasks.extend(t);
        }

        let admin = config.admin_identifier.clone();
        let url = format!(
            "http://{rest_addr}/v4/openim/sendmsg?sdkappid={}&identifier={admin}&usersig={}&random=1&contenttype=json",
            config.sdkappid,
            verifier.generate(&admin, 86_400, time::now_secs())
        );
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(opts.rest_connections)
            .timeout(Duration::from_secs(30))
            .build()?;
        if opts.offline_push {
            register_push_tokens(&http, &url, &config, opts.users).await?;
        }

        let consumer: BaseConsumer = missive_core::kafka::base_config(&config, "bench-lag")
            .set(
                "group.id",
                format!("bench_{}.lag", uuid::Uuid::new_v4().simple()),
            )
            .create()?;
        let probe = Arc::new(LagProbe {
            consumer: Arc::new(consumer),
            topic: config.events_topic(),
            partitions: config.kafka.partitions,
            pg: db::connect(&config.database_url).await?,
        });
        // Lag, twice a second, for the whole run.
        tasks.push(tokio::spawn({
            let (probe, shared, stop) = (probe.clone(), shared.clone(), stop.clone());
            async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                while !stop.is_cancelled() {
                    tick.tick().await;
                    if let Ok(lag) = probe.lag().await {
                        let t = shared.t0.elapsed().as_secs_f64();
                        shared.rec().lag.push((t, lag));
                    }
                }
            }
        }));

        Ok(Self {
            rest_pool: Arc::new(Semaphore::new(opts.rest_connections.max(1))),
            pad: "x".repeat(opts.text_bytes.saturating_sub(20)),
            opts,
            base: base.clone(),
            run,
            stop,
            services,
            tasks,
            shared,
            devices,
            online,
            http,
            url,
            probe,
            rng: SmallRng::seed_from_u64(8),
            next_id: AtomicU64::new(1),
            phases: Vec::new(),
        })
    }

    /// Offers `rate` sends a second for `seconds`, open loop, starting on
    /// the next whole second; returns without waiting for the replies.
    pub async fn phase(&mut self, label: &str, rate: u64, seconds: u64) -> anyhow::Result<()> {
        anyhow::ensure!(rate > 0 && seconds > 0, "rate and seconds must be positive");
        let start_s = (self.shared.t0.elapsed().as_secs() + 1) as usize;
        let start_us = start_s as u64 * 1_000_000;
        tokio::time::sleep_until((self.shared.t0 + Duration::from_micros(start_us)).into()).await;
        eprintln!("{label}: {rate} msg/s for {seconds} s");
        let cpu_start = procstat::Sample::now();
        let total = rate * seconds;
        let mut i = 0u64;
        while i < total {
            let now = self.shared.now_us();
            let due = |i: u64| start_us + i * 1_000_000 / rate;
            if due(i) > now {
                tokio::time::sleep(Duration::from_micros(due(i) - now)).await;
                continue;
            }
            while i < total && due(i) <= now {
                self.dispatch(due(i));
                i += 1;
            }
        }
        let secs = (self.shared.now_us() - start_us) as f64 / 1e6;
        self.phases.push(PhaseMark {
            label: label.to_owned(),
            rate,
            start_s,
            seconds,
            cpu: procstat::Sample::now().since(&cpu_start, secs),
        });
        Ok(())
    }

    /// Starts one send scheduled at `t_us`.
    fn dispatch(&mut self, t_us: u64) {
        let shared = self.shared.clone();
        shared.rec().sec((t_us / 1_000_000) as usize).offered += 1;
        if shared.in_flight.load(Ordering::Relaxed) >= self.opts.max_in_flight {
            shared.error(t_us, "client backlog full (not sent)".into());
            return;
        }
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let users = self.opts.users;
        let over_ws = self.online > 0 && self.rng.random::<f64>() < self.opts.ws_share;
        let from = if over_ws {
            self.rng.random_range(0..self.online)
        } else {
            self.rng.random_range(0..users)
        };
        let to = (from + self.rng.random_range(1..users)) % users;
        let online_recipient = to < self.online;
        let random = self.next_id.fetch_add(1, Ordering::Relaxed);
        let text = format!("{t_us} {}", self.pad);
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]);
        if over_ws {
            let d = self.rng.random_range(0..self.devices[from].len());
            let dev = &self.devices[from][d];
            let (out, permits, pending) =
                (dev.out.clone(), dev.permits.clone(), dev.pending.clone());
            let frame = json!({"type": "send", "id": random,
                               "msg": {"To_Account": format!("u{to}"), "MsgRandom": random as u32,
                                       "MsgBody": body}});
            tokio::spawn(async move {
                let Ok(permit) = permits.acquire_owned().await else {
                    return;
                };
                pending.lock().expect("pending").insert(
                    random,
                    Pending {
                        t_us,
                        online_recipient,
                        _permit: permit,
                    },
                );
                if out.send(Message::Text(frame.to_string().into())).is_err()
                    && pending.lock().expect("pending").remove(&random).is_some()
                {
                    shared.error(t_us, "WebSocket closed".into());
                    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
            });
        } else {
            let (http, url, pool) = (self.http.clone(), self.url.clone(), self.rest_pool.clone());
            let body = json!({"From_Account": format!("u{from}"), "To_Account": format!("u{to}"),
                              "MsgRandom": random as u32, "MsgBody": body});
            tokio::spawn(async move {
                let outcome = match pool.acquire_owned().await {
                    Ok(_conn) => match http.post(&url).body(body.to_string()).send().await {
                        Ok(r) => match r.json::<Value>().await {
                            Ok(v) if v["ErrorCode"] == 0 => Ok(()),
                            Ok(v) => Err(format!("REST ErrorCode {}", v["ErrorCode"])),
                            Err(e) => Err(format!("REST reply: {}", e.without_url())),
                        },
                        Err(e) if e.is_timeout() => Err("REST timeout (30 s)".into()),
                        Err(e) => Err(format!("REST: {}", e.without_url())),
                    },
                    Err(_) => Err("REST client closed".into()),
                };
                match outcome {
                    Ok(()) => shared.accepted(t_us, online_recipient),
                    Err(kind) => shared.error(t_us, kind),
                }
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }

    /// Waits until every send is answered, the log is projected and every
    /// expected push has arrived (or no push came for 2 s with the log
    /// projected: a cut-off device never gets its pushes), at most
    /// `--drain-timeout` seconds.
    pub async fn drain(&self) -> Drain {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.opts.drain_timeout);
        loop {
            let lag = self.probe.lag().await.unwrap_or(i64::MAX);
            let (expected, pushed, last_push_us) = {
                let rec = self.shared.rec();
                (
                    rec.seconds.iter().map(|s| s.expected_pushes).sum::<u64>() as i64,
                    rec.seconds.iter().map(|s| s.pushes).sum::<u64>() as i64,
                    rec.last_push_us,
                )
            };
            let idle = self.shared.in_flight.load(Ordering::Relaxed) == 0;
            let quiet = self.shared.now_us().saturating_sub(last_push_us) > 2_000_000;
            let done = idle && lag == 0 && (pushed >= expected || quiet);
            if done || Instant::now() >= deadline {
                return Drain {
                    seconds: started.elapsed().as_secs_f64(),
                    drained: done,
                    lag_left: lag,
                    pushes_missing: (expected - pushed).max(0),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Figures of one phase (after a drain, so its pushes are in).
    pub fn phase_stats(&self, mark: &PhaseMark) -> Value {
        let rec = self.shared.rec();
        let range = mark.start_s..(mark.start_s + mark.seconds as usize);
        let (ack, push, counts) = sum_seconds(&rec, range.clone());
        let start_us = mark.start_s as u64 * 1_000_000;
        // Throughput: the phase's accepted sends over the time it took to
        // accept them (at least the phase), so a backlog lowers it.
        let span =
            ((counts.last_ack_us.saturating_sub(start_us)) as f64 / 1e6).max(mark.seconds as f64);
        let (lag_max, lag_end, slope) = lag_stats(
            &rec.lag,
            range.start as f64,
            (range.end as f64).min(rec.lag.last().map_or(0.0, |l| l.0)),
        );
        json!({
            "label": mark.label,
            "offered_rate": mark.rate,
            "seconds": mark.seconds,
            "start_s": mark.start_s,
            "offered": counts.offered,
            "accepted": counts.accepted,
            "accepted_per_s": counts.accepted as f64 / span,
            "errors": counts.errors,
            // Neither accepted nor refused when the run ended (the drain
            // timed out): they count against the phase like errors.
            "unanswered": counts.unanswered(),
            "error_share": (counts.errors + counts.unanswered()) as f64 / counts.offered.max(1) as f64,
            "expected_pushes": counts.expected_pushes,
            "pushes": counts.pushes,
            "send_ack": summary(&ack),
            "send_to_push": summary(&push),
            "lag": {"max": lag_max, "end": lag_end, "slope_per_s": slope},
            "processes": procstat::per_message(&mark.cpu, counts.accepted),
        })
    }

    /// Per-second series, lag samples, the distribution and the totals.
    pub fn timeline(&self) -> Value {
        let rec = self.shared.rec();
        let (ack, push, counts) = sum_seconds(&rec, 0..rec.seconds.len());
        let q = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() {
                Value::Null
            } else {
                json!(h.value_at_quantile(q) as f64 / 1000.0)
            }
        };
        let s = &rec.seconds;
        json!({
            "totals": {
                "offered": counts.offered, "accepted": counts.accepted, "errors": counts.errors,
                "unanswered": counts.unanswered(),
                "expected_pushes": counts.expected_pushes, "pushes": counts.pushes,
                "send_ack": summary(&ack), "send_to_push": summary(&push),
            },
            "errors_by_kind": rec.errors,
            "series": {
                "second": (0..s.len()).collect::<Vec<_>>(),
                "offered": s.iter().map(|x| x.offered).collect::<Vec<_>>(),
                "accepted_at": s.iter().map(|x| x.acked_at).collect::<Vec<_>>(),
                "pushed_at": s.iter().map(|x| x.pushed_at).collect::<Vec<_>>(),
                "errors": s.iter().map(|x| x.errors).collect::<Vec<_>>(),
                "ack_p50_ms": s.iter().map(|x| q(&x.ack, 0.5)).collect::<Vec<_>>(),
                "ack_p99_ms": s.iter().map(|x| q(&x.ack, 0.99)).collect::<Vec<_>>(),
                "push_p50_ms": s.iter().map(|x| q(&x.push, 0.5)).collect::<Vec<_>>(),
                "push_p99_ms": s.iter().map(|x| q(&x.push, 0.99)).collect::<Vec<_>>(),
            },
            "lag": rec.lag.iter().map(|(t, l)| json!([(t * 10.0).round() / 10.0, l])).collect::<Vec<_>>(),
            "distribution": {
                "send_ack": stats::percentile_curve(&ack),
                "send_to_push": stats::percentile_curve(&push),
            },
        })
    }

    pub fn options(&self) -> Value {
        json!({
            "users": self.opts.users, "online_users": self.online,
            "devices_per_user": self.opts.devices, "offline_share": self.opts.offline,
            "ws_share": self.opts.ws_share, "text_bytes": self.opts.text_bytes,
            "rest_connections": self.opts.rest_connections,
            "partitions": self.base.kafka.partitions,
            "services": self.opts.services,
            "services_mode": self.opts.services.describe(),
            "prefill": {"messages": self.opts.prefill_messages,
                        "users": if self.opts.prefill_messages > 0 { self.opts.prefill_users } else { 0 },
                        "peers": self.opts.prefill_peers},
            "before_send_callback": self.opts.before_send_callback,
            "before_send_callbacks_answered":
                CALLBACKS_ANSWERED.load(std::sync::atomic::Ordering::Relaxed),
            "offline_push": self.opts.offline_push,
            "push_notifications_accepted":
                NOTIFICATIONS_ACCEPTED.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Stops the services and removes the run's database and topics.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.stop.cancel();
        for t in &self.tasks {
            t.abort();
        }
        drop(self.devices);
        match self.services {
            Services::InProcess(services) => {
                for s in services {
                    match tokio::time::timeout(Duration::from_secs(30), s).await {
                        Ok(Ok(Err(e))) => eprintln!("a service ended with: {e:#}"),
                        Err(_) => eprintln!("a service did not stop within 30 s"),
                        _ => {}
                    }
                }
            }
            Services::Child(child) => stop_child(child).await,
            Services::External => {}
        }
        drop(self.probe);
        let Some(run) = self.run else {
            return Ok(());
        };
        db::drop_database(&self.base.database_url, &run).await?;
        let mut c = self.base.clone();
        c.kafka.topic_prefix = run;
        crate::raw::delete_topics(
            &self.base,
            &[
                c.events_topic(),
                c.events_dlq_topic(),
                c.commands_topic(),
                c.commands_dlq_topic(),
                c.push_dlq_topic(),
            ],
        )
        .await;
        Ok(())
    }
}

/// Stores `--prefill-messages` messages in the run's fresh database, then
/// VACUUM ANALYZE (what autovacuum would have done by then) and CHECKPOINT
/// (what the checkpointer would have written by then).
async fn prefill(config: &Config, opts: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!(
        "prefilling {} messages between {} users...",
        opts.prefill_messages, opts.prefill_users
    );
    let pg = db::connect(&config.database_url).await?;
    pg.batch_execute(&format!(
        "BEGIN;
         SELECT set_config('prefill.messages', '{}', false),
                set_config('prefill.users', '{}', false),
                set_config('prefill.peers', '{}', false),
                set_config('prefill.contacts_max', '{}', false);
         {}
         COMMIT;",
        opts.prefill_messages,
        opts.prefill_users.max(2),
        opts.prefill_peers.max(1),
        config.views.recent_contacts_max,
        include_str!("sql/prefill.sql")
    ))
    .await
    .context("prefill")?;
    pg.batch_execute("VACUUM ANALYZE").await?;
    // The prefill leaves ~1 GB of dirty pages: written out during the run,
    // the checkpoint's CPU would be charged to the prefilled run's
    // PostgreSQL (and take the box from the rest), which a database that
    // grew over months does not pay per message.
    if let Err(e) = pg.batch_execute("CHECKPOINT").await {
        eprintln!("no CHECKPOINT after the prefill ({e}); its writes fall in the run");
    }
    eprintln!("prefilled in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A free port on loopback (bound, then released for the child to bind).
fn free_port() -> anyhow::Result<std::net::SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Starts `missive dev` on the run's database and topics, with its own
/// ports, and waits until its REST listener answers.
async fn spawn_child(
    config: &Config,
    run: &str,
    opts: &Options,
) -> anyhow::Result<(
    tokio::process::Child,
    std::net::SocketAddr,
    std::net::SocketAddr,
)> {
    use secrecy::ExposeSecret;
    let bin = match &opts.missive_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary's folder")?
            .join("missive"),
    };
    anyhow::ensure!(
        bin.exists(),
        "{} not found: build it (cargo build --release -p missive) or pass --missive-bin",
        bin.display()
    );
    let (rest, ws, ops) = (free_port()?, free_port()?, free_port()?);
    let log = std::fs::File::create(std::env::temp_dir().join(format!("{run}.missive.log")))?;
    let child = tokio::process::Command::new(&bin)
        .arg("dev")
        .env("MISSIVE_DATABASE_URL", config.database_url.expose_secret())
        .env("MISSIVE_TOPIC_PREFIX", run)
        .env("MISSIVE_PROJECTOR__GROUP_ID", &config.projector.group_id)
        .env("MISSIVE_INSTANCE_ID", format!("{run}-child"))
        .env("MISSIVE_INGEST_LISTEN", rest.to_string())
        .env("MISSIVE_DELIVERY_LISTEN", ws.to_string())
        .env("MISSIVE_PROJECTOR_LISTEN", ops.to_string())
        .env("MISSIVE_LIMITS__REST_API_PER_SEC", "0")
        .env("MISSIVE_LIMITS__USER_SENDS_PER_SEC", "0")
        .env("MISSIVE_ACCOUNTS__ALLOW_UNKNOWN", "true")
        .env("MISSIVE_CALLBACKS__URL", &config.callbacks.url)
        .env(
            "MISSIVE_CALLBACKS__BEFORE_SEND_MSG",
            config.callbacks.before_send_msg.to_string(),
        )
        .envs(config.push.xiaomi.iter().flat_map(|x| {
            [
                ("MISSIVE_PUSH__XIAOMI__PACKAGE_NAME", x.package_name.clone()),
                (
                    "MISSIVE_PUSH__XIAOMI__APP_SECRET",
                    x.app_secret.expose_secret().to_owned(),
                ),
                ("MISSIVE_PUSH__XIAOMI__BASE_URL", x.base_url.clone()),
            ]
        }))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    eprintln!(
        "missive dev started as child process {} (log: {}/{run}.missive.log)",
        child.id().unwrap_or(0),
        std::env::temp_dir().display()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = reqwest::Client::new();
    while http
        .get(format!("http://{rest}/healthz"))
        .send()
        .await
        .is_err()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the child's REST listener did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((child, rest, ws))
}

/// SIGTERM (graceful: drain and commit), then SIGKILL after 30 s.
async fn stop_child(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .is_err()
    {
        eprintln!("the missive child did not stop within 30 s; killing it");
        let _ = child.kill().await;
    }
}

#[derive(Default)]
struct Counts {
    offered: u64,
    accepted: u64,
    errors: u64,
    expected_pushes: u64,
    pushes: u64,
    last_ack_us: u64,
}

impl Counts {
    fn unanswered(&self) -> u64 {
        self.offered.saturating_sub(self.accepted + self.errors)
    }
}

fn sum_seconds(
    rec: &Recorder,
    range: std::ops::Range<usize>,
) -> (Histogram<u64>, Histogram<u64>, Counts) {
    let (mut ack, mut push, mut c) = (stats::histogram(2), stats::histogram(2), Counts::default());
    for s in rec.seconds.get(range).into_iter().flatten() {
        let _ = ack.add(&s.ack);
        let _ = push.add(&s.push);
        c.offered += s.offered;
        c.accepted += s.accepted;
        c.errors += s.errors;
        c.expected_pushes += s.expected_pushes;
        c.pushes += s.pushes;
        c.last_ack_us = c.last_ack_us.max(s.last_ack_us);
    }
    (ack, push, c)
}

/// Max, last and least-squares slope (events/s) of the lag samples taken
/// between `from` and `to` seconds.
pub fn lag_stats(lag: &[(f64, i64)], from: f64, to: f64) -> (i64, i64, f64) {
    let pts: Vec<(f64, f64)> = lag
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|&(t, l)| (t, l as f64))
        .collect();
    let max = pts.iter().map(|p| p.1 as i64).max().unwrap_or(0);
    let end = pts.last().map_or(0, |p| p.1 as i64);
    let n = pts.len() as f64;
    if pts.len() < 3 {
        return (max, end, 0.0);
    }
    let (mt, ml) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let var: f64 = pts.iter().map(|p| (p.0 - mt).powi(2)).sum();
    let cov: f64 = pts.iter().map(|p| (p.0 - mt) * (p.1 - ml)).sum();
    let slope = if var > 0.0 { cov / var } else { 0.0 };
    (max, end, (slope * 10.0).round() / 10.0)
}

/// The lag samples of a finished run.
pub fn lag_samples(timeline: &Value) -> Vec<(f64, i64)> {
    timeline["lag"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p[0].as_f64()?, p[1].as_i64()?)))
        .collect()
}

/// Connects and logs in device `d` of user `u`, then reads its frames:
/// pushes addressed to the user (latency), and replies to its sends.
async fn connect(
    ws_addr: std::net::SocketAddr,
    u: usize,
    d: usize,
    verifier: &UserSigVerifier,
    shared: Arc<Shared>,
) -> anyhow::Result<(Device, [JoinHandle<()>; 2])> {
    let user = format!("u{u}");
    let (ws, _) = tokio_tungstenite::connect_async_with_config(
        format!("ws://{ws_addr}/v1/ws"),
        Some(WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)),
        false,
    )
    .await
    .context("WebSocket connects")?;
    let (mut sink, mut stream) = ws.split();
    let login = json!({"type": "login", "user": user, "device": format!("d{d}"), "platform": "PC",
                       "usersig": verifier.generate(&user, 86_400, time::now_secs())});
    sink.send(Message::Text(login.to_string().into())).await?;
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"sync_done\"") => break,
            Some(Ok(_)) => continue,
            other => anyhow::bail!("login of {user} failed: {other:?}"),
        }
    }
    let (out, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    let pending: Arc<Mutex<HashMap<u64, Pending>>> = Arc::default();
    let reader = tokio::spawn({
        let pending = pending.clone();
        async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(t) = msg else { continue };
                let Ok(f) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                let reply = |id: &Value| {
                    id.as_u64()
                        .and_then(|id| pending.lock().expect("pending").remove(&id))
                };
                match f["type"].as_str() {
                    // Pushes to the recipient; the sender's other devices'
                    // copies are not a delivery and are skipped.
                    Some("message") if f["to"] == user.as_str() && f["event"] == "new" => {
                        if let Some(t_us) = f["body"][0]["MsgContent"]["Text"]
                            .as_str()
                            .and_then(|s| s.split(' ').next())
                            .and_then(|s| s.parse::<u64>().ok())
                        {
                            shared.pushed(t_us);
                        }
                    }
                    Some("sent") => {
                        if let Some(p) = reply(&f["id"]) {
                            shared.accepted(p.t_us, p.online_recipient);
                            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    Some("error") => match reply(&f["id"]) {
                        Some(p) => {
                            shared.error(p.t_us, format!("WebSocket error {}", f["code"]));
                            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                        }
                        None => {
                            let now = shared.now_us();
                            shared.error(now, format!("WebSocket error without id {}", f["code"]));
                        }
                    },
                    _ => {}
                }
            }
            // The session closed: its unanswered sends are errors.
            let lost: Vec<Pending> = pending
                .lock()
                .expect("pending")
                .drain()
                .map(|(_, p)| p)
                .collect();
            for p in lost {
                shared.error(p.t_us, "WebSocket closed before the reply".into());
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        }
    });
    Ok((
        Device {
            out,
            permits: Arc::new(Semaphore::new(32)),
            pending,
        },
        [writer, reader],
    ))
}

#[cfg(test)]
mod tests {
    use super::lag_stats;

    #[test]
    fn lag_slope_is_flat_for_a_steady_lag_and_the_growth_rate_otherwise() {
        let flat: Vec<(f64, i64)> = (0..20).map(|i| (i as f64 * 0.5, 40 + (i % 3))).collect();
        let (max, end, slope) = lag_stats(&flat, 0.0, 10.0);
        assert_eq!((max, end), (42, 41));
        assert!(slope.abs() < 1.0, "{slope}");
        let growing: Vec<(f64, i64)> = (0..20).map(|i| (i as f64 * 0.5, i * 150)).collect();
        let (_, _, slope) = lag_stats(&growing, 0.0, 10.0);
        assert_eq!(slope, 300.0);
        // Only the window's samples count.
        assert_eq!(lag_stats(&growing, 100.0, 200.0), (0, 0, 0.0));
    }
}
