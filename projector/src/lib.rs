//! missive's projector: consumes the event log and maintains the PostgreSQL
//! views (history, inbox, sequence numbers) exactly once, with its consumer
//! offsets stored in the same transactions as the rows.

pub mod apply;
mod consumer;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use missive_core::Config;

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Bind(#[from] missive_core::net::BindError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Db(#[from] missive_core::db::DbError),
    #[error(transparent)]
    Registry(#[from] missive_core::registry::RegistryError),
    #[error("the consume loop panicked")]
    Panicked,
}

pub struct Projector {
    config: Arc<Config>,
    pool: deadpool_postgres::Pool,
    listener: TcpListener,
    schema_ids: missive_schemas::framing::SchemaIds,
}

impl Projector {
    pub async fn bind(config: Arc<Config>) -> Result<Self, ProjectorError> {
        missive_core::kafka::ensure_topics(
            &config,
            &[config.events_topic(), config.events_dlq_topic()],
        )
        .await?;
        let pool = missive_core::db::pool(&config.database_url, config.db_pool_size)?;
        // Registry ids of the released schemas, to read Confluent-framed records.
        let (_, schema_ids) = missive_core::registry::events_framing(&config).await?;
        let listener = missive_core::net::bind(config.projector.listen).await?;
        Ok(Self {
            config,
            pool,
            listener,
            schema_ids,
        })
    }

    /// The health/metrics listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Projects until `shutdown` fires; the batch in hand is committed first.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        let ops = missive_core::telemetry::ops_routes::<()>("projector", Some(self.pool.clone()));
        tracing::info!(addr = %self.local_addr(), "projector health/metrics listening");
        let server = tokio::spawn(
            axum::serve(self.listener, ops)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        );
        let consume = consumer::ConsumeLoop {
            config: self.config,
            pool: self.pool,
            handle: tokio::runtime::Handle::current(),
            stop: shutdown.clone(),
            schema_ids: self.schema_ids,
        };
        // librdkafka's consumer is polled synchronously; it gets its own thread
        // so PostgreSQL work (driven through the runtime handle) never blocks
        // a runtime worker.
        let thread = std::thread::Builder::new()
            .name("projector-consume".into())
            .spawn(move || consume.run())
            .expect("spawn the consume thread");
        let result = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|_| ProjectorError::Panicked)?;
        shutdown.cancel();
        let _ = server.await;
        match result {
            Ok(r) => Ok(r?),
            Err(_) => Err(ProjectorError::Panicked),
        }
    }
}

pub async fn run(config: Arc<Config>, shutdown: CancellationToken) -> Result<(), ProjectorError> {
    Projector::bind(config).await?.run(shutdown).await
}
