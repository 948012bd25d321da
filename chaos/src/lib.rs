//! The fault loop (issue #9): a private PostgreSQL and Apache Kafka broker, the real
//! `missive ingest | projector | delivery` processes, a steady load, and
//! faults one after another (kill -9 of each service, a broker restart, a
//! PostgreSQL restart, a WebSocket client cut mid-stream). After each round
//! it checks that every acknowledged message is in every view exactly once,
//! in seq order, on every online device, and that no push went out twice.
//!
//! `make chaos ROUNDS=n` runs it from the command line; `tests/api/faults.rs`
//! runs one round in CI.

pub mod load;
pub mod services;
pub mod stack;
pub mod vendor;
pub mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use missive_core::usersig::UserSigVerifier;

use crate::load::{Device, RestClient, SendLog};
use crate::services::{Kind, Service};
use crate::stack::{PrivateBroker, PrivatePostgres};
use crate::vendor::FakeXiaomi;

const SDKAPPID: u64 = 1_400_000_000;
const SECRET: &str = "chaos-secret-key";
const ADMIN: &str = "administrator";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    KillIngest,
    KillProjector,
    KillDelivery,
    RestartBroker,
    RestartPostgres,
    CutClient,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::KillIngest,
        Fault::KillProjector,
        Fault::KillDelivery,
        Fault::RestartBroker,
        Fault::RestartPostgres,
        Fault::CutClient,
    ];
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The `missive` binary to run.
    pub missive_bin: PathBuf,
    pub rounds: u32,
    /// Sends per second, all senders together.
    pub rate: f64,
    pub senders: usize,
    /// Recipients with two WebSocket devices each.
    pub online: usize,
    /// Recipients with no device connected and a push token.
    pub offline: usize,
    /// Load time before the first fault and after each one.
    pub settle: Duration,
    /// How long a killed service or stopped server stays down.
    pub downtime: Duration,
    pub faults: Vec<Fault>,
    /// Scratch directory (logs, data); a fresh one under the temp dir if unset.
    pub work_dir: Option<PathBuf>,
}

impl Options {
    pub fn new(missive_bin: PathBuf) -> Self {
        Self {
            missive_bin,
            rounds: 1,
            rate: 50.0,
            senders: 8,
            online: 4,
            offline: 2,
            settle: Duration::from_secs(4),
            downtime: Duration::from_secs(1),
            faults: Fault::ALL.to_vec(),
            work_dir: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    pub fault: Fault,
    /// Milliseconds since the round started.
    pub at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    pub round: u32,
    pub faults: Vec<FaultRecord>,
    /// Services that died by themselves (then restarted by the loop).
    pub service_exits: Vec<String>,
    /// Send attempts that failed and were retried with the same MsgRandom.
    pub send_retries: u64,
    pub abandoned_sends: usize,
    pub refused_sends: Vec<String>,
    /// Cumulative over the run so far.
    pub findings: verify::Findings,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rounds: Vec<RoundReport>,
    pub work_dir: PathBuf,
}

impl Report {
    /// No round lost, doubled or reordered anything, and no send was refused.
    pub fn clean(&self) -> bool {
        self.rounds
            .iter()
            .all(|r| r.findings.clean() && r.refused_sends.is_empty())
    }

    pub fn last(&self) -> Option<&RoundReport> {
        self.rounds.last()
    }
}

struct Env {
    pg: PrivatePostgres,
    broker: PrivateBroker,
    services: Vec<Service>,
    vendor: FakeXiaomi,
    rest: RestClient,
    verifier: UserSigVerifier,
}

impl Env {
    fn service(&mut self, kind: Kind) -> &mut Service {
        self.services
            .iter_mut()
            .find(|s| s.kind == kind)
            .expect("every kind runs")
    }
}

pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let dir = opts.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("missive-chaos-{}", uuid::Uuid::new_v4().simple()))
    });
    std::fs::create_dir_all(&dir)?;
    tracing::info!(dir = %dir.display(), "fault loop: starting a private PostgreSQL and broker");
    let pg = PrivatePostgres::start(&dir).await?;
    let broker = PrivateBroker::start(&dir).await?;
    let vendor = FakeXiaomi::start().await?;
    {
        let (client, conn) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls)
            .await
            .context("connect to the private PostgreSQL")?;
        tokio::spawn(conn);
        client.batch_execute("CREATE DATABASE missive").await?;
    }
    let env_vars: Vec<(String, String)> = [
        ("MISSIVE_DATABASE_URL", pg.url("missive")),
        ("MISSIVE_KAFKA__BROKERS", broker.addr()),
        ("MISSIVE_KAFKA__TOPIC_PREFIX", "chaos".into()),
        ("MISSIVE_SECRET_KEY", SECRET.into()),
        ("MISSIVE_SDKAPPID", SDKAPPID.to_string()),
        ("MISSIVE_DB_POOL_SIZE", "8".into()),
        // The load sends between users it never imports (account rules are
        // tests/accounts.rs's subject, not the fault loop's).
        ("MISSIVE_ACCOUNTS__ALLOW_UNKNOWN", "true".into()),
        ("MISSIVE_PUSH__RETRY_BASE_MS", "100".into()),
        ("MISSIVE_PUSH__XIAOMI__PACKAGE_NAME", vendor::PACKAGE.into()),
        (
            "MISSIVE_PUSH__XIAOMI__APP_SECRET",
            vendor::APP_SECRET.into(),
        ),
        ("MISSIVE_PUSH__XIAOMI__BASE_URL", vendor.base_url()),
        (
            "RUST_LOG",
            std::env::var("MISSIVE_CHAOS_SERVICE_LOG").unwrap_or_else(|_| "info".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let migrated = std::process::Command::new(&opts.missive_bin)
        .arg("migrate")
        .envs(env_vars.iter().map(|(k, v)| (k, v)))
        .output()
        .with_context(|| format!("run {} migrate", opts.missive_bin.display()))?;
    anyhow::ensure!(
        migrated.status.success(),
        "missive migrate failed: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let mut services = Vec::new();
    for kind in [Kind::Ingest, Kind::Projector, Kind::Delivery] {
        let mut s = Service::new(kind, &opts.missive_bin, &env_vars, &dir)?;
        s.start().await?;
        services.push(s);
    }
    let verifier = UserSigVerifier::new(SDKAPPID, SecretString::from(SECRET));
    let now = missive_core::time::now_secs();
    let rest = RestClient::new(
        services[0].addr,
        SDKAPPID,
        ADMIN,
        &verifier.generate(ADMIN, 86_400, now),
    );
    let mut env = Env {
        pg,
        broker,
        services,
        vendor,
        rest,
        verifier,
    };

    // Offline recipients register a push token; online ones connect two devices each.
    let stop = CancellationToken::new();
    let mut tokens: HashMap<String, String> = HashMap::new();
    for i in 0..opts.offline {
        let user = format!("offline{i}");
        let token = format!("mi-token-{i}");
        let body = json!({"From_Account": user, "DeviceId": "phone", "Platform": "xiaomi", "Token": token});
        match env
            .rest
            .call_until_done("missive_push/set_token", &body, &stop)
            .await
        {
            Some(Ok(_)) => {}
            other => anyhow::bail!("set_token for {user}: {other:?}"),
        }
        tokens.insert(user, token);
    }
    let mut devices = Vec::new();
    let delivery_addr = env.service(Kind::Delivery).addr;
    for i in 0..opts.online {
        let user = format!("online{i}");
        let sig = env.verifier.generate(&user, 86_400, now);
        for d in ["phone", "laptop"] {
            let device = Arc::new(Device::new(&user, d));
            tokio::spawn(device.clone().run(delivery_addr, sig.clone(), stop.clone()));
            devices.push(device);
        }
    }
    let recipients: Vec<String> = (0..opts.online)
        .map(|i| format!("online{i}"))
        .chain((0..opts.offline).map(|i| format!("offline{i}")))
        .collect();

    let log = Arc::new(Mutex::new(SendLog::default()));
    let mut rounds = Vec::new();
    let result = async {
        for round in 1..=opts.rounds {
            let r = run_round(round, &opts, &mut env, &recipients, &devices, &tokens, &log).await?;
            tracing::info!(round, clean = r.findings.clean(), "round done");
            rounds.push(r);
        }
        anyhow::Ok(())
    }
    .await;
    stop.cancel();
    drop(env);
    result?;
    let report = Report {
        rounds,
        work_dir: dir.clone(),
    };
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    Ok(report)
}

async fn run_round(
    round: u32,
    opts: &Options,
    env: &mut Env,
    recipients: &[String],
    devices: &[Arc<Device>],
    tokens: &HashMap<String, String>,
    log: &Arc<Mutex<SendLog>>,
) -> anyhow::Result<RoundReport> {
    let started = Instant::now();
    let stop_sending = CancellationToken::new();
    let give_up = CancellationToken::new();
    let interval = Duration::from_secs_f64(opts.senders as f64 / opts.rate.max(0.1));
    let before = {
        let l = log.lock().expect("send log");
        (l.retries, l.abandoned.len(), l.refused.len())
    };
    let mut senders = Vec::new();
    for i in 0..opts.senders {
        // Each sender talks to every recipient in turn, from its own offset.
        let mut mine = recipients.to_vec();
        mine.rotate_left(i % recipients.len().max(1));
        senders.push(tokio::spawn(load::run_sender(
            env.rest.clone(),
            format!("sender{i}"),
            mine,
            interval,
            stop_sending.clone(),
            give_up.clone(),
            log.clone(),
        )));
    }

    let mut faults = Vec::new();
    let mut service_exits = Vec::new();
    tokio::time::sleep(opts.settle).await;
    for (i, &fault) in opts.faults.iter().enumerate() {
        tracing::info!(round, ?fault, "fault");
        faults.push(FaultRecord {
            fault,
            at_ms: started.elapsed().as_millis() as u64,
        });
        match fault {
            Fault::KillIngest | Fault::KillProjector | Fault::KillDelivery => {
                let kind = match fault {
                    Fault::KillIngest => Kind::Ingest,
                    Fault::KillProjector => Kind::Projector,
                    _ => Kind::Delivery,
                };
                env.service(kind).kill9();
                tokio::time::sleep(opts.downtime).await;
                env.service(kind).start().await?;
            }
            Fault::RestartBroker => {
                env.broker.kill();
                tokio::time::sleep(opts.downtime).await;
                env.broker.start_process().await?;
            }
            Fault::RestartPostgres => {
                env.pg.stop_immediate()?;
                tokio::time::sleep(opts.downtime).await;
                env.pg.start_server().await?;
            }
            Fault::CutClient => {
                devices[i % devices.len()].cut.notify_one();
            }
        }
        tokio::time::sleep(opts.settle).await;
        for s in &mut env.services {
            if let Some(status) = s.exited() {
                service_exits.push(format!(
                    "{} exited ({status}) after {fault:?}; see {}",
                    s.kind.name(),
                    s.log_path().display()
                ));
                s.start().await?;
            }
        }
    }

    stop_sending.cancel();
    let give_up_timer = {
        let give_up = give_up.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            give_up.cancel();
        })
    };
    for s in senders {
        s.await?;
    }
    give_up_timer.abort();

    let (acked, retries, abandoned, refused) = {
        let l = log.lock().expect("send log");
        (
            l.acked.clone(),
            l.retries - before.0,
            l.abandoned.len() - before.1,
            l.refused[before.2..].to_vec(),
        )
    };
    let (db, conn) = tokio_postgres::connect(&env.pg.url("missive"), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let mut findings = verify::views(&db, &acked, Duration::from_secs(60)).await?;
    verify::devices(&mut findings, devices, &acked, Duration::from_secs(30)).await;
    // The push worker runs beside the projector: wait for it to catch up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut probe = verify::Findings::default();
        verify::pushes(
            &mut probe,
            &env.vendor.pushes.lock().expect("pushes"),
            &acked,
            tokens,
        );
        if probe.push_dropped == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    verify::pushes(
        &mut findings,
        &env.vendor.pushes.lock().expect("pushes"),
        &acked,
        tokens,
    );
    Ok(RoundReport {
        round,
        faults,
        service_exits,
        send_retries: retries,
        abandoned_sends: abandoned,
        refused_sends: refused,
        findings,
    })
}
