//! Is projection keeping up? Once a second this compares the log's end
//! offsets with the offsets the views are at (in PostgreSQL, shared by the
//! whole consumer group), exports the lag per partition, and marks the
//! projector not ready when events wait and no offset has moved for
//! `projector.stall_after_ms`: a poisoned batch, a lost assignment, a hung
//! database. It watches the group's stored offsets rather than this
//! instance's assignment, so it also sees a group that projects nothing
//! because no member owns the partitions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use missive_core::kafka::LinkHealth;
use missive_core::telemetry::ReadinessProbe;
use missive_core::Config;

const INTERVAL: Duration = Duration::from_secs(1);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(2);

/// What the last sample saw; `/readyz` reads it.
#[derive(Debug)]
struct Sample {
    /// When the sample was taken; none yet before the first.
    at: Option<Instant>,
    broker: Result<(), String>,
    postgres: Result<(), String>,
    /// Per partition: events in the log not yet in the views.
    lag: BTreeMap<i32, i64>,
    /// Per lagging partition: since when its stored offset has not moved.
    waiting_since: BTreeMap<i32, Instant>,
}

/// The projector's progress, as a readiness probe.
#[derive(Clone)]
pub struct Progress {
    sample: Arc<Mutex<Sample>>,
    stall_after: Duration,
}

impl Progress {
    pub fn new(config: &Config) -> Self {
        Self {
            sample: Arc::new(Mutex::new(Sample {
                at: None,
                broker: Err("not checked yet".into()),
                postgres: Err("not checked yet".into()),
                lag: BTreeMap::new(),
                waiting_since: BTreeMap::new(),
            })),
            stall_after: Duration::from_millis(config.projector.stall_after_ms),
        }
    }

    /// Samples every second until `stop`.
    pub async fn run(self, config: Arc<Config>, pool: Pool, stop: CancellationToken) {
        let topic = config.events_topic();
        let (consumer, link) =
            match missive_core::kafka::watched_consumer(&config, "projector-monitor") {
                Ok((c, link)) => (Some(Arc::new(c)), Some(link)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot create the lag monitor's Kafka client");
                    (None, None)
                }
            };
        let mut stored_before: BTreeMap<i32, i64> = BTreeMap::new();
        loop {
            let ends = match &consumer {
                // Offsets can come from librdkafka's caches: the connection
                // state says whether the broker is there.
                Some(_) if link.as_ref().is_some_and(|l| l.is_down()) => {
                    Err("no broker connection is up".to_owned())
                }
                Some(c) => {
                    let (c, t) = (c.clone(), topic.clone());
                    tokio::task::spawn_blocking(move || end_offsets(&c, &t))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                }
                None => Err("no Kafka client".to_owned()),
            };
            let stored = stored_offsets(&pool, &topic).await;
            self.record(ends, stored, &mut stored_before);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(INTERVAL) => {}
            }
        }
    }

    fn record(
        &self,
        ends: Result<BTreeMap<i32, i64>, String>,
        stored: Result<BTreeMap<i32, i64>, String>,
        stored_before: &mut BTreeMap<i32, i64>,
    ) {
        let now = Instant::now();
        let mut sample = self.sample.lock().expect("monitor lock");
        sample.at = Some(now);
        sample.broker = ends.as_ref().map(|_| ()).map_err(Clone::clone);
        sample.postgres = stored.as_ref().map(|_| ()).map_err(Clone::clone);
        // Without both sides the lag is unknown: keep the last one, and the
        // waiting clocks running.
        let (Ok(ends), Ok(stored)) = (ends, stored) else {
            return;
        };
        let mut lag = BTreeMap::new();
        for (&p, &end) in &ends {
            let at = stored.get(&p).copied().unwrap_or(0);
            let behind = (end - at).max(0);
            lag.insert(p, behind);
            metrics::gauge!("missive_projector_lag_events", "partition" => p.to_string())
                .set(behind as f64);
            let moved = stored_before.get(&p) != Some(&at);
            if behind == 0 || moved {
                sample.waiting_since.remove(&p);
            }
            if behind > 0 {
                sample.waiting_since.entry(p).or_insert(now);
            }
        }
        let oldest = sample
            .waiting_since
            .values()
            .map(|t| now.duration_since(*t).as_secs_f64())
            .fold(0.0, f64::max);
        metrics::gauge!("missive_projector_stalled_seconds").set(oldest);
        sample.lag = lag;
        *stored_before = stored;
    }
}

impl ReadinessProbe for Progress {
    fn name(&self) -> &'static str {
        "projection"
    }

    fn check(&self) -> Result<Value, Value> {
        let sample = self.sample.lock().expect("monitor lock");
        let Some(at) = sample.at else {
            return Err(json!("starting: no sample yet"));
        };
        let now = Instant::now();
        let waiting = sample
            .waiting_since
            .values()
            .map(|t| now.duration_since(*t))
            .max()
            .unwrap_or_default();
        let detail = json!({
            "broker": match &sample.broker { Ok(()) => "ok".to_owned(), Err(e) => format!("error: {e}") },
            "lag": sample.lag.values().sum::<i64>(),
            "lag_by_partition": sample.lag,
            // Events are waiting and no offset has moved for this long.
            "stalled_seconds": waiting.as_secs_f64(),
            "sampled_ms_ago": now.duration_since(at).as_millis() as u64,
        });
        let stalled = !sample.waiting_since.is_empty() && waiting >= self.stall_after;
        let ok = sample.broker.is_ok()
            && sample.postgres.is_ok()
            && !stalled
            && now.duration_since(at) < self.stall_after.max(INTERVAL * 5);
        if ok {
            Ok(detail)
        } else {
            Err(detail)
        }
    }
}

/// The log end offset of every partition of `topic`.
fn end_offsets(
    consumer: &BaseConsumer<LinkHealth>,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, String> {
    // Serves the client's callbacks: its statistics keep `LinkHealth` current.
    let _ = consumer.poll(Duration::ZERO);
    let metadata = consumer
        .fetch_metadata(Some(topic), KAFKA_TIMEOUT)
        .map_err(|e| e.to_string())?;
    let mut ends = BTreeMap::new();
    for t in metadata.topics() {
        if let Some(e) = t.error() {
            return Err(format!("topic {topic}: {e:?}"));
        }
        for p in t.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(topic, p.id(), KAFKA_TIMEOUT)
                .map_err(|e| e.to_string())?;
            ends.insert(p.id(), high);
        }
    }
    Ok(ends)
}

/// The offsets the views are at (partitions never projected are absent).
async fn stored_offsets(pool: &Pool, topic: &str) -> Result<BTreeMap<i32, i64>, String> {
    let read = async {
        let client = pool.get().await.map_err(|e| e.to_string())?;
        let stmt = client
            .prepare_cached(include_str!("sql/load_offsets.sql"))
            .await
            .map_err(|e| e.to_string())?;
        let rows = client
            .query(&stmt, &[&topic])
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    };
    tokio::time::timeout(KAFKA_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Err("no answer within 2 s".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(stall_after_ms: u64) -> Progress {
        let mut config = Config::default();
        config.projector.stall_after_ms = stall_after_ms;
        Progress::new(&config)
    }

    fn offsets(v: &[(i32, i64)]) -> Result<BTreeMap<i32, i64>, String> {
        Ok(v.iter().copied().collect())
    }

    #[test]
    fn lag_that_does_not_move_turns_not_ready_and_progress_turns_ready() {
        let p = progress(0);
        let mut before = BTreeMap::new();
        assert!(p.check().is_err(), "not ready before the first sample");
        // Caught up: ready.
        p.record(
            offsets(&[(0, 5), (1, 3)]),
            offsets(&[(0, 5), (1, 3)]),
            &mut before,
        );
        assert!(p.check().is_ok());
        // Two events wait on partition 1 and its offset does not move: with
        // a zero threshold that is a stall at once.
        p.record(
            offsets(&[(0, 5), (1, 5)]),
            offsets(&[(0, 5), (1, 3)]),
            &mut before,
        );
        p.record(
            offsets(&[(0, 5), (1, 5)]),
            offsets(&[(0, 5), (1, 3)]),
            &mut before,
        );
        let detail = p.check().expect_err("stalled");
        assert_eq!(detail["lag"], 2);
        // It moves (still behind): not a stall.
        let p = progress(60_000);
        let mut before = BTreeMap::new();
        p.record(offsets(&[(0, 9)]), offsets(&[(0, 1)]), &mut before);
        p.record(offsets(&[(0, 9)]), offsets(&[(0, 4)]), &mut before);
        assert!(p.check().is_ok());
    }

    #[test]
    fn an_unreachable_broker_or_database_is_not_ready() {
        let p = progress(60_000);
        let mut before = BTreeMap::new();
        p.record(Err("down".into()), offsets(&[(0, 1)]), &mut before);
        assert!(p.check().is_err());
        p.record(offsets(&[(0, 1)]), Err("down".into()), &mut before);
        assert!(p.check().is_err());
        p.record(offsets(&[(0, 1)]), offsets(&[(0, 1)]), &mut before);
        assert!(p.check().is_ok());
    }
}
