//! missive's write side: validates sends and relationship changes, checks
//! permissions against the views, and appends events to the log.
//!
//! Built as floors, each importing only the ones below it (docs/architecture.md):
//!
//! | floor | modules | what it knows |
//! |---|---|---|
//! | adapters | [`rest`], [`commands`], [`device`] | a channel: HTTP and UserSig, the commands topic's Avro records and dead letters, a WebSocket device's requests. No adapter imports another. |
//! | Tencent | [`tencent`] | Tencent IM's request fields and their rules, parsed into typed inputs |
//! | actions | [`actions`] | send, recall, edit, read, relationships, accounts, push tokens: typed inputs, typed [`actions::Outcome`]s, the permission decisions |
//! | log | the `missive-log` crate | the one [`missive_log::EventAppender`], the MsgKey rule, dead letters |
//!
//! delivery (WebSocket sessions) uses [`device`] only.

pub mod actions;
pub mod commands;
pub mod device;
pub mod rest;
pub mod tencent;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use missive_core::usersig::UserSigVerifier;
use missive_core::Config;

use missive_log::{AppendSetupError, EventAppender};

use crate::actions::Actions;
use crate::rest::RestState;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Bind(#[from] missive_core::net::BindError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Appender(#[from] AppendSetupError),
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
        let appender = EventAppender::connect(&config).await?;
        Self::bind_with(config, appender).await
    }

    /// [`bind`](Self::bind), appending through `appender`: the services of
    /// one process share one producer (`missive dev`).
    pub async fn bind_with(
        config: Arc<Config>,
        appender: EventAppender,
    ) -> Result<Self, IngestError> {
        let mut topics = vec![config.events_topic()];
        if config.ingest.commands_enabled {
            topics.extend([config.commands_topic(), config.commands_dlq_topic()]);
        }
        missive_core::kafka::ensure_topics(&config, &topics).await?;
        let pool =
            missive_core::db::pool(&config.database_url, config.db_pool_size, "missive-ingest")?;
        let actions = Actions::new(config.clone(), pool, appender.clone());
        let verifier = missive_core::usersig_cache::CachedVerifier::new(UserSigVerifier::new(
            config.sdkappid,
            config.secret_key.clone(),
        ));
        let commands = if config.ingest.commands_enabled {
            let ids = missive_core::registry::commands_ids(&config).await?;
            Some(commands::consumer::CommandsConsumer::new(
                actions.clone(),
                ids,
            )?)
        } else {
            None
        };
        let state = Arc::new(RestState {
            config: config.clone(),
            verifier,
            actions,
            limits: missive_core::ratelimit::RateLimits::new(&config.limits),
        });
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
