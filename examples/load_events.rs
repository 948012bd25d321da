//! Fills `<prefix>.events` with N synthetic text messages between 1,000
//! users, to measure `missive export` (and replay) on a log of a known size:
//!
//! ```sh
//! MISSIVE_TOPIC_PREFIX=bench cargo run --release --example load_events -- 200000
//! MISSIVE_TOPIC_PREFIX=bench target/release/missive export --out /tmp/bench-avro
//! ```
//!
//! Writes straight to the log, bypassing ingest: for benchmarks only.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use rdkafka::producer::{FutureProducer, FutureRecord};
use uuid::Uuid;

use missive_core::Config;
use missive_schemas::{conversation_id, samples, Event, EventCodec};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let config = Config::load()?;
    missive_core::kafka::ensure_topics(&config, &[config.events_topic()]).await?;
    let producer: FutureProducer = missive_core::kafka::base_config(&config, "load")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .create()?;
    let topic = config.events_topic();
    let started = Instant::now();
    let template = samples::text_message();
    stream::iter(0..n)
        .map(|i| {
            let mut env = template.clone();
            env.event_id = Uuid::now_v7();
            env.occurred_at = missive_core::time::now_millis();
            let (a, b) = (format!("u{}", i % 1000), format!("u{}", (i * 7 + 1) % 1000));
            if let Event::MessageSent(m) = &mut env.event {
                m.conversation_id = conversation_id(&a, &b);
                m.msg_key = format!("{i}_{i}_bench");
                m.from_account = a;
                m.to_account = b;
                m.msg_random = i as i64;
            }
            let payload = EventCodec::get().encode(&env);
            let key = env.event.key();
            let producer = &producer;
            let topic = &topic;
            async move {
                producer
                    .send(
                        FutureRecord::to(topic).key(&key).payload(&payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .map_err(|(e, _)| e)
            }
        })
        .buffer_unordered(5_000)
        .for_each(|r| async move {
            r.expect("appended");
        })
        .await;
    println!(
        "{n} events appended to {topic} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
