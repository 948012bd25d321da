//! The projector's consume loop, on a dedicated thread with a `BaseConsumer`.
//!
//! Offsets live in PostgreSQL, not in Kafka: on every assignment the
//! rebalance callback reads them and assigns the partitions at exactly those
//! offsets; every batch advances them in the same transaction as the view
//! rows it wrote, fenced on the value it expects, so a crash, a kill or a
//! zombie instance after a rebalance can neither lose nor double an event.
//!
//! No single event may stop the line. A batch that fails for a *permanent*
//! reason (PostgreSQL data errors, SQLSTATE classes 22 and 23: the event
//! itself cannot be stored) is split in halves until the one event is found;
//! that event goes to the dead-letter topic with the reason, its partition
//! and offset, and is skipped, and the rest commits. The split depends only
//! on the events and the views before them, so a replay skips the same
//! events (rebuild = live), and a skipped event takes no seq. *Transient*
//! failures (connection loss, serialization failure, deadlock, resources)
//! retry the batch with capped exponential backoff and jitter.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::util::Timeout;
use rdkafka::ClientContext;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use missive_core::views::INBOX_CHANNEL;
use missive_core::Config;
use missive_log::{DeadLetter, EventAppender};
use missive_schemas::{Envelope, EventCodec};

use crate::apply;

mod catch_up;

/// `pg_notify` payloads must stay under 8000 bytes.
const NOTIFY_PAYLOAD_MAX: usize = 7_000;

/// Partitions this instance owns and the offset PostgreSQL holds for each.
#[derive(Default)]
struct Ownership {
    generation: u64,
    next: HashMap<i32, i64>,
}

struct OffsetsContext {
    runtime: Arc<Runtime>,
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
        let Some(offsets) = load_offsets_until_stopped(
            &self.runtime,
            &self.pool,
            &self.topic,
            &partitions,
            &self.stop,
        ) else {
            let _ = consumer.unassign();
            return;
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

/// [`load_offsets`], retried each second while PostgreSQL cannot answer;
/// `None` once `stop` fires.
fn load_offsets_until_stopped(
    runtime: &Runtime,
    pool: &Pool,
    topic: &str,
    partitions: &[i32],
    stop: &CancellationToken,
) -> Option<BTreeMap<i32, i64>> {
    loop {
        match runtime.block_on(load_offsets(pool, topic, partitions)) {
            Ok(o) => return Some(o),
            Err(e) if !stop.is_cancelled() => {
                tracing::warn!(error = %e, "cannot read offsets from PostgreSQL; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(_) => return None,
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

/// A record read from the log and not yet committed.
struct Polled {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    /// The event, or why it is bound for the dead-letter topic instead.
    event: Result<Envelope, DeadReason>,
    /// Already on the dead-letter topic: a retry or a split of its batch
    /// does not send it again.
    dead_lettered: std::cell::Cell<bool>,
}

/// Why a record is dead-lettered: its `kind` labels the metric.
struct DeadReason {
    /// `decode` (not an event of ours) or `apply` (the views refuse it).
    kind: &'static str,
    detail: String,
}

/// Records read but not yet committed, in the order they were read (so
/// each prefix holds a prefix of every partition).
struct Pending {
    generation: u64,
    started: Instant,
    records: Vec<Polled>,
    /// Per partition, the last offset read into this batch.
    last: BTreeMap<i32, i64>,
    /// Payload bytes read, for progress reports.
    bytes: u64,
}

impl Pending {
    fn new(generation: u64) -> Self {
        Self {
            generation,
            started: Instant::now(),
            records: Vec::new(),
            last: BTreeMap::new(),
            bytes: 0,
        }
    }

    fn len(&self) -> usize {
        self.records.len()
    }
}

enum FlushError {
    /// Another instance advanced an offset: this batch is not ours to write.
    Fenced,
    /// Worth retrying as it is: the database or the broker is unavailable
    /// for now, or the transaction lost a race.
    Transient(String),
    /// The batch cannot be stored as it is, however often it is retried.
    Permanent(String),
}

/// Permanent when PostgreSQL refuses the batch's values
/// (`db::refuses_values`): they fail the same way on every retry.
fn classify(e: tokio_postgres::Error) -> FlushError {
    let why = missive_core::db::server_words(&e);
    if missive_core::db::refused_values(&e) {
        FlushError::Permanent(why)
    } else {
        FlushError::Transient(why)
    }
}

/// `d` rounded up to whole milliseconds. librdkafka's poll takes whole
/// milliseconds and rdkafka truncates, so the last fraction of a millisecond
/// of the batch's linger became polls that return at once: the projector's
/// thread spun on them until the linger ended (perf at 500 msg/s: 7% of
/// missive's CPU in `clock_gettime` under `poll_queue`).
fn whole_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX))
}

/// Capped exponential backoff with full jitter: attempt 0 waits up to
/// 100 ms, doubling up to 10 s, so projectors retrying the same outage do
/// not hit PostgreSQL in step.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = 100u64.saturating_mul(1 << attempt.min(7)).min(10_000);
    Duration::from_millis(rand::random_range(cap_ms / 4..=cap_ms))
}

/// Where a batch goes: the topics, the dead-letter producer, the partitions
/// this instance owns, the views' limits.
struct Sink<'a> {
    topic: &'a str,
    dlq_topic: &'a str,
    /// Writes the dead letters (the service's one producer).
    dlq: &'a EventAppender,
    ownership: &'a Arc<Mutex<Ownership>>,
    limits: apply::Limits,
    /// A delivery service in this process, if any, takes the new entries.
    feed: Arc<missive_core::live::Feed>,
}

/// The record as it was read, with headers saying why and where from.
async fn send_dead_letter(
    sink: &Sink<'_>,
    r: &Polled,
    dead: &DeadReason,
) -> Result<(), FlushError> {
    let partition = r.partition.to_string();
    let offset = r.offset.to_string();
    let letter = DeadLetter::new(sink.dlq_topic, &r.payload)
        .key(r.key.as_deref())
        .header(missive_log::dead_letter::REASON, &dead.detail)
        .header("missive.dlq.kind", dead.kind)
        .header("missive.dlq.topic", sink.topic)
        .header("missive.dlq.partition", &partition)
        .header("missive.dlq.offset", &offset);
    sink.dlq
        .dead_letter(&letter)
        .await
        .map_err(|e| FlushError::Transient(format!("dead-letter topic: {e}")))?;
    metrics::counter!("missive_projector_dead_letters_total", "reason" => dead.kind).increment(1);
    tracing::warn!(partition = r.partition, offset = r.offset, kind = dead.kind,
        reason = %dead.detail, "event sent to the dead-letter topic");
    Ok(())
}

/// Whether the next offsets `stored` in PostgreSQL have reached the log's
/// `end` offsets, partition by partition (an empty partition always has).
pub(crate) fn reached(end: &BTreeMap<i32, i64>, stored: &HashMap<i32, i64>) -> bool {
    end.iter()
        .all(|(p, end)| *end <= 0 || stored.get(p).is_some_and(|next| next >= end))
}

/// Where a replay stops and how far it got.
pub(crate) struct ReplayTarget {
    /// Per partition, the log's end offset when the replay started.
    pub end: BTreeMap<i32, i64>,
    /// The partitions this loop replays (the replay's other loops take the
    /// rest).
    pub partitions: Vec<i32>,
    pub progress: Arc<crate::ReplayProgress>,
}

pub(crate) struct ConsumeLoop {
    pub config: Arc<Config>,
    /// Used by this loop alone: its connections are driven by the loop's
    /// own runtime (see `run`).
    pub pool: Pool,
    pub stop: CancellationToken,
    /// `None` projects forever (the service); `Some` stops at the end offsets.
    pub replay: Option<ReplayTarget>,
    /// Registry ids of the schemas this build reads (Confluent framing).
    pub schema_ids: missive_schemas::framing::SchemaIds,
    /// Writes dead letters.
    pub appender: EventAppender,
    /// This loop's name in the group (`projector`, `projector.1`, ...):
    /// with a stable instance id, its static membership.
    pub member: String,
}

impl ConsumeLoop {
    /// Runs on a thread of its own until stopped (or, for a replay, done).
    ///
    /// Its database work runs on a single-threaded runtime owned by this
    /// thread, and the pool's connections are opened (so driven) there: a
    /// statement's round trip is this thread writing to the socket and
    /// waiting on it, not a hand-off to the service's tokio workers and back
    /// twice per statement, where it queued behind sends and pushes (perf at
    /// 1,000 msg/s: a batch of ~19 events took 12.8 ms, ~2 of them in
    /// PostgreSQL).
    pub fn run(self) -> KafkaResult<()> {
        let runtime = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the consume thread"),
        );
        let topic = self.config.events_topic();
        let dlq_topic = self.config.events_dlq_topic();
        let ownership = Arc::new(Mutex::new(Ownership::default()));
        let mut settings = missive_core::kafka::consumer_config(&self.config, "projector");
        settings
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        if self.replay.is_none() {
            missive_core::kafka::join_group(
                &self.config,
                &mut settings,
                &self.config.projector.group_id,
                &self.member,
            );
        } else {
            // A replay's loops are given their partitions (no group to join,
            // no rebalance); the id is only librdkafka's requirement.
            settings.set("group.id", &self.config.projector.group_id);
        }
        let subscribe = || -> KafkaResult<BaseConsumer<OffsetsContext>> {
            let context = OffsetsContext {
                runtime: runtime.clone(),
                pool: self.pool.clone(),
                topic: topic.clone(),
                ownership: ownership.clone(),
                stop: self.stop.clone(),
            };
            let consumer: BaseConsumer<OffsetsContext> = settings.create_with_context(context)?;
            match &self.replay {
                None => consumer.subscribe(&[&topic])?,
                Some(target) => consumer.assign(&self.replay_assignment(
                    &runtime,
                    &topic,
                    &target.partitions,
                    &ownership,
                )?)?,
            }
            Ok(consumer)
        };
        let mut consumer = subscribe()?;
        let linger = Duration::from_millis(self.config.projector.batch_linger_ms);
        let batch_max = self.config.projector.batch_max.max(1);
        let limits = apply::Limits {
            recent_contacts_max: self.config.views.recent_contacts_max.max(1),
        };
        let sink = Sink {
            topic: &topic,
            dlq_topic: &dlq_topic,
            dlq: &self.appender,
            ownership: &ownership,
            limits,
            feed: missive_core::live::Feed::for_topic(&topic),
        };
        let mut pending = Pending::new(0);
        let mut attempt = 0u32;
        // Whether the last poll found nothing waiting in the client: a batch
        // past its linger is written then, not while records it could take
        // are already here. With no linger this is natural batching: what
        // arrived while the last batch was written is the next batch.
        let mut caught_up = false;
        // Partitions lent to catch-up loops while this (service) loop is
        // behind, and the full batches in a row that say it is.
        let mut catch_up: Option<catch_up::CatchUp> = None;
        let mut full_batches = 0u32;
        tracing::info!(%topic, group = %self.config.projector.group_id, "projector consuming");

        loop {
            if let Some(lent) = catch_up.take_if(|c| c.due(&ownership)) {
                self.end_catch_up(&runtime, &consumer, &topic, &ownership, lent);
            }
            let stopping = self.stop.is_cancelled();
            let generation = ownership.lock().expect("ownership lock").generation;
            if pending.generation != generation {
                // A rebalance happened: what was read before it is re-read by
                // whoever owns the partitions now, from the stored offsets.
                pending = Pending::new(generation);
                attempt = 0;
            }
            let due = pending.len() >= batch_max
                || (pending.len() > 0 && caught_up && pending.started.elapsed() >= linger)
                || stopping;
            if due && pending.len() > 0 {
                let full = pending.len() >= batch_max;
                match self.flush_isolating(&runtime, &mut pending.records, generation, &sink) {
                    Ok(()) => {
                        attempt = 0;
                        pending = Pending::new(generation);
                        full_batches = if full { full_batches + 1 } else { 0 };
                        if full_batches >= catch_up::BEHIND_AFTER_FULL_BATCHES
                            && catch_up.is_none()
                            && self.replay.is_none()
                            && self.config.projector.catch_up_loops > 0
                        {
                            full_batches = 0;
                            catch_up = self.start_catch_up(&consumer, &topic, &ownership);
                        }
                    }
                    Err(FlushError::Fenced) => {
                        tracing::warn!("offsets moved under us; re-reading from PostgreSQL");
                        attempt = 0;
                        pending = Pending::new(generation);
                        self.reseek(&runtime, &consumer, &topic, &ownership);
                    }
                    Err(FlushError::Transient(e) | FlushError::Permanent(e)) => {
                        // (A permanent error is isolated inside; one that
                        // escapes came with no event to blame: retried.)
                        metrics::counter!("missive_projector_batch_retries_total").increment(1);
                        if stopping {
                            tracing::warn!(error = %e, "batch not committed; stopping");
                            break;
                        }
                        let pause = backoff(attempt);
                        attempt = attempt.saturating_add(1);
                        tracing::warn!(error = %e, retry_in = ?pause, attempt,
                            "batch not committed; retrying");
                        std::thread::sleep(pause);
                        // Whatever part of the batch did commit is skipped
                        // on the retry (its offsets moved).
                        continue;
                    }
                }
            }
            if stopping || (pending.len() == 0 && self.replay_done(&runtime, &topic)) {
                break;
            }
            let wait = if pending.len() == 0 {
                Duration::from_millis(100)
            } else {
                whole_millis(linger.saturating_sub(pending.started.elapsed()))
            };
            let Some(result) = consumer.poll(Timeout::After(wait)) else {
                caught_up = true;
                continue;
            };
            // Only a record means the client holds more: a run of errors
            // (a broker unreachable for a while) must not hold back a batch
            // already past its linger.
            caught_up = result.is_err();
            let msg = match result {
                Ok(m) => m,
                Err(e) if missive_core::kafka::is_fatal(&e) => {
                    tracing::error!(error = %e, "consumer unusable; creating it anew");
                    metrics::counter!("missive_kafka_consumers_recreated_total", "role" => "projector")
                        .increment(1);
                    // What was read is re-read from the offsets in PostgreSQL.
                    {
                        let mut own = ownership.lock().expect("ownership lock");
                        own.generation += 1;
                        own.next.clear();
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    match subscribe() {
                        Ok(c) => consumer = c,
                        Err(e) => tracing::error!(error = %e, "cannot create the consumer"),
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consume error");
                    continue;
                }
            };
            let (partition, offset) = (msg.partition(), msg.offset());
            let own = ownership.lock().expect("ownership lock");
            if own.generation != pending.generation {
                // The offsets were re-read since the batch began: a rebalance
                // served inside this poll, or a reseek after being fenced.
                // librdkafka drops what it fetched before either, so this
                // record is from the new position (skipping it would leave
                // it unprojected until the next rebalance); what the batch
                // held is re-read by whoever owns its partitions now.
                pending = Pending::new(own.generation);
                attempt = 0;
            }
            let expected = pending
                .last
                .get(&partition)
                .map(|last| last + 1)
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
            pending.last.insert(partition, offset);
            let payload = msg.payload().unwrap_or_default();
            pending.bytes += payload.len() as u64;
            let event = EventCodec::get()
                .decode_framed(payload, &self.schema_ids)
                .map_err(|e| DeadReason {
                    kind: "decode",
                    detail: e.to_string(),
                });
            pending.records.push(Polled {
                partition,
                offset,
                key: msg.key().map(<[u8]>::to_vec),
                payload: payload.to_vec(),
                event,
                dead_lettered: Default::default(),
            });
        }
        if let Some(lent) = catch_up.take() {
            self.end_catch_up(&runtime, &consumer, &topic, &ownership, lent);
        }
        consumer.unsubscribe();
        tracing::info!("projector stopped");
        Ok(())
    }

    /// A replay is done once every partition's offset in PostgreSQL has
    /// reached the end offset it was given: whichever of the replay's loops
    /// committed it (a loop owns only some partitions).
    fn replay_done(&self, runtime: &Runtime, topic: &str) -> bool {
        let Some(target) = &self.replay else {
            return false;
        };
        runtime.block_on(crate::reached_end(&self.pool, topic, &target.end))
    }

    /// A replay loop's partitions at the offsets stored in PostgreSQL (its
    /// ownership from now on), to assign.
    fn replay_assignment(
        &self,
        runtime: &Runtime,
        topic: &str,
        partitions: &[i32],
        ownership: &Arc<Mutex<Ownership>>,
    ) -> KafkaResult<TopicPartitionList> {
        // Stopped before PostgreSQL answered: nothing assigned, the loop ends.
        let offsets =
            load_offsets_until_stopped(runtime, &self.pool, topic, partitions, &self.stop)
                .unwrap_or_default();
        let mut own = ownership.lock().expect("ownership lock");
        own.generation += 1;
        own.next.clear();
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in &offsets {
            tpl.add_partition_offset(topic, p, Offset::Offset(o))?;
            own.next.insert(p, o);
        }
        Ok(tpl)
    }

    /// Commits `records`; an event that fails permanently is isolated by
    /// splitting the batch in halves (each committed on its own) until it
    /// stands alone, then dead-lettered and skipped.
    fn flush_isolating(
        &self,
        runtime: &Runtime,
        records: &mut [Polled],
        generation: u64,
        sink: &Sink<'_>,
    ) -> Result<(), FlushError> {
        let why = match self.flush(runtime, records, generation, sink) {
            Err(FlushError::Permanent(why)) => why,
            other => return other,
        };
        let mut events = records.iter_mut().filter(|r| r.event.is_ok());
        let (Some(only), None) = (events.next(), events.next()) else {
            if records.len() < 2 {
                // No event to blame (nothing but dead letters): not the data.
                return Err(FlushError::Transient(why));
            }
            let (front, back) = records.split_at_mut(records.len() / 2);
            self.flush_isolating(runtime, front, generation, sink)?;
            return self.flush_isolating(runtime, back, generation, sink);
        };
        tracing::error!(partition = only.partition, offset = only.offset, reason = %why,
            "event cannot be applied to the views; sending it to the dead-letter topic");
        only.event = Err(DeadReason {
            kind: "apply",
            detail: why,
        });
        self.flush(runtime, records, generation, sink)
    }

    /// One transaction: dead letters to their topic first, then the offsets
    /// (fenced), the events, the notifications. Records at offsets already
    /// committed (a retry after part of the batch went through) are skipped.
    fn flush(
        &self,
        runtime: &Runtime,
        records: &[Polled],
        generation: u64,
        sink: &Sink<'_>,
    ) -> Result<(), FlushError> {
        let started = Instant::now();
        // Per partition: the stored offset this batch continues, and its new value.
        let mut advance: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
        let todo: Vec<&Polled> = {
            let own = sink.ownership.lock().expect("ownership lock");
            if own.generation != generation {
                return Err(FlushError::Fenced);
            }
            records
                .iter()
                .filter(|r| own.next.get(&r.partition).is_some_and(|n| r.offset >= *n))
                .inspect(|r| {
                    let stored = own.next[&r.partition];
                    advance
                        .entry(r.partition)
                        .and_modify(|a| a.1 = r.offset + 1)
                        .or_insert((stored, r.offset + 1));
                })
                .collect()
        };
        if todo.is_empty() {
            return Ok(());
        }
        let events: Vec<Envelope> = todo
            .iter()
            .filter_map(|r| r.event.as_ref().ok().cloned())
            .collect();
        // A delivery service in this process takes the new entries.
        let hand_over = sink.feed.has_subscribers();
        let applied = runtime.block_on(async {
            // Dead letters first: they must be on their topic before the
            // offsets that skip them are committed.
            for r in &todo {
                let Err(dead) = &r.event else { continue };
                if !r.dead_lettered.get() {
                    send_dead_letter(sink, r, dead).await?;
                    r.dead_lettered.set(true);
                }
            }
            let mut client = self
                .pool
                .get()
                .await
                .map_err(|e| FlushError::Transient(e.to_string()))?;
            let tx = client.transaction().await.map_err(classify)?;
            // The fence first: it also locks the offset rows, so a second
            // instance on the same partitions waits here rather than racing
            // on the view rows. Pipelined with the batch's first statements
            // (sent, and so executed, after it; the updates in partition
            // order, so two instances lock in the same order): a fenced
            // batch's statements are rolled back with it.
            let fence = tx
                .prepare_cached(include_str!("sql/advance_offset.sql"))
                .await
                .map_err(classify)?;
            let (tx_ref, fence) = (&tx, &fence);
            let fences =
                futures::future::try_join_all(advance.iter().map(|(p, (from, to))| async move {
                    tx_ref.execute(fence, &[&sink.topic, p, from, to]).await
                }));
            let (moved, applied) =
                futures::try_join!(fences, apply::apply(&tx, &events, sink.limits, hand_over))
                    .map_err(classify)?;
            if moved.iter().any(|updated| *updated != 1) {
                return Err(FlushError::Fenced);
            }
            // The notifications wake delivery instances whose sessions are
            // behind. Sent with the commit, unless a delivery service in this
            // process takes the entries: then after handing them over, so
            // its sessions have them before any wake-up and read nothing.
            let payloads = notify_payloads(&applied.cursors);
            if !hand_over {
                for payload in &payloads {
                    tx.execute("SELECT pg_notify($1, $2)", &[&INBOX_CHANNEL, payload])
                        .await
                        .map_err(classify)?;
                }
            }
            tx.commit().await.map_err(classify)?;
            if hand_over {
                sink.feed.publish(&applied.live);
                for payload in &payloads {
                    // Committed already: a lost wake-up only delays other
                    // instances' pushes until their sessions resync.
                    if let Err(e) = client
                        .execute("SELECT pg_notify($1, $2)", &[&INBOX_CHANNEL, payload])
                        .await
                    {
                        tracing::warn!(error = %e, "inbox notification not sent");
                    }
                }
            }
            Ok(applied)
        })?;
        {
            let mut own = sink.ownership.lock().expect("ownership lock");
            if own.generation == generation {
                for (p, (_, to)) in &advance {
                    own.next.insert(*p, *to);
                }
            }
        }
        let bytes: u64 = todo.iter().map(|r| r.payload.len() as u64).sum();
        if let Some(target) = &self.replay {
            target.progress.add(todo.len() as u64, bytes);
        }
        metrics::counter!("missive_projector_events_total").increment(todo.len() as u64);
        metrics::counter!("missive_projector_messages_total").increment(applied.messages as u64);
        metrics::counter!("missive_projector_duplicates_total")
            .increment(applied.duplicates as u64);
        metrics::histogram!("missive_projector_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("missive_projector_batch_events").record(todo.len() as f64);
        Ok(())
    }

    /// After being fenced: adopt the offsets PostgreSQL holds and seek there.
    fn reseek(
        &self,
        runtime: &Runtime,
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
        let Ok(offsets) = runtime.block_on(load_offsets(&self.pool, topic, &partitions)) else {
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

/// `user:cursor` pairs (each user's newest inbox cursor) joined by `,`
/// (ids never contain one; the cursor follows the last `:`), split to fit
/// `pg_notify`.
fn notify_payloads(cursors: &BTreeMap<String, i64>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for (u, c) in cursors {
        let pair = format!("{u}:{c}");
        if !cur.is_empty() && cur.len() + 1 + pair.len() > NOTIFY_PAYLOAD_MAX {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(',');
        }
        cur.push_str(&pair);
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
    fn backoff_grows_to_its_cap_with_jitter() {
        for attempt in 0..40 {
            let cap = Duration::from_millis((100u64 << attempt.min(7)).min(10_000));
            let d = backoff(attempt);
            assert!(
                d <= cap && d >= cap / 4,
                "attempt {attempt}: {d:?} vs cap {cap:?}"
            );
        }
        let waits: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(10)).collect();
        assert!(waits.len() > 1, "no jitter: {waits:?}");
    }

    #[test]
    fn notify_payloads_stay_under_the_limit_and_keep_every_user() {
        let users: BTreeMap<String, i64> = (0..2000).map(|i| (format!("user-{i:05}"), i)).collect();
        let payloads = notify_payloads(&users);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= NOTIFY_PAYLOAD_MAX));
        let back: BTreeMap<String, i64> = payloads
            .iter()
            .flat_map(|p| p.split(','))
            .map(|pair| {
                let (u, c) = pair.rsplit_once(':').unwrap();
                (u.to_owned(), c.parse().unwrap())
            })
            .collect();
        assert_eq!(back, users);
    }

    #[test]
    fn a_linger_remainder_is_waited_in_whole_milliseconds_never_polled_at_zero() {
        assert_eq!(whole_millis(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            whole_millis(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            whole_millis(Duration::from_micros(999)),
            Duration::from_millis(1)
        );
        assert_eq!(
            whole_millis(Duration::from_millis(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            whole_millis(Duration::from_micros(4_001)),
            Duration::from_millis(5)
        );
    }
}
