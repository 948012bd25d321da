//! The projector's consume loop, on a dedicated thread with a `BaseConsumer`.
//!
//! Offsets live in PostgreSQL, not in Kafka: on every assignment the
//! rebalance callback reads them and assigns the partitions at exactly those
//! offsets; every batch advances them in the same transaction as the view
//! rows it wrote, fenced on the value it expects, so a crash, a kill or a
//! zombie instance after a rebalance can neither lose nor double an event.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::util::Timeout;
use rdkafka::ClientContext;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use missive_core::views::INBOX_CHANNEL;
use missive_core::Config;
use missive_schemas::{Envelope, EventCodec};

use crate::apply;

/// `pg_notify` payloads must stay under 8000 bytes.
const NOTIFY_PAYLOAD_MAX: usize = 7_000;

/// Partitions this instance owns and the offset PostgreSQL holds for each.
#[derive(Default)]
struct Ownership {
    generation: u64,
    next: HashMap<i32, i64>,
}

struct OffsetsContext {
    handle: Handle,
    pool: Pool,
    topic: String,
    ownership: Arc<Mutex<Ownership>>,
    stop: CancellationToken,
}

impl ClientContext for OffsetsContext {}

impl ConsumerContext for OffsetsContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let mut own = self.ownership.lock().expect("ownership lock");
        own.generation += 1;
        own.next.clear();
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                tracing::warn!(?err, "rebalance error; unassigning");
            }
            let _ = consumer.unassign();
            return;
        }
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let offsets = loop {
            match self
                .handle
                .block_on(load_offsets(&self.pool, &self.topic, &partitions))
            {
                Ok(o) => break o,
                Err(e) if !self.stop.is_cancelled() => {
                    tracing::warn!(error = %e, "cannot read offsets from PostgreSQL; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(_) => {
                    let _ = consumer.unassign();
                    return;
                }
            }
        };
        for (&p, &o) in &offsets {
            let _ = tpl.set_partition_offset(&self.topic, p, Offset::Offset(o));
            own.next.insert(p, o);
        }
        tracing::info!(
            ?offsets,
            "partitions assigned at the offsets stored in PostgreSQL"
        );
        if let Err(e) = consumer.assign(tpl) {
            tracing::error!(error = %e, "assign failed");
        }
    }
}

/// Stored offsets of `partitions`, creating missing rows at 0 (the start of the log).
async fn load_offsets(
    pool: &Pool,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, Box<dyn std::error::Error + Send + Sync>> {
    let client = pool.get().await?;
    let insert = client
        .prepare_cached(include_str!("sql/insert_offset.sql"))
        .await?;
    for p in partitions {
        client.execute(&insert, &[&topic, p, &0i64]).await?;
    }
    let load = client
        .prepare_cached(include_str!("sql/load_offsets.sql"))
        .await?;
    let all: HashMap<i32, i64> = client
        .query(&load, &[&topic])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(partitions.iter().map(|p| (*p, all[p])).collect())
}

/// A record that does not decode, bound for the dead-letter topic.
struct DeadLetter {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    reason: String,
}

/// Events read but not yet committed.
struct Pending {
    generation: u64,
    started: Instant,
    events: Vec<Envelope>,
    dead: Vec<DeadLetter>,
    /// Per partition: (first offset, last offset) in this batch.
    ranges: BTreeMap<i32, (i64, i64)>,
    /// Payload bytes read, for progress reports.
    bytes: u64,
}

impl Pending {
    fn new(generation: u64) -> Self {
        Self {
            generation,
            started: Instant::now(),
            events: Vec::new(),
            dead: Vec::new(),
            ranges: BTreeMap::new(),
            bytes: 0,
        }
    }

    fn len(&self) -> usize {
        self.events.len() + self.dead.len()
    }
}

enum FlushError {
    /// Another instance advanced an offset: this batch is not ours to write.
    Fenced,
    Retry(String),
}

/// Where a replay stops and how far it got.
pub(crate) struct ReplayTarget {
    /// Per partition, the log's end offset when the replay started.
    pub end: BTreeMap<i32, i64>,
    pub progress: Arc<crate::ReplayProgress>,
}

pub(crate) struct ConsumeLoop {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub handle: Handle,
    pub stop: CancellationToken,
    /// `None` projects forever (the service); `Some` stops at the end offsets.
    pub replay: Option<ReplayTarget>,
    /// Registry ids of the schemas this build reads (Confluent framing).
    pub schema_ids: missive_schemas::framing::SchemaIds,
}

impl ConsumeLoop {
    pub fn run(self) -> KafkaResult<()> {
        let topic = self.config.events_topic();
        let dlq_topic = self.config.events_dlq_topic();
        let ownership = Arc::new(Mutex::new(Ownership::default()));
        let context = OffsetsContext {
            handle: self.handle.clone(),
            pool: self.pool.clone(),
            topic: topic.clone(),
            ownership: ownership.clone(),
            stop: self.stop.clone(),
        };
        let mut settings = missive_core::kafka::consumer_config(&self.config, "projector");
        settings
            .set("group.id", &self.config.projector.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        if self.replay.is_none() {
            // A static member restarted after a crash takes its partitions
            // back at once (docs/faults.md). A replay is a one-off group of
            // its own: there the static join only costs time on tansu.
            settings.set(
                "group.instance.id",
                format!("{}.projector", self.config.instance_id),
            );
        }
        let consumer: BaseConsumer<OffsetsContext> = settings.create_with_context(context)?;
        consumer.subscribe(&[&topic])?;
        let dlq: FutureProducer = missive_core::kafka::producer(&self.config)?;
        let linger = Duration::from_millis(self.config.projector.batch_linger_ms);
        let batch_max = self.config.projector.batch_max.max(1);
        let limits = apply::Limits {
            recent_contacts_max: self.config.views.recent_contacts_max.max(1),
        };
        let mut pending = Pending::new(0);
        tracing::info!(%topic, group = %self.config.projector.group_id, "projector consuming");

        loop {
            let stopping = self.stop.is_cancelled();
            let generation = ownership.lock().expect("ownership lock").generation;
            if pending.generation != generation {
                // A rebalance happened: what was read before it is re-read by
                // whoever owns the partitions now, from the stored offsets.
                pending = Pending::new(generation);
            }
            let due = pending.len() >= batch_max
                || (pending.len() > 0 && pending.started.elapsed() >= linger)
                || stopping;
            if due && pending.len() > 0 {
                let batch = std::mem::replace(&mut pending, Pending::new(generation));
                match self.flush(&batch, &topic, &dlq_topic, &dlq, &ownership, limits) {
                    Ok(()) => {}
                    Err(FlushError::Fenced) => {
                        tracing::warn!("offsets moved under us; re-reading from PostgreSQL");
                        self.reseek(&consumer, &topic, &ownership);
                    }
                    Err(FlushError::Retry(e)) => {
                        tracing::warn!(error = %e, "batch not committed; retrying");
                        if stopping {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(500));
                        pending = batch;
                        continue;
                    }
                }
            }
            if stopping || (pending.len() == 0 && self.replay_done(&ownership)) {
                break;
            }
            let wait = if pending.len() == 0 {
                Duration::from_millis(100)
            } else {
                linger.saturating_sub(pending.started.elapsed())
            };
            let Some(result) = consumer.poll(Timeout::After(wait)) else {
                continue;
            };
            let msg = match result {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "consume error");
                    continue;
                }
            };
            let (partition, offset) = (msg.partition(), msg.offset());
            let own = ownership.lock().expect("ownership lock");
            if own.generation != pending.generation {
                continue; // read across a rebalance; the loop head resets the batch
            }
            let expected = pending
                .ranges
                .get(&partition)
                .map(|r| r.1 + 1)
                .or_else(|| own.next.get(&partition).copied());
            drop(own);
            match expected {
                None => continue,                  // not (or no longer) ours
                Some(e) if offset < e => continue, // already applied
                Some(_) => {}
            }
            if pending.len() == 0 {
                pending.started = Instant::now();
            }
            pending
                .ranges
                .entry(partition)
                .and_modify(|r| r.1 = offset)
                .or_insert((offset, offset));
            let payload = msg.payload().unwrap_or_default();
            pending.bytes += payload.len() as u64;
            match EventCodec::get().decode_framed(payload, &self.schema_ids) {
                Ok(env) => pending.events.push(env),
                Err(e) => pending.dead.push(DeadLetter {
                    partition,
                    offset,
                    key: msg.key().map(<[u8]>::to_vec),
                    payload: payload.to_vec(),
                    reason: e.to_string(),
                }),
            }
        }
        consumer.unsubscribe();
        tracing::info!("projector stopped");
        Ok(())
    }

    /// A replay is done once it owns every partition and has committed up
    /// to the end offsets it was given.
    fn replay_done(&self, ownership: &Arc<Mutex<Ownership>>) -> bool {
        let Some(target) = &self.replay else {
            return false;
        };
        let own = ownership.lock().expect("ownership lock");
        target
            .end
            .iter()
            .all(|(p, end)| own.next.get(p).is_some_and(|next| next >= end))
    }

    fn flush(
        &self,
        batch: &Pending,
        topic: &str,
        dlq_topic: &str,
        dlq: &FutureProducer,
        ownership: &Arc<Mutex<Ownership>>,
        limits: apply::Limits,
    ) -> Result<(), FlushError> {
        let started = Instant::now();
        let expected: BTreeMap<i32, i64> = {
            let own = ownership.lock().expect("ownership lock");
            if own.generation != batch.generation {
                return Err(FlushError::Fenced);
            }
            batch
                .ranges
                .keys()
                .map(|p| (*p, own.next.get(p).copied().unwrap_or(0)))
                .collect()
        };
        let applied = self.handle.block_on(async {
            // Dead letters first: they must be on their topic before the
            // offsets that skip them are committed.
            for d in &batch.dead {
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "missive.dlq.reason",
                        value: Some(d.reason.as_bytes()),
                    })
                    .insert(Header {
                        key: "missive.dlq.topic",
                        value: Some(topic.as_bytes()),
                    })
                    .insert(Header {
                        key: "missive.dlq.partition",
                        value: Some(d.partition.to_string().as_bytes()),
                    })
                    .insert(Header {
                        key: "missive.dlq.offset",
                        value: Some(d.offset.to_string().as_bytes()),
                    });
                let mut record = FutureRecord::to(dlq_topic)
                    .payload(&d.payload)
                    .headers(headers);
                if let Some(k) = &d.key {
                    record = record.key(k);
                }
                dlq.send(record, Timeout::After(Duration::from_secs(10)))
                    .await
                    .map_err(|(e, _)| FlushError::Retry(format!("dead-letter topic: {e}")))?;
                tracing::warn!(partition = d.partition, offset = d.offset, reason = %d.reason,
                    "undecodable event sent to the dead-letter topic");
            }
            // tokio-postgres prints only "db error"; the server's words say why.
            let retry = |e: tokio_postgres::Error| {
                FlushError::Retry(match e.as_db_error() {
                    Some(db) => format!("{} ({})", db.message(), db.code().code()),
                    None => e.to_string(),
                })
            };
            let mut client = self
                .pool
                .get()
                .await
                .map_err(|e| FlushError::Retry(e.to_string()))?;
            let tx = client.transaction().await.map_err(retry)?;
            let applied = apply::apply(&tx, &batch.events, limits)
                .await
                .map_err(retry)?;
            let advance = tx
                .prepare_cached(include_str!("sql/advance_offset.sql"))
                .await
                .map_err(retry)?;
            for (p, (_, last)) in &batch.ranges {
                let updated = tx
                    .execute(&advance, &[&topic, p, &expected[p], &(last + 1)])
                    .await
                    .map_err(retry)?;
                if updated != 1 {
                    return Err(FlushError::Fenced);
                }
            }
            for payload in notify_payloads(&applied.users) {
                tx.execute("SELECT pg_notify($1, $2)", &[&INBOX_CHANNEL, &payload])
                    .await
                    .map_err(retry)?;
            }
            tx.commit().await.map_err(retry)?;
            Ok(applied)
        })?;
        {
            let mut own = ownership.lock().expect("ownership lock");
            if own.generation == batch.generation {
                for (p, (_, last)) in &batch.ranges {
                    own.next.insert(*p, last + 1);
                }
            }
        }
        if let Some(target) = &self.replay {
            target.progress.add(batch.len() as u64, batch.bytes);
        }
        metrics::counter!("missive_projector_events_total").increment(batch.len() as u64);
        metrics::counter!("missive_projector_messages_total").increment(applied.messages as u64);
        metrics::counter!("missive_projector_duplicates_total")
            .increment(applied.duplicates as u64);
        metrics::counter!("missive_projector_dead_letters_total")
            .increment(batch.dead.len() as u64);
        metrics::histogram!("missive_projector_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("missive_projector_batch_events").record(batch.len() as f64);
        Ok(())
    }

    /// After being fenced: adopt the offsets PostgreSQL holds and seek there.
    fn reseek(
        &self,
        consumer: &BaseConsumer<OffsetsContext>,
        topic: &str,
        ownership: &Arc<Mutex<Ownership>>,
    ) {
        let partitions: Vec<i32> = ownership
            .lock()
            .expect("ownership lock")
            .next
            .keys()
            .copied()
            .collect();
        let Ok(offsets) = self
            .handle
            .block_on(load_offsets(&self.pool, topic, &partitions))
        else {
            return;
        };
        let mut own = ownership.lock().expect("ownership lock");
        own.generation += 1;
        for (p, o) in offsets {
            own.next.insert(p, o);
            if let Err(e) = consumer.seek(topic, p, Offset::Offset(o), Duration::from_secs(5)) {
                tracing::warn!(partition = p, error = %e, "seek failed");
            }
        }
    }
}

/// User ids joined by `,` (ids never contain one), split to fit `pg_notify`.
fn notify_payloads(users: &std::collections::BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for u in users {
        if !cur.is_empty() && cur.len() + 1 + u.len() > NOTIFY_PAYLOAD_MAX {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(',');
        }
        cur.push_str(u);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_payloads_stay_under_the_limit_and_keep_every_user() {
        let users: std::collections::BTreeSet<String> =
            (0..2000).map(|i| format!("user-{i:05}")).collect();
        let payloads = notify_payloads(&users);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= NOTIFY_PAYLOAD_MAX));
        let back: std::collections::BTreeSet<String> = payloads
            .iter()
            .flat_map(|p| p.split(',').map(str::to_owned))
            .collect();
        assert_eq!(back, users);
    }
}
