//! missive's projector: consumes the event log and maintains the PostgreSQL
//! views (history, inbox, sequence numbers) exactly once, with its consumer
//! offsets stored in the same transactions as the rows.

pub mod apply;
mod consumer;
pub mod janitor;
mod monitor;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use missive_core::Config;

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Bind(#[from] missive_core::net::BindError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Db(#[from] missive_core::db::DbError),
    #[error("retention sweep: {0}")]
    Janitor(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Registry(#[from] missive_core::registry::RegistryError),
    #[error(transparent)]
    Appender(#[from] missive_log::AppendSetupError),
    #[error("the consume loop panicked")]
    Panicked,
    #[error("stopped before the end of the log: the rebuild is partial")]
    Stopped,
}

/// Connections of the consume loop's own pool. The loop uses one at a time;
/// the second lets a replacement open while a broken one is dropped.
const CONSUME_POOL_SIZE: usize = 2;

pub struct Projector {
    config: Arc<Config>,
    pool: deadpool_postgres::Pool,
    listener: TcpListener,
    schema_ids: missive_schemas::framing::SchemaIds,
    appender: missive_log::EventAppender,
}

impl Projector {
    pub async fn bind(config: Arc<Config>) -> Result<Self, ProjectorError> {
        let appender = missive_log::EventAppender::connect(&config).await?;
        Self::bind_with(config, appender).await
    }

    /// [`bind`](Self::bind), dead-lettering through `appender`: the services
    /// of one process share one producer (`missive dev`).
    pub async fn bind_with(
        config: Arc<Config>,
        appender: missive_log::EventAppender,
    ) -> Result<Self, ProjectorError> {
        missive_core::kafka::ensure_topics(
            &config,
            &[config.events_topic(), config.events_dlq_topic()],
        )
        .await?;
        let pool = missive_core::db::pool(
            &config.database_url,
            config.db_pool_size,
            "missive-projector",
        )?;
        // Registry ids of the released schemas, to read Confluent-framed records.
        let (_, schema_ids) = missive_core::registry::events_framing(&config).await?;
        let listener = missive_core::net::bind(config.projector.listen).await?;
        Ok(Self {
            config,
            pool,
            listener,
            schema_ids,
            appender,
        })
    }

    /// The health/metrics listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Projects until `shutdown` fires; the batch in hand is committed first.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        let progress = monitor::Progress::new(&self.config);
        let ops = missive_core::telemetry::ops_routes::<()>(
            "projector",
            Some(self.pool.clone()),
            vec![Arc::new(progress.clone())],
        );
        let monitor =
            tokio::spawn(progress.run(self.config.clone(), self.pool.clone(), shutdown.clone()));
        tracing::info!(addr = %self.local_addr(), "projector health/metrics listening");
        let server = tokio::spawn(
            axum::serve(self.listener, ops)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        );
        let janitor = tokio::spawn(janitor::run(
            self.pool.clone(),
            self.config.clone(),
            shutdown.clone(),
        ));
        // librdkafka's consumer is polled synchronously; each loop gets its
        // own thread so PostgreSQL work (driven through the runtime handle)
        // never blocks a runtime worker.
        let loops = self.config.projector.loops.max(1);
        let mut threads = Vec::with_capacity(loops);
        for i in 0..loops {
            let consume = consumer::ConsumeLoop {
                pool: missive_core::db::pool(
                    &self.config.database_url,
                    CONSUME_POOL_SIZE,
                    "missive-projector",
                )?,
                config: self.config.clone(),
                stop: shutdown.clone(),
                replay: None,
                schema_ids: self.schema_ids.clone(),
                appender: self.appender.clone(),
                member: match i {
                    0 => "projector".to_owned(),
                    i => format!("projector.{i}"),
                },
            };
            threads.push(spawn_loop("projector-consume", consume));
        }
        let result = join_loops(threads, &shutdown).await;
        shutdown.cancel();
        let _ = server.await;
        let _ = janitor.await;
        let _ = monitor.await;
        result
    }
}

pub async fn run(config: Arc<Config>, shutdown: CancellationToken) -> Result<(), ProjectorError> {
    Projector::bind(config).await?.run(shutdown).await
}

/// A consume loop on a thread of its own, named `name`.
fn spawn_loop(
    name: &str,
    consume: consumer::ConsumeLoop,
) -> std::thread::JoinHandle<rdkafka::error::KafkaResult<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || consume.run())
        .expect("spawn a consume loop's thread")
}

/// Waits for every consume loop's thread. The first that fails (or
/// panics) stops the others, which commit the batch in hand and return:
/// partitions left without a loop would never move (a replay would never
/// finish, a service would look alive and project only part of the log).
async fn join_loops(
    threads: Vec<std::thread::JoinHandle<rdkafka::error::KafkaResult<()>>>,
    stop: &CancellationToken,
) -> Result<(), ProjectorError> {
    let mut running: Vec<_> = threads
        .into_iter()
        .map(|t| tokio::task::spawn_blocking(move || t.join()))
        .collect();
    let mut result = Ok(());
    while !running.is_empty() {
        let (joined, _, rest) = futures::future::select_all(running).await;
        running = rest;
        let outcome = match joined {
            Ok(Ok(Ok(()))) => continue,
            Ok(Ok(Err(e))) => Err(ProjectorError::Kafka(e)),
            Ok(Err(_)) | Err(_) => Err(ProjectorError::Panicked),
        };
        stop.cancel();
        if result.is_ok() {
            result = outcome;
        }
    }
    result
}

/// Counters a replay advances as it commits; read them from another task to
/// show progress.
#[derive(Debug, Default)]
pub struct ReplayProgress {
    events: AtomicU64,
    bytes: AtomicU64,
    /// Events in the log when the replay started.
    pub total: AtomicU64,
}

impl ReplayProgress {
    pub(crate) fn add(&self, events: u64, bytes: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// (events, bytes) committed so far.
    pub fn done(&self) -> (u64, u64) {
        (
            self.events.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// The end offset of every partition of the events topic, now.
fn end_offsets(config: &Config) -> Result<BTreeMap<i32, i64>, ProjectorError> {
    let topic = config.events_topic();
    let consumer: BaseConsumer = missive_core::kafka::base_config(config, "replay").create()?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
    let mut ends = BTreeMap::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (_, high) = consumer.fetch_watermarks(&topic, p.id(), timeout)?;
            ends.insert(p.id(), high);
        }
    }
    Ok(ends)
}

/// Events per transaction of a replay (`missive replay --batch`). A batch
/// takes each user's inbox cursor, each conversation's seq counter and each
/// contact count once, however many of its events touch them, so larger
/// batches write fewer rows per event: 20,000 rebuilt 10% faster than 5,000
/// in two loops (docs/benchmarks.md, step 28). Each loop holds one batch.
pub const REPLAY_BATCH: usize = 20_000;

/// How many consume loops a replay runs (the partitions dealt out among
/// them, each loop with its own connections): `projector.replay_loops`, or
/// one per core, never more than there are partitions.
pub fn replay_loops(config: &Config, partitions: usize) -> usize {
    let wanted = match config.projector.replay_loops {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    wanted.clamp(1, partitions.max(1))
}

/// `partitions` dealt round into `shares` shares: share i takes every
/// shares-th one from the i-th (a replay's loops; a behind loop and its
/// catch-up loops, the first share staying with the loop).
fn deal_partitions(partitions: &[i32], shares: usize) -> Vec<Vec<i32>> {
    let shares = shares.max(1);
    let mut out = vec![Vec::new(); shares];
    for (i, p) in partitions.iter().enumerate() {
        out[i % shares].push(*p);
    }
    out
}

/// Rebuilds every view from offset 0: projects the events topic, as it is
/// when called, into the (fresh, migrated) database of `config`, through the
/// same code as the live projector, and returns when it has caught up with
/// the end offsets. `config.projector.group_id` should be unused (offsets of
/// the target database decide where each partition starts).
pub async fn replay(
    config: Arc<Config>,
    progress: Arc<ReplayProgress>,
    stop: CancellationToken,
) -> Result<(), ProjectorError> {
    // Its own token: a loop that fails stops the others, not the caller.
    let stop = stop.child_token();
    let end = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || end_offsets(&config))
            .await
            .map_err(|_| ProjectorError::Panicked)??
    };
    progress.total.store(
        end.values().map(|&o| o.max(0) as u64).sum(),
        Ordering::Relaxed,
    );
    let (_, schema_ids) = missive_core::registry::events_framing(&config).await?;
    let pool = missive_core::db::pool(&config.database_url, config.db_pool_size, "missive-replay")?;
    let loops = replay_loops(&config, end.len());
    let appender = missive_log::EventAppender::connect(&config).await?;
    let partitions: Vec<i32> = end.keys().copied().collect();
    let mut threads = Vec::with_capacity(loops);
    for partitions in deal_partitions(&partitions, loops) {
        let consume = consumer::ConsumeLoop {
            config: config.clone(),
            pool: missive_core::db::pool(
                &config.database_url,
                CONSUME_POOL_SIZE,
                "missive-replay",
            )?,
            schema_ids: schema_ids.clone(),
            appender: appender.clone(),
            stop: stop.clone(),
            member: "replay".to_owned(),
            replay: Some(consumer::ReplayTarget {
                end: end.clone(),
                partitions,
                progress: progress.clone(),
            }),
        };
        threads.push(spawn_loop("projector-replay", consume));
    }
    join_loops(threads, &stop).await?;
    // The caller's stop (Ctrl-C) ends the loops as quietly as the end of the
    // log does: a partial rebuild is neither swept nor reported as done.
    if stop.is_cancelled() && !reached_end(&pool, &config.events_topic(), &end).await {
        return Err(ProjectorError::Stopped);
    }
    // Retention as the live janitor applies it, so rebuilt = live.
    janitor::sweep(&pool, &config, missive_core::time::now_millis())
        .await
        .map_err(ProjectorError::Janitor)?;
    Ok(())
}

/// Whether the offsets stored in PostgreSQL reached `end` (false when they
/// cannot be read).
async fn reached_end(
    pool: &deadpool_postgres::Pool,
    topic: &str,
    end: &BTreeMap<i32, i64>,
) -> bool {
    let stored = async {
        let client = pool.get().await.ok()?;
        let load = client
            .prepare_cached(include_str!("sql/load_offsets.sql"))
            .await
            .ok()?;
        let rows = client.query(&load, &[&topic]).await.ok()?;
        Some(
            rows.iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect::<std::collections::HashMap<i32, i64>>(),
        )
    }
    .await;
    stored.is_some_and(|stored| consumer::reached(end, &stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loop that fails stops the others: each of these runs until stopped.
    #[tokio::test]
    async fn a_failing_loop_stops_the_others_and_its_error_is_returned() {
        let stop = CancellationToken::new();
        let waiting = |stop: CancellationToken| {
            std::thread::spawn(move || {
                while !stop.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
        };
        let failing = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            Err(rdkafka::error::KafkaError::Subscription("gone".into()))
        });
        let threads = vec![waiting(stop.clone()), failing, waiting(stop.clone())];
        let result = tokio::time::timeout(Duration::from_secs(10), join_loops(threads, &stop))
            .await
            .expect("the other loops were stopped");
        assert!(
            matches!(result, Err(ProjectorError::Kafka(_))),
            "{result:?}"
        );
        assert!(stop.is_cancelled());
    }

    #[test]
    fn partitions_are_dealt_round_and_the_first_share_stays() {
        assert_eq!(deal_partitions(&[0, 1], 2), vec![vec![0], vec![1]]);
        assert_eq!(
            deal_partitions(&[0, 1, 2, 3, 4], 2),
            vec![vec![0, 2, 4], vec![1, 3]]
        );
        assert_eq!(
            deal_partitions(&[3, 5, 7], 3),
            vec![vec![3], vec![5], vec![7]]
        );
        assert_eq!(deal_partitions(&[1], 1), vec![vec![1]]);
    }

    #[test]
    fn a_replay_runs_a_loop_per_core_but_never_more_than_the_partitions() {
        let mut config = Config::default();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(replay_loops(&config, 64), cores.min(64));
        assert_eq!(replay_loops(&config, 1), 1);
        assert_eq!(replay_loops(&config, 0), 1);
        config.projector.replay_loops = 3;
        assert_eq!(replay_loops(&config, 8), 3);
        assert_eq!(replay_loops(&config, 2), 2);
    }
}
