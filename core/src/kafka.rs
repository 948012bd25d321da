//! Kafka clients configured the way missive needs them, and topic set-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;
use secrecy::ExposeSecret;

use crate::config::Config;

/// Settings every client shares, then the operator's own librdkafka
/// properties (security, SASL, TLS: `kafka.librdkafka`), which win.
pub fn base_config(config: &Config, role: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.brokers)
        .set(
            "client.id",
            format!("missive-{role}-{}", config.instance_id),
        )
        .set("log_level", "4");
    for (key, value) in &config.kafka.librdkafka {
        // From the environment, `sasl_mechanisms` stands for `sasl.mechanisms`.
        c.set(key.replace('_', "."), value.expose_secret());
    }
    c
}

/// A consumer error after which the client is unusable and must be created
/// anew: for instance a static member fenced because another join under its
/// `group.instance.id` won (a restart racing a broker restart). Offsets are
/// committed or stored in PostgreSQL, so a new client resumes where the old
/// one stopped.
pub fn is_fatal(e: &KafkaError) -> bool {
    matches!(e, KafkaError::MessageConsumptionFatal(_))
}

/// Group membership of a long-running consumer (`role`: projector, push,
/// commands). With a configured instance id it joins as a static member
/// (`group.instance.id`), so a restart under the same name takes its
/// partitions back without a rebalance; otherwise it joins dynamically and
/// leaves the group when it closes, so the partitions move at once. Either
/// way a member that dies without leaving loses them after the session
/// timeout.
pub fn join_group(config: &Config, settings: &mut ClientConfig, group: &str, role: &str) {
    settings.set("group.id", group).set(
        "session.timeout.ms",
        config.kafka.session_timeout_ms.to_string(),
    );
    if config.stable_instance_id {
        settings.set(
            "group.instance.id",
            format!("{}.{role}", config.instance_id),
        );
    }
}

/// A consumer's settings: `base_config` plus the fetch wait.
pub fn consumer_config(config: &Config, role: &str) -> ClientConfig {
    let mut c = base_config(config, role);
    c.set(
        "fetch.wait.max.ms",
        config.kafka.fetch_wait_max_ms.to_string(),
    );
    c
}

/// A stream consumer of `settings`, subscribed to `topic` (the long-running
/// workers: push, callbacks; they make a new one after a fatal error).
pub fn subscribed(
    settings: &ClientConfig,
    topic: &str,
) -> Result<rdkafka::consumer::StreamConsumer, KafkaError> {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::StreamConsumer = settings.create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// The events producer: idempotent and `acks=all`, so a send is answered only
/// once the broker has it durably, and librdkafka's retries never duplicate
/// or reorder a partition. Keys are hashed with murmur2 like the Java client,
/// so backends in other languages pick the same partition for a conversation.
pub fn producer(config: &Config) -> Result<FutureProducer, KafkaError> {
    producer_config(config).create()
}

fn producer_config(config: &Config) -> ClientConfig {
    let mut c = base_config(config, "producer");
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", config.kafka.linger_ms.to_string())
        .set("compression.type", "lz4")
        .set(
            "message.timeout.ms",
            config.ingest.produce_timeout_ms.to_string(),
        );
    c
}

/// Whether a producer can reach a broker, as librdkafka sees it: its
/// statistics (every second) say which broker connections are up, and its
/// "all brokers down" error says so at once. Ingest refuses sends while the
/// log is unreachable instead of letting them wait out the produce timeout.
/// Clones share one state: the producer's context and the code that asks.
#[derive(Debug, Default, Clone)]
pub struct LinkHealth {
    down: Arc<AtomicBool>,
}

impl LinkHealth {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

impl ClientContext for LinkHealth {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let up = statistics.brokers.values().any(|b| b.state == "UP");
        if self.down.swap(!up, Ordering::Relaxed) == up {
            if up {
                tracing::info!("the message log is reachable again");
            } else {
                tracing::warn!("no broker connection is up");
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.down.store(true, Ordering::Relaxed);
        }
        tracing::warn!(%error, reason, "librdkafka");
    }
}

/// A consumer with a [`LinkHealth`] context (metadata and offset look-ups
/// that must also say whether the broker is reachable).
impl rdkafka::consumer::ConsumerContext for LinkHealth {}

/// A client of `role` whose [`LinkHealth`] follows its broker connections
/// (statistics every second, reconnects at least every second).
pub fn watched_consumer(
    config: &Config,
    role: &str,
) -> Result<(rdkafka::consumer::BaseConsumer<LinkHealth>, LinkHealth), KafkaError> {
    let health = LinkHealth::default();
    let consumer = base_config(config, role)
        .set("statistics.interval.ms", "1000")
        .set("reconnect.backoff.max.ms", "1000")
        .create_with_context(health.clone())?;
    Ok((consumer, health))
}

/// The events producer ([`producer`]'s settings) with a [`LinkHealth`]
/// context: statistics every second and reconnect attempts at least every
/// second, so a returning broker is noticed quickly.
pub fn events_producer(
    config: &Config,
) -> Result<(FutureProducer<LinkHealth>, LinkHealth), KafkaError> {
    let health = LinkHealth::default();
    let producer = producer_config(config)
        .set("statistics.interval.ms", "1000")
        .set("reconnect.backoff.max.ms", "1000")
        .create_with_context(health.clone())?;
    Ok((producer, health))
}

/// Creates the topics that are missing; existing ones are left as they are
/// (a retention changed later is the operator's `kafka-configs --alter`).
/// The events topic gets `retention.ms` from the configuration: the log is
/// the source of truth and is kept forever by default.
pub async fn ensure_topics(config: &Config, topics: &[String]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base_config(config, "admin").create()?;
    let events = config.events_topic();
    let retention = config.kafka.events_retention_ms.to_string();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| {
            let topic = NewTopic::new(
                t,
                config.kafka.partitions,
                TopicReplication::Fixed(config.kafka.replication_factor),
            );
            if *t == events {
                topic.set("retention.ms", &retention)
            } else {
                topic
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(%topic, ?code, "cannot create topic");
                })
            }
        }
    }
    Ok(())
}
