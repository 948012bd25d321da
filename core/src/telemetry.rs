//! Logs (`tracing`), Prometheus metrics and the `/healthz` + `/metrics`
//! routes every service serves.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use deadpool_postgres::Pool;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); JSON lines when
/// `MISSIVE_LOG_FORMAT=json`. Safe to call more than once.
pub fn init_tracing() {
    init_tracing_at("info");
}

/// Like [`init_tracing`], with another default level (operator tools log
/// only warnings, so their progress display stays readable).
pub fn init_tracing_at(default_level: &str) {
    // apache-avro warns that the event union has one member; that is by
    // design (new event kinds are appended to it), so it is not shown.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},apache_avro::schema=error")));
    let json = std::env::var("MISSIVE_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

#[derive(Clone)]
struct Ops {
    service: &'static str,
    pool: Option<Pool>,
    metrics: PrometheusHandle,
}

/// `/healthz` (checks PostgreSQL when the service uses it) and `/metrics`.
pub fn ops_routes<S: Clone + Send + Sync + 'static>(
    service: &'static str,
    pool: Option<Pool>,
) -> Router<S> {
    let ops = Ops {
        service,
        pool,
        metrics: metrics_handle(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(ops)
}

async fn healthz(State(ops): State<Ops>) -> impl IntoResponse {
    let postgres = match &ops.pool {
        None => "not used".to_owned(),
        Some(pool) => match pool.get().await {
            Ok(client) => match client.simple_query("SELECT 1").await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("error: {e}"),
            },
            Err(e) => format!("error: {e}"),
        },
    };
    let healthy = postgres == "ok" || postgres == "not used";
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "service": ops.service,
            "status": if healthy { "ok" } else { "degraded" },
            "postgres": postgres,
        })),
    )
}

async fn render_metrics(State(ops): State<Ops>) -> String {
    ops.metrics.run_upkeep();
    ops.metrics.render()
}
