//! missive's client side: WebSocket sessions for the SDK (login with a
//! UserSig, sync from a cursor, live push). See docs/protocol.md.

mod account_gate;
mod demo;
mod hub;
mod inbox;
pub mod protocol;
pub mod push;
mod requests;
mod session;
mod upkeep;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use deadpool_postgres::Pool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use missive_core::usersig::UserSigVerifier;
use missive_core::Config;
use missive_ingest::actions::Actions;
use missive_ingest::device::DeviceActions;
use missive_log::{AppendSetupError, EventAppender};

pub use session::{CLOSE_AUTH_FAILED, CLOSE_BAD_LOGIN, CLOSE_TOO_SLOW, CLOSE_USERSIG_EXPIRED};

/// Largest frame a client may send.
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Bytes read from a socket at a time. tungstenite's default, 128 KiB, is
/// zeroed before every read: with client frames of a few hundred bytes that
/// was 6% of missive's CPU (issue #17) and 128 KiB held per connection.
/// Larger frames are read in several pieces.
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Bind(#[from] missive_core::net::BindError),
    #[error(transparent)]
    Db(#[from] missive_core::db::DbError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Appender(#[from] AppendSetupError),
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("push worker: {0}")]
    Push(#[from] push::PushWorkerError),
}

pub(crate) struct DeliveryState {
    pub verifier: UserSigVerifier,
    pub pool: Pool,
    pub hub: Arc<hub::Hub>,
    pub send_queue: usize,
    /// How long a session's queue may stay full before the client is cut off.
    pub stall: std::time::Duration,
    pub sessions: TaskTracker,
    pub shutdown: CancellationToken,
    /// Written in presence rows, so a session only removes its own.
    pub instance_id: String,
    pub offline_caps: missive_core::views::OfflineCaps,
    pub views: missive_core::config::ViewsConfig,
    /// Sends, recalls, read reports and push tokens: ingest's device adapter.
    pub actions: DeviceActions,
    /// Deepest JSON nesting accepted in a frame.
    pub json_max_depth: usize,
    /// Per-user send and request rates.
    pub limits: missive_core::ratelimit::RateLimits,
    /// Session events (`SessionChanged`) appending at once: a quarter of
    /// the appender's `ingest.max_pending_appends`, so a storm of logins
    /// never takes the slots device sends wait in.
    pub session_appends: Arc<tokio::sync::Semaphore>,
}

pub struct Delivery {
    config: Arc<Config>,
    pool: Pool,
    listener: TcpListener,
    actions: DeviceActions,
    /// The one events producer of this service: device sends and the push
    /// worker's token removals, framed as configured.
    appender: EventAppender,
}

impl Delivery {
    pub async fn bind(config: Arc<Config>) -> Result<Self, DeliveryError> {
        let appender = EventAppender::connect(&config).await?;
        Self::bind_with(config, appender).await
    }

    /// [`bind`](Self::bind), appending through `appender`: the services of
    /// one process share one producer (`missive dev`).
    pub async fn bind_with(
        config: Arc<Config>,
        appender: EventAppender,
    ) -> Result<Self, DeliveryError> {
        missive_core::kafka::ensure_topics(&config, &[config.events_topic()]).await?;
        let pool = missive_core::db::pool(
            &config.database_url,
            config.db_pool_size,
            "missive-delivery",
        )?;
        let actions =
            DeviceActions::new(Actions::new(config.clone(), pool.clone(), appender.clone()));
        let listener = missive_core::net::bind(config.delivery.listen).await?;
        Ok(Self {
            config,
            pool,
            listener,
            actions,
            appender,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown`; then closes every session (close code 1001)
    /// and waits for them to finish.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), DeliveryError> {
        // Offline push runs beside the sessions when a vendor is configured.
        let push_task = push::PushWorker::new(
            self.config.clone(),
            self.pool.clone(),
            self.appender.clone(),
        )
        .await?
        .map(|w| tokio::spawn(w.run(shutdown.clone())));
        let hub = Arc::new(hub::Hub::default());
        // Entries a projector in this process commits come straight here.
        let sink: Arc<dyn missive_core::live::LiveSink> = hub.clone();
        missive_core::live::Feed::for_topic(&self.config.events_topic()).subscribe(&sink);
        let listener_task = tokio::spawn(hub::listen(
            hub.clone(),
            self.config.database_url.clone(),
            missive_core::views::INBOX_CHANNEL,
            shutdown.clone(),
        ));
        let upkeep_task = tokio::spawn(upkeep::run(
            hub.clone(),
            self.pool.clone(),
            self.config.instance_id.clone(),
            std::time::Duration::from_millis(self.config.delivery.upkeep_period_ms.max(15)),
            shutdown.clone(),
        ));
        let state = Arc::new(DeliveryState {
            verifier: UserSigVerifier::new(self.config.sdkappid, self.config.secret_key.clone()),
            pool: self.pool.clone(),
            hub,
            send_queue: self.config.delivery.send_queue.max(1),
            stall: std::time::Duration::from_millis(self.config.delivery.stall_timeout_ms),
            sessions: TaskTracker::new(),
            shutdown: shutdown.clone(),
            instance_id: self.config.instance_id.clone(),
            offline_caps: missive_core::views::OfflineCaps::from_config(&self.config.views),
            views: self.config.views.clone(),
            actions: self.actions.clone(),
            json_max_depth: self.config.limits.json_max_depth,
            limits: missive_core::ratelimit::RateLimits::new(&self.config.limits),
            session_appends: Arc::new(tokio::sync::Semaphore::new(
                (self.config.ingest.max_pending_appends / 4).max(1),
            )),
        });
        let mut app = Router::new()
            .route("/v1/ws", get(upgrade))
            .with_state(state.clone());
        if self.config.delivery.demo {
            tracing::warn!("the browser demo and its UserSig endpoint are on: development only");
            app = app.merge(demo::routes(
                UserSigVerifier::new(self.config.sdkappid, self.config.secret_key.clone()),
                self.config.admin_identifier.clone(),
            ));
        }
        let app = app
            .merge(missive_core::telemetry::ops_routes(
                "delivery",
                Some(self.pool.clone()),
                vec![Arc::new(self.actions.link_health())],
            ))
            .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<_>| {
                    tracing::info_span!("ws", path = %req.uri().path())
                },
            ));
        tracing::info!(addr = %self.local_addr(), "delivery WebSocket listening");
        // Bounded connections (a session holds its slot until it ends), and
        // clients slow to send the handshake cut off (docs/limits.md).
        let served = missive_core::net::serve(
            self.listener,
            app,
            self.config.limits.ws(),
            shutdown.clone(),
        )
        .await;
        state.sessions.close();
        state.sessions.wait().await;
        let _ = listener_task.await;
        let _ = upkeep_task.await;
        if let Some(t) = push_task {
            let _ = t.await;
        }
        tracing::info!("delivery stopped");
        served.map_err(DeliveryError::Serve)
    }
}

async fn upgrade(
    State(state): State<Arc<DeliveryState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    // The connection's peer, the callbacks' ClientIP (missive has no
    // trusted-proxy setting: behind a proxy this is the proxy's address).
    let client_ip = Some(peer.ip().to_canonical().to_string());
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let shutdown = state.shutdown.clone();
            let tracker = state.sessions.clone();
            tracker.track_future(session::run(socket, state, shutdown, client_ip))
        })
}

pub async fn run(config: Arc<Config>, shutdown: CancellationToken) -> Result<(), DeliveryError> {
    Delivery::bind(config).await?.run(shutdown).await
}
