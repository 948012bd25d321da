//! Logs (`tracing`), Prometheus metrics and the `/healthz`, `/readyz` and
//! `/metrics` routes every service serves.
//!
//! `/healthz` says the process serves and reaches PostgreSQL. `/readyz` says
//! whether the service does its job now: PostgreSQL and the broker
//! reachable, plus what the service itself knows (the projector: events are
//! being projected, not waiting behind a stall). It answers 503 with the
//! failing checks named, so a load balancer or an orchestrator can act.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use deadpool_postgres::Pool;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{json, Value};
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

/// Latency buckets (seconds): from a fraction of a millisecond (a push on
/// an idle box) to tens of seconds (a stalled dependency).
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Size buckets (events, rows per batch).
const COUNT_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

/// The process-wide Prometheus recorder (installed on first use).
/// Histograms are exported as histograms with buckets (which aggregate
/// across instances), not as summaries.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| b.set_buckets(COUNT_BUCKETS))
                .expect("bucket lists are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// One condition of a service's readiness, besides PostgreSQL.
pub trait ReadinessProbe: Send + Sync + 'static {
    /// The check's name in `/readyz`'s answer.
    fn name(&self) -> &'static str;
    /// `Ok(detail)` when ready, `Err(detail)` when not.
    fn check(&self) -> Result<Value, Value>;
}

/// The broker, as the events producer sees it.
impl ReadinessProbe for crate::kafka::LinkHealth {
    fn name(&self) -> &'static str {
        "broker"
    }

    fn check(&self) -> Result<Value, Value> {
        if self.is_down() {
            Err(json!("no broker connection is up"))
        } else {
            Ok(json!("reachable"))
        }
    }
}

#[derive(Clone)]
struct Ops {
    service: &'static str,
    pool: Option<Pool>,
    probes: Vec<Arc<dyn ReadinessProbe>>,
    metrics: PrometheusHandle,
}

/// `/healthz` (checks PostgreSQL when the service uses it), `/readyz`
/// (PostgreSQL and every probe) and `/metrics`.
pub fn ops_routes<S: Clone + Send + Sync + 'static>(
    service: &'static str,
    pool: Option<Pool>,
    probes: Vec<Arc<dyn ReadinessProbe>>,
) -> Router<S> {
    let ops = Ops {
        service,
        pool,
        probes,
        metrics: metrics_handle(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(ops)
}

/// "ok", "not used", or why PostgreSQL does not answer (within 2 s).
async fn check_postgres(pool: &Option<Pool>) -> String {
    let Some(pool) = pool else {
        return "not used".to_owned();
    };
    let probe = async {
        let client = pool.get().await.map_err(|e| e.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 2 s".to_owned(),
    }
}

async fn healthz(State(ops): State<Ops>) -> impl IntoResponse {
    let postgres = check_postgres(&ops.pool).await;
    let healthy = postgres == "ok" || postgres == "not used";
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "service": ops.service,
            "status": if healthy { "ok" } else { "degraded" },
            "postgres": postgres,
        })),
    )
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    let postgres = check_postgres(&ops.pool).await;
    let mut ready = postgres == "ok" || postgres == "not used";
    let mut checks = serde_json::Map::new();
    checks.insert(
        "postgres".into(),
        json!({ "ok": ready, "detail": postgres }),
    );
    for probe in &ops.probes {
        let (ok, detail) = match probe.check() {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        ready &= ok;
        checks.insert(probe.name().into(), json!({ "ok": ok, "detail": detail }));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "service": ops.service,
            "ready": ready,
            "checks": checks,
        })),
    )
}

async fn render_metrics(State(ops): State<Ops>) -> String {
    ops.metrics.run_upkeep();
    ops.metrics.render()
}
