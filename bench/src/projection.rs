//! Events/s projected from a backlog and events/s rebuilt, through the
//! projector's own code, plus the broker's raw consume rate beside them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use missive_core::{db, Config};
use missive_schemas::{samples, Envelope, Event, EventCodec, MessageSent};

/// A message as ingest would record it, between two of `users` users.
pub(crate) fn message(i: u64, users: u64, text: &str) -> Envelope {
    // A cheap deterministic spread over pairs (no RNG needed for a load).
    let a = i.wrapping_mul(2_654_435_761) % users;
    let b = (a + 1 + i.wrapping_mul(40_503) % (users - 1)) % users;
    let (from, to) = (format!("user{a}"), format!("user{b}"));
    let now = missive_core::time::now_millis();
    let key = format!("{i}_{}_bench", i as u32);
    let event = MessageSent {
        msg_random: i as i64 & 0xffff_ffff,
        msg_seq: i as i64 & 0xffff_ffff,
        ..samples::text(&key, &from, &to, text, now)
    };
    samples::admin_envelope(Event::MessageSent(Box::new(event)), "bench", now)
}

pub async fn projection(
    base: Config,
    events: u64,
    users: u64,
    text_bytes: usize,
    live_batch: Option<usize>,
) -> anyhow::Result<serde_json::Value> {
    let live_batch = live_batch.unwrap_or(base.projector.batch_max);
    anyhow::ensure!(live_batch >= 1, "--live-batch must be at least 1");
    anyhow::ensure!(users >= 2, "--users must be at least 2");
    let run = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut config = base.clone();
    config.kafka.topic_prefix = run.clone();
    let config = Arc::new(config);
    missive_core::kafka::ensure_topics(&config, &[config.events_topic()]).await?;

    // Fill the log through missive's producer settings.
    let producer = missive_core::kafka::producer(&config)?;
    let topic = config.events_topic();
    let text = "x".repeat(text_bytes);
    let started = Instant::now();
    let mut bytes = 0u64;
    // Encoding counts in the fill time: this is how fast missive's
    // producer settings fill the log, not the broker's raw rate (raw.rs).
    let records = (0..events).map(|i| {
        let env = message(i, users, &text);
        let payload = EventCodec::get().encode(&env);
        bytes += payload.len() as u64;
        (env.event.key(), payload)
    });
    crate::raw::send_all(&producer, &topic, records).await?;
    let fill_secs = started.elapsed().as_secs_f64();

    // The backlog as the live service projects it (its `projector.loops`
    // and the catch-up loops it starts while behind); the rebuild as
    // `missive replay` does (`projector.replay_loops`, one per core by
    // default).
    let live_loops = config.projector.loops.max(1);
    let projected = project_live_into_fresh_db(&config, &run, live_batch, events).await?;
    let replay_loops = missive_projector::replay_loops(&config, config.kafka.partitions as usize);
    let replay_batch = missive_projector::REPLAY_BATCH;
    let rebuilt = replay_into_fresh_db(&config, &run, replay_batch, replay_loops).await?;

    let report = json!({
        "scenario": "rebuild",
        "events": events,
        "users": users,
        "payload_bytes_avg": bytes / events.max(1),
        "partitions": config.kafka.partitions,
        "produce_events_per_s": events as f64 / fill_secs,
        "projected_batch": live_batch,
        "projected_loops": live_loops,
        "projected_catch_up_loops": config.projector.catch_up_loops,
        "projected_events_per_s": projected,
        "rebuilt_batch": replay_batch,
        "rebuilt_loops": replay_loops,
        "rebuilt_events_per_s": rebuilt,
    });
    println!("topic:        {topic}");
    println!(
        "log filled:   {events} events in {fill_secs:.1} s ({:.0} events/s produced, acks=all)",
        events as f64 / fill_secs
    );
    println!(
        "projected:    {projected:.0} events/s (batch {live_batch}, {live_loops} loop(s) and {} catch-up loop(s): the live projector service)",
        config.projector.catch_up_loops
    );
    println!(
        "rebuilt:      {rebuilt:.0} events/s (batch {replay_batch}, {replay_loops} loop(s): missive replay's)"
    );
    crate::raw::delete_topics(&config, std::slice::from_ref(&topic)).await;
    Ok(report)
}

/// A new, migrated database `name`, and `config` pointed at it with
/// projector batches of `batch` and a group of its own.
async fn fresh_db(config: &Config, name: &str, batch: usize) -> anyhow::Result<Config> {
    db::create_database(&config.database_url, name).await?;
    let url = db::with_database(&config.database_url, name)?;
    db::migrate(&url).await?;
    let mut c = config.clone();
    c.database_url = url;
    c.projector.batch_max = batch;
    c.projector.group_id = format!("{name}.group");
    Ok(c)
}

/// Projects the whole log (`events` events) into a new database with the
/// projector service itself; returns events/s from its first commit to its
/// last, so joining the group and opening connections do not count.
async fn project_live_into_fresh_db(
    config: &Arc<Config>,
    run: &str,
    batch: usize,
    events: u64,
) -> anyhow::Result<f64> {
    let name = format!("{run}_live");
    let mut c = fresh_db(config, &name, batch).await?;
    let url = c.database_url.clone();
    c.projector.listen = "127.0.0.1:0".parse()?;
    let topic = c.events_topic();
    let service = missive_projector::Projector::bind(Arc::new(c)).await?;
    let stop = CancellationToken::new();
    let running = tokio::spawn(service.run(stop.clone()));
    let pg = db::connect(&url).await?;
    let sum =
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM projector_offsets WHERE topic = $1";
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first: Option<(Instant, i64)> = None;
    let rate = loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the backlog was not projected in time"
        );
        anyhow::ensure!(!running.is_finished(), "the projector service stopped");
        let done: i64 = pg.query_one(sum, &[&topic]).await?.get(0);
        let now = Instant::now();
        match first {
            None if done > 0 => first = Some((now, done)),
            Some((t0, d0)) if done as u64 >= events => {
                break (done - d0) as f64 / now.duration_since(t0).as_secs_f64().max(1e-3);
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.cancel();
    running.await??;
    drop(pg);
    db::drop_database(&config.database_url, &name).await?;
    Ok(rate)
}

/// Rebuilds the whole log into a new database with `missive replay`'s code
/// in `loops` consume loops; returns events/s.
async fn replay_into_fresh_db(
    config: &Arc<Config>,
    run: &str,
    batch: usize,
    loops: usize,
) -> anyhow::Result<f64> {
    let name = format!("{run}_replay");
    let mut c = fresh_db(config, &name, batch).await?;
    c.projector.replay_loops = loops;
    let progress = Arc::new(missive_projector::ReplayProgress::default());
    let started = Instant::now();
    missive_projector::replay(Arc::new(c), progress.clone(), CancellationToken::new()).await?;
    let secs = started.elapsed().as_secs_f64();
    let (done, _) = progress.done();
    anyhow::ensure!(
        done == progress.total.load(Ordering::Relaxed),
        "projected {done} events"
    );
    db::drop_database(&config.database_url, &name).await?;
    Ok(done as f64 / secs)
}

/// Reads a whole topic from the start with a plain `BaseConsumer`; returns
/// (records, bytes, seconds).
pub fn raw_consume(config: &Config, topic: &str) -> anyhow::Result<(u64, u64, f64)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = missive_core::kafka::base_config(config, "bench")
        .set(
            "group.id",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .create()?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut tpl = TopicPartitionList::new();
    let mut total = 0i64;
    for p in metadata.topics()[0].partitions() {
        let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
        total += high - low;
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    while (n as i64) < total {
        if let Some(m) = consumer.poll(timeout) {
            let m = m?;
            n += 1;
            bytes += m.payload().map_or(0, |p| p.len() as u64);
        }
    }
    Ok((n, bytes, started.elapsed().as_secs_f64()))
}
