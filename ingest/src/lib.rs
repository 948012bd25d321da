//! missive's write side: validates sends and relationship changes, checks
//! permissions against the views, and appends events to the log. Serves the
//! Tencent-compatible REST API; the WebSocket and commands-topic channels
//! reuse [`send::SendPipeline`].

pub mod account_rules;
pub mod appender;
pub mod before_send;
pub mod changes;
pub mod commands;
pub mod msg_key;
pub mod push_tokens;
pub mod rest;
pub mod send;
pub mod user_actions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use missive_core::usersig::UserSigVerifier;
use missive_core::Config;

use crate::appender::EventAppender;
use crate::changes::ChangePipeline;
use crate::rest::RestState;
use crate::send::SendPipeline;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Bind(#[from] missive_core::net::BindError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Db(#[from] missive_core::db::DbError),
    #[error(transparent)]
    Registry(#[from] missive_core::registry::RegistryError),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// The ingest service, bound and ready to run.
pub struct Ingest {
    listener: TcpListener,
    router: axum::Router,
    appender: EventAppender,
    commands: Option<commands::consumer::CommandsConsumer>,
    limits: missive_core::net::ServeLimits,
}

impl Ingest {
    pub async fn bind(config: Arc<Config>) -> Result<Self, IngestError> {
        let mut topics = vec![config.events_topic()];
        if config.ingest.commands_enabled {
            topics.extend([config.commands_topic(), config.commands_dlq_topic()]);
        }
        missive_core::kafka::ensure_topics(&config, &topics).await?;
        let pool = missive_core::db::pool(&config.database_url, config.db_pool_size)?;
        let (framing, _) = missive_core::registry::events_framing(&config).await?;
        let appender = EventAppender::new(&config)?.with_framing(framing);
        let verifier = missive_core::usersig_cache::CachedVerifier::new(UserSigVerifier::new(
            config.sdkappid,
            config.secret_key.clone(),
        ));
        let state = Arc::new(RestState {
            pipeline: SendPipeline::new(config.clone(), pool.clone(), appender.clone()),
            changes: ChangePipeline::new(config.clone(), pool.clone(), appender.clone()),
            config: config.clone(),
            verifier,
            pool,
            limits: missive_core::ratelimit::RateLimits::new(&config.limits),
        });
        let commands = if config.ingest.commands_enabled {
            let ids = missive_core::registry::commands_ids(&config).await?;
            Some(commands::consumer::CommandsConsumer::new(
                state.clone(),
                ids,
            )?)
        } else {
            None
        };
        let listener = missive_core::net::bind(config.ingest.listen).await?;
        Ok(Self {
            listener,
            router: rest::router(state),
            appender,
            commands,
            limits: config.limits.rest(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` fires, then finishes in-flight requests and
    /// flushes the producer.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), IngestError> {
        tracing::info!(addr = %self.local_addr(), "ingest REST listening");
        let commands = self.commands.map(|c| tokio::spawn(c.run(shutdown.clone())));
        // Bounded connections, and slow clients cut off (docs/limits.md).
        let served =
            missive_core::net::serve(self.listener, self.router, self.limits, shutdown.clone())
                .await
                .map_err(IngestError::Serve);
        if served.is_err() {
            shutdown.cancel();
        }
        if let Some(task) = commands {
            // The consumer finishes the command in hand, then commits.
            let _ = task.await;
        }
        served?;
        self.appender.flush(Duration::from_secs(10));
        tracing::info!("ingest stopped");
        Ok(())
    }
}

pub async fn run(config: Arc<Config>, shutdown: CancellationToken) -> Result<(), IngestError> {
    Ingest::bind(config).await?.run(shutdown).await
}
