//! The browser demo (development only, `delivery.demo`): a chat page that
//! speaks the WebSocket protocol, and an endpoint that mints its UserSigs.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use missive_core::usersig::UserSigVerifier;
use missive_core::{time, ErrorCode};
use missive_ingest::send::check_user_id;

const PAGE: &str = include_str!("demo/index.html");
/// Demo signatures last a day.
const DEMO_SIG_SECS: u64 = 86_400;

pub fn routes(verifier: UserSigVerifier) -> Router {
    Router::new()
        .route("/demo", get(page))
        .route("/demo/usersig", get(usersig))
        .with_state(verifier)
}

async fn page() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response()
}

#[derive(Deserialize)]
struct SigQuery {
    user: Option<String>,
}

/// `GET /demo/usersig?user=alice` → `{"user": "alice", "usersig": "..."}`.
async fn usersig(State(verifier): State<UserSigVerifier>, Query(q): Query<SigQuery>) -> Response {
    let user = q.user.unwrap_or_default();
    // The rule every account id follows, so the page cannot log in as a
    // user no one could message.
    if let Err(e) = check_user_id(&user, "user", ErrorCode::FromAccountInvalid) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ErrorCode": e.code.code(), "ErrorInfo": e.info})),
        )
            .into_response();
    }
    let sig = verifier.generate(&user, DEMO_SIG_SECS, time::now_secs());
    Json(json!({"user": user, "usersig": sig})).into_response()
}
