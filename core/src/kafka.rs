//! Kafka clients configured the way missive needs them, and topic set-up.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;

use crate::config::Config;

/// Settings every client shares.
pub fn base_config(config: &Config, role: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.brokers)
        .set(
            "client.id",
            format!("missive-{role}-{}", config.instance_id),
        )
        .set("log_level", "4");
    c
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

/// The events producer: idempotent and `acks=all`, so a send is answered only
/// once the broker has it durably, and librdkafka's retries never duplicate
/// or reorder a partition. Keys are hashed with murmur2 like the Java client,
/// so backends in other languages pick the same partition for a conversation.
pub fn producer(config: &Config) -> Result<FutureProducer, KafkaError> {
    base_config(config, "producer")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "2")
        .set("compression.type", "lz4")
        .set(
            "message.timeout.ms",
            config.ingest.produce_timeout_ms.to_string(),
        )
        .create()
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
