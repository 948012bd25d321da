//! Configuration: defaults that work on one machine, overridden by an optional
//! TOML file (`MISSIVE_CONFIG`) and then by `MISSIVE_*` environment variables
//! (nested keys with `__`, e.g. `MISSIVE_PROJECTOR__BATCH_MAX=2000`).

use std::net::SocketAddr;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The app id UserSigs are bound to (Tencent SDKAppID).
    pub sdkappid: u64,
    /// HMAC key of UserSigs. Never logged: `SecretString` redacts itself.
    pub secret_key: SecretString,
    /// The identifier whose UserSig grants the REST admin API.
    pub admin_identifier: String,
    /// PostgreSQL connection string; may hold a password, so it is redacted too.
    pub database_url: SecretString,
    pub db_pool_size: usize,
    pub kafka: KafkaConfig,
    pub ingest: IngestConfig,
    pub projector: ProjectorConfig,
    pub delivery: DeliveryConfig,
    pub permissions: PermissionsConfig,
    /// Names this process in events and logs; defaults to host + pid.
    pub instance_id: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct KafkaConfig {
    pub brokers: String,
    /// Topics are `<prefix>.events`, `<prefix>.events.dlq`, ...
    pub topic_prefix: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// `retention.ms` given to `<prefix>.events` when missive creates it:
    /// -1 (the default) keeps the log forever, so every view can always be
    /// rebuilt from it (see docs/retention.md).
    pub events_retention_ms: i64,
    /// How records are framed on the topics (see docs/schemas.md):
    /// `single_object` (the default) or `confluent`.
    pub encoding: Encoding,
    /// The Confluent Schema Registry (`http://host:8081`). Needed for the
    /// `confluent` encoding; when set with `single_object`, missive still
    /// reads Confluent-framed records of the schemas registered there.
    pub schema_registry_url: Option<String>,
}

/// The framing of records missive writes; readers accept both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Avro single-object encoding: `C3 01` + the schema's Rabin fingerprint.
    #[default]
    SingleObject,
    /// Confluent wire format: `00` + the Schema Registry id of the schema.
    Confluent,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    pub listen: SocketAddr,
    /// Requests larger than this are refused before parsing.
    pub max_request_bytes: usize,
    /// How long a send may wait for the broker's acknowledgement.
    pub produce_timeout_ms: u64,
    /// How long a relationship change waits for the views to include it.
    pub projection_timeout_ms: u64,
    /// Consumer group of the commands-topic consumers (one per ingest
    /// instance); unset: `<prefix>.ingest.commands`.
    pub commands_group_id: Option<String>,
    /// Consume `<prefix>.commands` (operators' backends writing to Kafka).
    pub commands_enabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ProjectorConfig {
    pub listen: SocketAddr,
    pub group_id: String,
    /// Events per PostgreSQL transaction at most.
    pub batch_max: usize,
    /// How long a partial batch waits for more events before it is written.
    pub batch_linger_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    pub listen: SocketAddr,
    /// Frames a connection may have queued before it is dropped as too slow.
    pub send_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sdkappid: 1_400_000_000,
            secret_key: SecretString::from("missive-dev-secret-key-change-me"),
            admin_identifier: "administrator".into(),
            database_url: SecretString::from("postgres://missive@127.0.0.1:54329/missive"),
            db_pool_size: 16,
            kafka: KafkaConfig::default(),
            ingest: IngestConfig::default(),
            projector: ProjectorConfig::default(),
            delivery: DeliveryConfig::default(),
            permissions: PermissionsConfig::default(),
            instance_id: default_instance_id(),
        }
    }
}

/// Who may message whom (client sends; admin sends skip these checks).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PermissionsConfig {
    /// Only friends may message each other (Tencent's friend check for one-to-one chat).
    pub friends_only: bool,
    pub block_mode: BlockMode,
}

/// What happens to a message from a user the recipient blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockMode {
    /// Accepted and silently not delivered: the sender sees success (Tencent's default).
    #[default]
    Drop,
    /// Refused with 20007.
    Refuse,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:19092".into(),
            topic_prefix: "missive".into(),
            partitions: 4,
            replication_factor: 1,
            events_retention_ms: -1,
            encoding: Encoding::SingleObject,
            schema_registry_url: None,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("addr"),
            max_request_bytes: 64 * 1024,
            produce_timeout_ms: 5_000,
            projection_timeout_ms: 10_000,
            commands_group_id: None,
            commands_enabled: true,
        }
    }
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8082".parse().expect("addr"),
            group_id: "missive-projector".into(),
            batch_max: 1_000,
            batch_linger_ms: 5,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".parse().expect("addr"),
            send_queue: 1_024,
        }
    }
}

impl Config {
    /// Defaults, then `$MISSIVE_CONFIG` (a TOML file) if set, then `MISSIVE_*` variables.
    pub fn load() -> Result<Self, Box<figment::Error>> {
        // Every struct is `#[serde(default)]`: what no source sets keeps its default.
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("MISSIVE_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(
                Env::prefixed("MISSIVE_")
                    .ignore(&["config"])
                    .map(|key| env_key(key.as_str()).into()),
            )
            .extract()
            .map_err(Box::new)
    }

    pub fn events_topic(&self) -> String {
        format!("{}.events", self.kafka.topic_prefix)
    }

    pub fn events_dlq_topic(&self) -> String {
        format!("{}.events.dlq", self.kafka.topic_prefix)
    }

    /// Where operators' backends write commands (`schemas/avro/commands.avsc`).
    pub fn commands_topic(&self) -> String {
        format!("{}.commands", self.kafka.topic_prefix)
    }

    /// The consumer group that reads the commands topic.
    pub fn commands_group(&self) -> String {
        self.ingest
            .commands_group_id
            .clone()
            .unwrap_or_else(|| format!("{}.ingest.commands", self.kafka.topic_prefix))
    }

    /// Refused and undecodable commands, byte for byte, with the reason in headers.
    pub fn commands_dlq_topic(&self) -> String {
        format!("{}.commands.dlq", self.kafka.topic_prefix)
    }
}

fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// `MISSIVE_A__B` sets `a.b`; the most used nested keys also have a flat
/// spelling (`MISSIVE_KAFKA_BROKERS`), which is what operators type first.
fn env_key(key: &str) -> String {
    let key = key.to_ascii_lowercase().replace("__", ".");
    match key.as_str() {
        "kafka_brokers" => "kafka.brokers".into(),
        "topic_prefix" | "kafka_topic_prefix" => "kafka.topic_prefix".into(),
        "ingest_listen" => "ingest.listen".into(),
        "delivery_listen" => "delivery.listen".into(),
        "projector_listen" => "projector.listen".into(),
        "friends_only" => "permissions.friends_only".into(),
        "block_mode" => "permissions.block_mode".into(),
        "schema_registry_url" => "kafka.schema_registry_url".into(),
        _ => key,
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures must return figment::Error
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn env_overrides_defaults_and_secrets_stay_out_of_debug() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MISSIVE_SECRET_KEY", "s3cr3t-value");
            jail.set_env("MISSIVE_KAFKA_BROKERS", "10.0.0.1:9092");
            jail.set_env("MISSIVE_PROJECTOR__BATCH_MAX", "77");
            let c = Config::load().expect("config loads");
            assert_eq!(c.secret_key.expose_secret(), "s3cr3t-value");
            assert_eq!(c.kafka.brokers, "10.0.0.1:9092");
            assert_eq!(c.projector.batch_max, 77);
            assert_eq!(c.admin_identifier, "administrator");
            let debug = format!("{c:?}");
            assert!(!debug.contains("s3cr3t-value"), "secret leaked: {debug}");
            assert!(!debug.contains("missive@127.0.0.1"), "database url leaked");
            Ok(())
        });
    }

    #[test]
    fn a_malformed_value_is_a_precise_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MISSIVE_INGEST_LISTEN", "not-an-address");
            let err = Config::load().expect_err("bad address refused");
            assert!(
                err.to_string().to_lowercase().contains("ingest.listen"),
                "{err}"
            );
            Ok(())
        });
    }
}
