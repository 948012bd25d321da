//! The after-callbacks worker: consumes `<prefix>.events` in its own
//! consumer group (`callbacks.group_id`) and makes the callbacks the events
//! call for. It never touches the send path: a slow or dead app server only
//! delays callbacks.
//!
//! Guarantees:
//! - **At least once.** A record's offset is stored only once its callback
//!   was answered (or dead-lettered), and committed synchronously right
//!   after, so a worker killed at any point re-sends at most the callback it
//!   was making. Each body carries `EventId` (and the `X-Missive-Event-Id`
//!   header), the same on every try, to de-duplicate on.
//! - **In order per conversation.** Records are handled one at a time, in
//!   log order, and a conversation lives on one partition; a callback being
//!   retried holds back the ones after it. More throughput is more
//!   partitions and more workers in the group.
//! - **Retries, then a dead letter.** Failures (time-out, HTTP error, an
//!   answer that is not Tencent's JSON) are retried with exponential backoff
//!   and full jitter, `callbacks.max_attempts` times in all; then the body
//!   goes to `<prefix>.callbacks.dlq` with the reason in headers and the
//!   worker moves on.
//! - A replay of the log into a new database (`missive replay`) runs no
//!   callbacks: only this group's offsets decide what was called back.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use tokio_util::sync::CancellationToken;

use missive_core::Config;
use missive_log::{dead_letter, AppendSetupError, DeadLetter, EventAppender};
use missive_schemas::framing::SchemaIds;
use missive_schemas::EventCodec;

use crate::bodies::{after_callback, AfterCallback};
use crate::request::CallbackClient;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Appender(#[from] AppendSetupError),
    #[error(transparent)]
    Registry(#[from] missive_core::registry::RegistryError),
    #[error(transparent)]
    Db(#[from] missive_core::db::DbError),
}

pub struct CallbackWorker {
    config: Arc<Config>,
    client: CallbackClient,
    consumer: StreamConsumer,
    settings: rdkafka::ClientConfig,
    /// Writes the dead letters (the one way onto a topic).
    appender: EventAppender,
    events_topic: String,
    dlq_topic: String,
    /// Registry ids of the event schemas, to read Confluent-framed records.
    schema_ids: SchemaIds,
    /// The views, for `UnreadMsgNum` (one indexed read per message callback).
    pool: deadpool_postgres::Pool,
}

/// How one callback ended.
enum Delivery {
    Answered,
    DeadLettered,
    /// Shutdown came first: not stored, re-sent by whoever reads it next.
    Interrupted,
}

impl CallbackWorker {
    /// The worker, or `None` when no URL is set or no after-callback is switched on.
    pub async fn new(config: Arc<Config>) -> Result<Option<Self>, WorkerError> {
        if !config.callbacks.any_after() {
            return Ok(None);
        }
        let timeout = Duration::from_millis(config.callbacks.request_timeout_ms);
        let Some(client) = CallbackClient::new(&config, timeout) else {
            return Ok(None);
        };
        let events_topic = config.events_topic();
        let dlq_topic = config.callbacks_dlq_topic();
        missive_core::kafka::ensure_topics(&config, &[events_topic.clone(), dlq_topic.clone()])
            .await?;
        let mut settings = missive_core::kafka::consumer_config(&config, "callbacks");
        missive_core::kafka::join_group(
            &config,
            &mut settings,
            &config.callbacks_group_id(),
            "callbacks",
        );
        settings
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            // A new group starts where the log ends unless told otherwise:
            // switching callbacks on must not replay history to the app server.
            .set(
                "auto.offset.reset",
                if config.callbacks.new_group_from_start {
                    "earliest"
                } else {
                    "latest"
                },
            );
        let consumer = missive_core::kafka::subscribed(&settings, &events_topic)?;
        let appender = EventAppender::connect(&config).await?;
        let (_, schema_ids) = missive_core::registry::events_framing(&config).await?;
        // One callback at a time: two connections are plenty.
        let pool = missive_core::db::pool(&config.database_url, 2, "missive-callbacks")?;
        Ok(Some(Self {
            config,
            client,
            consumer,
            settings,
            appender,
            events_topic,
            dlq_topic,
            schema_ids,
            pool,
        }))
    }

    /// Runs until `shutdown`; the callback in hand is finished or left
    /// unstored, and stored offsets are committed, before it returns.
    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(group = %self.config.callbacks_group_id(), "callbacks worker consuming");
        loop {
            let m = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = self.consumer.recv() => m,
            };
            let m = match m {
                Ok(m) => m.detach(),
                Err(e) if missive_core::kafka::is_fatal(&e) => {
                    tracing::error!(error = %e, "callbacks worker: consumer unusable; creating it anew");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match missive_core::kafka::subscribed(&self.settings, &self.events_topic) {
                        Ok(c) => self.consumer = c,
                        Err(e) => {
                            tracing::error!(error = %e, "callbacks worker: cannot create the consumer")
                        }
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "callbacks worker: consume error");
                    continue;
                }
            };
            // Undecodable records are the projector's to dead-letter; skipped here.
            let callback = EventCodec::get()
                .decode_framed(m.payload().unwrap_or_default(), &self.schema_ids)
                .ok()
                .and_then(|env| after_callback(&env, &self.config.callbacks));
            let called = match &callback {
                None => false,
                Some(cb) => match self.deliver(cb, &shutdown).await {
                    Delivery::Interrupted => break,
                    Delivery::Answered | Delivery::DeadLettered => true,
                },
            };
            if let Err(e) =
                self.consumer
                    .store_offset(&self.events_topic, m.partition(), m.offset())
            {
                tracing::debug!(error = %e, "offset not stored (partition revoked)");
            }
            if called {
                // Committed now, not by the timer: a crash must not send it again.
                if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync) {
                    tracing::warn!(error = %e, "callbacks worker: commit failed");
                }
            }
        }
        if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "final offset commit");
        }
        tracing::info!("callbacks worker stopped");
    }

    /// Calls until answered or attempts run out (then dead-letters).
    async fn deliver(&self, cb: &AfterCallback, stop: &CancellationToken) -> Delivery {
        let settings = &self.config.callbacks;
        let max_attempts = settings.max_attempts.max(1);
        let base = Duration::from_millis(settings.retry_base_ms.max(1));
        let cap = Duration::from_millis(settings.retry_max_ms.max(settings.retry_base_ms));
        let event_id = cb.body["EventId"].as_str().map(str::to_owned);
        let mut attempt = 0;
        let mut body = cb.body.clone();
        loop {
            attempt += 1;
            // Read at each try: the count when the app server is told.
            if let Some((user, peer)) = &cb.unread_of {
                body["UnreadMsgNum"] = self.unread(user, peer).await.into();
            }
            let result = tokio::select! {
                r = self.client.post(cb.command, &cb.client_ip, cb.platform, &body, event_id.as_deref()) => r,
                _ = stop.cancelled() => return Delivery::Interrupted,
            };
            // After-callbacks' answers are not acted on (Tencent ignores
            // their ErrorCode); getting a well-formed one is success.
            let reason = match result {
                Ok(_) => {
                    metrics::counter!("missive_callbacks_sent_total", "command" => cb.command, "result" => "sent")
                        .increment(1);
                    return Delivery::Answered;
                }
                Err(e) => e.to_string(),
            };
            metrics::counter!("missive_callbacks_failed_total", "command" => cb.command)
                .increment(1);
            if attempt >= max_attempts {
                tracing::warn!(command = cb.command, %reason, attempts = attempt,
                    "callback still failing after its retries; dead-lettering it");
                loop {
                    match self.dead_letter(cb, &body, attempt, &reason).await {
                        Ok(()) => return Delivery::DeadLettered,
                        Err(e) => {
                            tracing::warn!(error = %e, "callbacks DLQ unavailable; retrying");
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                                _ = stop.cancelled() => return Delivery::Interrupted,
                            }
                        }
                    }
                }
            }
            // Exponential backoff with full jitter: many workers failing at
            // once do not retry in step.
            let ceiling = base.saturating_mul(1 << (attempt - 1).min(20)).min(cap);
            let wait = Duration::from_millis(
                rand::rng()
                    .random_range(ceiling.as_millis() as u64 / 2..=ceiling.as_millis() as u64),
            );
            tracing::debug!(command = cb.command, %reason, ?wait, attempt, "callback retry");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return Delivery::Interrupted,
            }
        }
    }

    /// `user`'s unread messages from `peer` now, counted as
    /// `get_c2c_unread_msg_num` counts them (the offline caps); 0 when the
    /// views cannot be read (logged: a callback is not held for it).
    async fn unread(&self, user: &str, peer: &str) -> i64 {
        let caps = missive_core::views::OfflineCaps::from_config(&self.config.views);
        let counted = async {
            let client = self.pool.get().await.map_err(|e| e.to_string())?;
            missive_core::views::unread_with(&client, user, peer, caps)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        counted.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "callbacks worker: unread count unavailable; UnreadMsgNum 0");
            0
        })
    }

    async fn dead_letter(
        &self,
        cb: &AfterCallback,
        body: &serde_json::Value,
        attempts: u32,
        reason: &str,
    ) -> Result<(), rdkafka::error::KafkaError> {
        let payload = body.to_string();
        let attempts = attempts.to_string();
        let key = cb.body["EventId"].as_str().unwrap_or_default().to_owned();
        let letter = DeadLetter::new(&self.dlq_topic, payload.as_bytes())
            .key(Some(key.as_bytes()))
            .header(dead_letter::REASON, reason)
            .header("missive.dlq.topic", &self.events_topic)
            .header("missive.callback.command", cb.command)
            .header("missive.callback.attempts", &attempts);
        self.appender.dead_letter(&letter).await?;
        metrics::counter!("missive_callbacks_dead_lettered_total", "command" => cb.command)
            .increment(1);
        Ok(())
    }
}
