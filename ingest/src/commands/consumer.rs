//! The commands-topic consumer: one per ingest instance, in one consumer
//! group, so partitions spread over instances.
//!
//! Each command is handled to the end (appended, found already done, or
//! dead-lettered) before its offset is stored; only stored offsets are
//! committed. A crash in between re-delivers the command, which is harmless:
//! its effects are idempotent (see [`crate::msg_key::command_fields`]).
//! Bad input never stops the loop; only unavailability of the log or the
//! views makes it wait and retry the same command.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

use missive_core::{ApiError, Config, ErrorCode};
use missive_log::{DeadLetter, EventAppender};
use missive_schemas::commands::{Command, CommandCodec};
use missive_schemas::framing::SchemaIds;

use super::{execute, Handled};
use crate::actions::Actions;

/// Dead-letter headers (besides the original record's, which are kept).
pub mod headers {
    /// Why the command was refused, in words.
    pub const REASON: &str = missive_log::dead_letter::REASON;
    /// The Tencent-style error code (decimal).
    pub const ERROR_CODE: &str = "missive.dlq.error_code";
    /// Where the command was read: topic, partition, offset.
    pub const SOURCE_TOPIC: &str = "missive.dlq.source.topic";
    pub const SOURCE_PARTITION: &str = "missive.dlq.source.partition";
    pub const SOURCE_OFFSET: &str = "missive.dlq.source.offset";
    /// The command's idempotency key and kind, when it decoded.
    pub const COMMAND_ID: &str = "missive.dlq.command_id";
    pub const COMMAND_KIND: &str = "missive.dlq.command_kind";
}

const RETRY_PAUSE_MAX: Duration = Duration::from_secs(5);

pub struct CommandsConsumer {
    consumer: StreamConsumer,
    /// The consumer's settings, to create it anew after a fatal error.
    settings: rdkafka::ClientConfig,
    /// Writes the dead letters.
    appender: EventAppender,
    actions: Actions,
    config: Arc<Config>,
    topic: String,
    dlq_topic: String,
    /// Registry ids of the commands schema (Confluent-framed commands).
    schema_ids: SchemaIds,
}

impl CommandsConsumer {
    pub fn new(actions: Actions, schema_ids: SchemaIds) -> Result<Self, KafkaError> {
        let config = actions.config.clone();
        let config = &config;
        let mut settings = missive_core::kafka::base_config(config, "commands");
        missive_core::kafka::join_group(
            config,
            &mut settings,
            &config.commands_group(),
            "commands",
        );
        settings
            // Offsets are stored by hand once a command is handled; only
            // those are committed (periodically and on shutdown).
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        let topic = config.commands_topic();
        let consumer: StreamConsumer = settings.create()?;
        consumer.subscribe(&[&topic])?;
        Ok(Self {
            consumer,
            settings,
            appender: actions.sends.appender().clone(),
            dlq_topic: config.commands_dlq_topic(),
            topic,
            config: config.clone(),
            actions,
            schema_ids,
        })
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(topic = %self.topic, group = %self.config.commands_group(), "commands consumer running");
        loop {
            let msg = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = self.consumer.recv() => m,
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) if missive_core::kafka::is_fatal(&e) => {
                    tracing::error!(error = %e, "commands consumer unusable; creating it anew");
                    metrics::counter!("missive_kafka_consumers_recreated_total", "role" => "commands")
                        .increment(1);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match self.settings.create::<StreamConsumer>().and_then(|c| {
                        c.subscribe(&[&self.topic])?;
                        Ok(c)
                    }) {
                        Ok(c) => self.consumer = c,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot create the commands consumer")
                        }
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "commands consume error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if !self.handle(&msg, &shutdown).await {
                break; // shutting down mid-retry: the command is re-read next time
            }
            if let Err(e) = self.consumer.store_offset_from_message(&msg) {
                tracing::warn!(error = %e, "cannot store the commands offset");
            }
        }
        if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last commit is the usual cause.
            tracing::debug!(error = %e, "final commands commit");
        }
        tracing::info!("commands consumer stopped");
    }

    /// Handles one record to the end; `false` only when shutdown interrupted it.
    async fn handle(&self, msg: &BorrowedMessage<'_>, shutdown: &CancellationToken) -> bool {
        let payload = msg.payload().unwrap_or_default();
        let command = match CommandCodec::get().decode_framed(payload, &self.schema_ids) {
            Ok(c) => c,
            Err(e) => {
                let refusal = ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("undecodable command: {e}"),
                );
                return self.dead_letter(msg, None, &refusal, shutdown).await;
            }
        };
        let span =
            tracing::info_span!("command", id = %command.command_id, kind = command.action.kind());
        let _enter = span.enter();
        let mut pause = Duration::from_millis(100);
        loop {
            match execute(&self.actions, &command).await {
                Ok(handled) => {
                    let outcome = match handled {
                        Handled::Applied { .. } => "applied",
                        Handled::AlreadyDone => "already_done",
                    };
                    metrics::counter!("missive_commands_total", "kind" => command.action.kind(), "outcome" => outcome)
                        .increment(1);
                    tracing::debug!(?handled, "command handled");
                    return true;
                }
                Err(e) if e.code.retryable() => {
                    tracing::warn!(error = %e, "command not handled yet; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(RETRY_PAUSE_MAX);
                }
                Err(e) => {
                    metrics::counter!("missive_commands_total", "kind" => command.action.kind(), "outcome" => "refused")
                        .increment(1);
                    tracing::info!(error = %e, "command refused; dead-lettered");
                    return self.dead_letter(msg, Some(&command), &e, shutdown).await;
                }
            }
        }
    }

    /// Copies the record, byte for byte, to the dead-letter topic with the
    /// reason in headers. Retries until the broker has it: a refused command
    /// is never just dropped.
    async fn dead_letter(
        &self,
        msg: &BorrowedMessage<'_>,
        command: Option<&Command>,
        refusal: &ApiError,
        shutdown: &CancellationToken,
    ) -> bool {
        let code = refusal.client_code().to_string();
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        let payload = msg.payload().unwrap_or_default();
        let mut letter = DeadLetter::new(&self.dlq_topic, payload)
            .key(msg.key())
            .keep(msg.headers())
            .header(headers::REASON, &refusal.info)
            .header(headers::ERROR_CODE, &code)
            .header(headers::SOURCE_TOPIC, msg.topic())
            .header(headers::SOURCE_PARTITION, &partition)
            .header(headers::SOURCE_OFFSET, &offset);
        if let Some(c) = command {
            letter = letter
                .header(headers::COMMAND_ID, &c.command_id)
                .header(headers::COMMAND_KIND, c.action.kind());
        }
        let mut pause = Duration::from_millis(100);
        loop {
            match self.appender.dead_letter(&letter).await {
                Ok(_) => {
                    metrics::counter!("missive_commands_dead_lettered_total", "code" => code.clone())
                        .increment(1);
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, topic = %self.dlq_topic, "dead-letter append failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(RETRY_PAUSE_MAX);
                }
            }
        }
    }
}
