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
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| b.set_buckets(COUNT_BUCKETS))
                .expect("bucket lists are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe_metrics();
            handle
        })
        .clone()
}

/// HELP text of every metric missive exports, in one place.
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    // ingest
    describe_counter!(
        "missive_rest_requests_total",
        "REST API calls, by API and error code."
    );
    describe_counter!(
        "missive_rate_limited_total",
        "Requests refused by a rate limit (60007/60018)."
    );
    describe_counter!(
        "missive_ingest_events_appended_total",
        "Events appended to the log."
    );
    describe_counter!(
        "missive_ingest_append_failures_total",
        "Appends the broker did not acknowledge."
    );
    describe_counter!(
        "missive_ingest_append_refused_total",
        "Appends refused at once: broker unreachable or too many pending (91000)."
    );
    describe_counter!(
        "missive_ingest_send_retries_total",
        "Sends recognised as retries of a stored message."
    );
    describe_histogram!(
        "missive_ingest_send_probe_sends",
        Unit::Count,
        "Sends read by one statement of the send probe (the sends that arrived while the last was out)."
    );
    describe_histogram!(
        "missive_ingest_append_seconds",
        Unit::Seconds,
        "Time from append to the broker's acknowledgement."
    );
    describe_counter!(
        "missive_commands_total",
        "Commands read from the commands topic, by kind and outcome."
    );
    describe_counter!(
        "missive_commands_dead_lettered_total",
        "Commands sent to the commands dead-letter topic."
    );
    describe_counter!(
        "missive_kafka_consumers_recreated_total",
        "Consumers created anew after a fatal error (a fenced static member), by role."
    );
    // projector
    describe_counter!(
        "missive_projector_events_total",
        "Events committed to the views (dead letters included)."
    );
    describe_counter!(
        "missive_projector_messages_total",
        "Messages written to history."
    );
    describe_counter!(
        "missive_projector_duplicates_total",
        "Message events already in history (retries), skipped."
    );
    describe_counter!("missive_projector_dead_letters_total", "Events sent to the events dead-letter topic, by reason: decode (not an event) or apply (the views refuse it).");
    describe_counter!(
        "missive_projector_batch_retries_total",
        "Batches retried after a transient failure."
    );
    describe_histogram!(
        "missive_projector_batch_seconds",
        Unit::Seconds,
        "Time to write and commit one batch."
    );
    describe_histogram!(
        "missive_projector_batch_events",
        Unit::Count,
        "Events per committed batch."
    );
    describe_gauge!(
        "missive_projector_lag_events",
        Unit::Count,
        "Events in the log not yet in the views, by partition (the group's stored offsets)."
    );
    describe_gauge!(
        "missive_projector_stalled_seconds",
        Unit::Seconds,
        "How long events have waited with no offset moving (0 when projection keeps up)."
    );
    describe_counter!(
        "missive_janitor_messages_deleted_total",
        "History rows removed by retention."
    );
    describe_counter!(
        "missive_janitor_inbox_deleted_total",
        "Expired offline inbox entries removed."
    );
    // delivery
    describe_gauge!(
        "missive_connections_open",
        "Open client connections, by server."
    );
    describe_gauge!("missive_delivery_sessions", "Logged-in WebSocket sessions.");
    describe_counter!("missive_delivery_pushed_total", "Frames pushed to devices.");
    describe_counter!(
        "missive_delivery_slow_disconnects_total",
        "Clients cut off because their queue stayed full."
    );
    describe_counter!(
        "missive_delivery_handed_over_total",
        "Messages pushed as a projector in this process handed them over, without reading PostgreSQL."
    );
    describe_counter!(
        "missive_push_notifications_total",
        "Offline notifications finished, by vendor and outcome."
    );
    describe_counter!(
        "missive_push_sent_total",
        "Offline notifications the vendor accepted."
    );
    describe_counter!(
        "missive_push_failed_total",
        "Offline notifications that failed for good."
    );
    describe_counter!("missive_push_retried_total", "Vendor calls retried.");
    describe_counter!(
        "missive_push_invalid_tokens_total",
        "Tokens the vendor reported invalid (removed)."
    );
    describe_counter!(
        "missive_push_skipped_total",
        "Messages not notified offline, by reason (the recipient is online, ...)."
    );
    describe_counter!(
        "missive_push_duplicates_total",
        "Notifications already claimed (a re-read event), skipped."
    );
    describe_counter!(
        "missive_push_dead_letters_total",
        "Notifications sent to the push dead-letter topic."
    );
    describe_histogram!(
        "missive_push_request_seconds",
        Unit::Seconds,
        "Vendor call latency, by vendor."
    );
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
