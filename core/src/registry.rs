//! A client of the Confluent Schema Registry REST API, for the optional
//! Confluent framing: registers the current schemas under the topics'
//! subjects (`<topic>-value`, the TopicNameStrategy stock serializers use)
//! and learns the ids of every released version, so readers can decode
//! records written by any of them.
//!
//! Endpoints used: `POST /subjects/{subject}/versions` (register),
//! `POST /subjects/{subject}` (is this schema registered? which id?) and
//! `GET /schemas/ids/{id}` (the schema behind an id, to verify it).

use std::time::Duration;

use apache_avro::Schema;
use serde::Deserialize;
use serde_json::json;

use missive_schemas::codec::{fingerprint_of, released_schemas};
use missive_schemas::commands::CommandCodec;
use missive_schemas::framing::{Framing, SchemaIds};
use missive_schemas::EventCodec;

use crate::config::{Config, Encoding};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the confluent encoding needs a Schema Registry: set MISSIVE_SCHEMA_REGISTRY_URL")]
    NotConfigured,
    #[error("Schema Registry {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("Schema Registry {url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("Schema Registry id {id} holds a schema other than the one registered (fingerprint {got}, expected {want})")]
    Mismatch { id: u32, got: String, want: String },
}

pub struct Registry {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct IdReply {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaReply {
    schema: String,
}

impl Registry {
    pub fn new(base_url: &str) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client without TLS builds"),
        }
    }

    /// Registers `schema` under `subject` (idempotent: the same schema gets its existing id).
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{subject}/versions", self.base);
        let reply = self.post(&url, schema).await?;
        reply.ok_or_else(|| RegistryError::Refused {
            url,
            status: 404,
            body: "not found".into(),
        })
    }

    /// The id of `schema` if it is registered under `subject`.
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<Option<u32>, RegistryError> {
        let url = format!("{}/subjects/{subject}", self.base);
        self.post(&url, schema).await
    }

    /// The schema text behind `id`.
    pub async fn schema(&self, id: u32) -> Result<String, RegistryError> {
        let url = format!("{}/schemas/ids/{id}", self.base);
        let resp = self
            .http
            .get(&url)
            .header("Accept", CONTENT_TYPE)
            .send()
            .await
            .map_err(|source| RegistryError::Http {
                url: url.clone(),
                source,
            })?;
        let reply: SchemaReply = Self::ok(url, resp).await?;
        Ok(reply.schema)
    }

    async fn post(&self, url: &str, schema: &str) -> Result<Option<u32>, RegistryError> {
        let resp = self
            .http
            .post(url)
            .header("Content-Type", CONTENT_TYPE)
            .body(json!({ "schema": schema }).to_string())
            .send()
            .await
            .map_err(|source| RegistryError::Http {
                url: url.to_owned(),
                source,
            })?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let reply: IdReply = Self::ok(url.to_owned(), resp).await?;
        Ok(Some(reply.id))
    }

    async fn ok<T: serde::de::DeserializeOwned>(
        url: String,
        resp: reqwest::Response,
    ) -> Result<T, RegistryError> {
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(RegistryError::Refused {
                url,
                status: status.as_u16(),
                body,
            });
        }
        resp.json()
            .await
            .map_err(|source| RegistryError::Http { url, source })
    }

    /// Registers `current` under `subject` and checks the registry serves it
    /// back unchanged; returns its id.
    async fn register_verified(&self, subject: &str, current: &str) -> Result<u32, RegistryError> {
        let id = self.register(subject, current).await?;
        let want = fingerprint_of(&Schema::parse_str(current).expect("our schema parses"));
        let served = self.schema(id).await?;
        let got = Schema::parse_str(&served)
            .map(|s| fingerprint_of(&s))
            .unwrap_or_default();
        if got != want {
            return Err(RegistryError::Mismatch {
                id,
                got: hex(&got),
                want: hex(&want),
            });
        }
        Ok(id)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The subject stock serializers use for a topic's values.
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// How the events topic is written and read under this configuration: the
/// framing to write, and the registry ids of every released event schema
/// (empty without a registry: only single-object records are readable then).
pub async fn events_framing(config: &Config) -> Result<(Framing, SchemaIds), RegistryError> {
    let Some(url) = &config.kafka.schema_registry_url else {
        return match config.kafka.encoding {
            Encoding::SingleObject => Ok((Framing::SingleObject, SchemaIds::new())),
            Encoding::Confluent => Err(RegistryError::NotConfigured),
        };
    };
    let registry = Registry::new(url);
    let subject = value_subject(&config.events_topic());
    let current = missive_schemas::codec::EVENTS_SCHEMA_JSON;
    let mut ids = SchemaIds::new();
    let id = registry.register_verified(&subject, current).await?;
    ids.insert(id, EventCodec::get().fingerprint());
    for released in released_schemas() {
        let json = missive_schemas::RELEASED_SCHEMAS
            .iter()
            .find(|(v, _)| *v == released.version)
            .map(|(_, j)| *j)
            .expect("listed");
        if let Some(id) = registry.lookup(&subject, json).await? {
            ids.insert(id, released.fingerprint);
        }
    }
    let framing = match config.kafka.encoding {
        Encoding::SingleObject => Framing::SingleObject,
        Encoding::Confluent => Framing::Confluent { schema_id: id },
    };
    Ok((framing, ids))
}

/// The registry ids under which commands may arrive (the commands schema is
/// registered so backends' stock serializers can use it).
pub async fn commands_ids(config: &Config) -> Result<SchemaIds, RegistryError> {
    let Some(url) = &config.kafka.schema_registry_url else {
        return Ok(SchemaIds::new());
    };
    let registry = Registry::new(url);
    let subject = value_subject(&config.commands_topic());
    let id = registry
        .register_verified(&subject, missive_schemas::commands::COMMANDS_SCHEMA_JSON)
        .await?;
    let mut ids = SchemaIds::new();
    ids.insert(id, CommandCodec::get().fingerprint());
    Ok(ids)
}
