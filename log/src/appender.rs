//! Appends events to the log: encode in the configured framing, key by
//! conversation, wait for the broker's acknowledgement (idempotent producer,
//! acks=all). [`EventAppender::connect`] is the only constructor: it asks the
//! Schema Registry for the framing when `kafka.encoding = confluent`, so every
//! producer of events writes what docs/schemas.md promises.
//!
//! Backpressure: while no broker is reachable, or when
//! `ingest.max_pending_appends` appends already wait for one, a send is
//! refused at once with a retryable 91000, so a slow or absent broker never
//! builds an unbounded queue of waiting requests; sends succeed again as soon
//! as the broker answers, with no restart.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use tokio::sync::Semaphore;

use uuid::Uuid;

use missive_core::kafka::LinkHealth;
use missive_core::{time, ApiError, Config, ErrorCode};
use missive_schemas::framing::Framing;
use missive_schemas::{Channel, Envelope, Event, EventCodec, Origin};

use crate::dead_letter::DeadLetter;

/// Who is asking, as authenticated by the channel: stamped on every event's
/// origin.
#[derive(Debug, Clone)]
pub struct Actor {
    pub channel: Channel,
    pub identifier: String,
    pub admin: bool,
}

impl Actor {
    /// missive itself (`component`, e.g. `missive.push`), not a user.
    pub fn system(component: &str) -> Self {
        Self {
            channel: Channel::System,
            identifier: component.to_owned(),
            admin: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppendSetupError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Registry(#[from] missive_core::registry::RegistryError),
}

#[derive(Clone)]
pub struct EventAppender {
    producer: FutureProducer<LinkHealth>,
    link: LinkHealth,
    /// One permit per append waiting for the broker.
    pending: Arc<Semaphore>,
    max_pending: usize,
    topic: String,
    timeout: Duration,
    instance_id: String,
    framing: Framing,
}

/// The last guard before the log: every string of `event` must be one the
/// views can store, or the projector could never apply it. The parsers refuse
/// such input first, naming the request field (see
/// [`missive_core::storable`]); reaching this refusal means a field escaped
/// them, which is logged as the bug it is.
pub fn storable_event(event: &Event) -> Result<(), ApiError> {
    let value = serde_json::to_value(event).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("the {} event cannot be checked: {e}", event.kind()),
        )
    })?;
    missive_core::storable::check_json(event.kind(), &value).map_err(|(path, e)| {
        metrics::counter!("missive_ingest_unstorable_events_total", "kind" => event.kind())
            .increment(1);
        tracing::error!(%path, error = %e, "an unstorable value escaped validation; refused");
        ApiError::new(ErrorCode::InvalidRequest, format!("{path} {e}"))
    })
}

/// Where an appended event landed.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub partition: i32,
    pub offset: i64,
}

impl EventAppender {
    /// The appender for `config`: its producer, and the framing its
    /// `kafka.encoding` names (with `confluent`, the events schema is
    /// registered and its id written in every record).
    pub async fn connect(config: &Config) -> Result<Self, AppendSetupError> {
        let (framing, _) = missive_core::registry::events_framing(config).await?;
        let max_pending = config.ingest.max_pending_appends.max(1);
        let (producer, link) = missive_core::kafka::events_producer(config)?;
        Ok(Self {
            producer,
            link,
            pending: Arc::new(Semaphore::new(max_pending)),
            max_pending,
            topic: config.events_topic(),
            timeout: Duration::from_millis(config.ingest.produce_timeout_ms),
            instance_id: config.instance_id.clone(),
            framing,
        })
    }

    /// How this appender frames records (what `kafka.encoding` asked for).
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the broker is reachable, as this producer sees it (readiness).
    pub fn link_health(&self) -> LinkHealth {
        self.link.clone()
    }

    /// Wraps `event` in an envelope stamped with who asked and this instance,
    /// and appends it.
    pub async fn append_event(&self, actor: &Actor, event: Event) -> Result<Appended, ApiError> {
        storable_event(&event)?;
        let envelope = Envelope {
            event_id: Uuid::now_v7(),
            occurred_at: time::now_millis(),
            origin: Origin {
                channel: actor.channel,
                actor: actor.identifier.clone(),
                admin: actor.admin,
                instance: self.instance_id.clone(),
            },
            event,
        };
        self.append(&envelope).await
    }

    /// Returns once the broker has the event; an error means it may or may
    /// not be on the log, and the caller retries with the same idempotency
    /// fields (the views keep one copy).
    pub async fn append(&self, envelope: &Envelope) -> Result<Appended, ApiError> {
        if self.link.is_down() {
            metrics::counter!("missive_ingest_append_refused_total", "why" => "unreachable")
                .increment(1);
            return Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the message log is unreachable; retry with the same MsgRandom and MsgSeq",
            ));
        }
        let Ok(_permit) = self.pending.try_acquire() else {
            metrics::counter!("missive_ingest_append_refused_total", "why" => "backlog")
                .increment(1);
            return Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                format!(
                    "{} sends already wait for the message log; retry with the same MsgRandom and MsgSeq",
                    self.max_pending
                ),
            ));
        };
        let payload = EventCodec::get().encode_framed(envelope, self.framing);
        let key = envelope.event.key();
        let record = FutureRecord::to(&self.topic).key(&key).payload(&payload);
        let started = std::time::Instant::now();
        match self
            .producer
            .send(record, Timeout::After(self.timeout))
            .await
        {
            Ok(delivery) => {
                metrics::histogram!("missive_ingest_append_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("missive_ingest_events_appended_total", "kind" => envelope.event.kind())
                    .increment(1);
                Ok(Appended {
                    partition: delivery.partition,
                    offset: delivery.offset,
                })
            }
            Err((e, _)) => {
                metrics::counter!("missive_ingest_append_failures_total").increment(1);
                tracing::warn!(error = %e, topic = %self.topic, "append failed");
                Err(ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "the message log is unavailable; retry with the same MsgRandom and MsgSeq",
                ))
            }
        }
    }

    /// Copies a refused record to its dead-letter topic, with the reason in
    /// headers. One attempt, bounded by a 10 s timeout; the caller decides
    /// whether to retry.
    pub async fn dead_letter(
        &self,
        letter: &DeadLetter<'_>,
    ) -> Result<(), rdkafka::error::KafkaError> {
        let record = letter.record();
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }

    /// Waits for in-flight appends (graceful shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(Timeout::After(timeout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use missive_schemas::{AccountImported, Element, TextElem};

    #[test]
    fn an_event_holding_nul_anywhere_is_refused_naming_the_field() {
        let env = missive_schemas::samples::every_element();
        assert_eq!(storable_event(&env.event), Ok(()));
        let Event::MessageSent(mut m) = env.event else {
            unreachable!("every_element() is a MessageSent")
        };
        m.body.push(Element::Text(TextElem {
            text: "a\u{0}".into(),
        }));
        let at = m.body.len() - 1;
        let e = storable_event(&Event::MessageSent(m)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(
            e.info
                .starts_with(&format!("MessageSent.body[{at}].text holds U+0000")),
            "{}",
            e.info
        );
        let e = storable_event(&Event::AccountImported(AccountImported {
            user_id: "u".into(),
            nickname: "\u{0}".into(),
            avatar_url: String::new(),
        }))
        .unwrap_err();
        assert!(
            e.info.starts_with("AccountImported.nickname holds U+0000"),
            "{}",
            e.info
        );
    }
}
