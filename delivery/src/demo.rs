//! The browser demo (development only, `delivery.demo`): a chat page built
//! on the TypeScript client package (clients/typescript, bundled into
//! `demo/missive-client.js` by `npm run bundle:demo`), and an endpoint that
//! mints its UserSigs.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use missive_core::usersig::UserSigVerifier;
use missive_core::{time, ApiError, ErrorCode};

const PAGE: &str = include_str!("demo/index.html");
/// The TypeScript client as one ES module; committed, so building the
/// service needs no Node (a Node test checks it matches the package).
const CLIENT_MODULE: &str = include_str!("demo/missive-client.js");
/// Demo signatures last a day.
const DEMO_SIG_SECS: u64 = 86_400;

#[derive(Clone)]
struct Minter {
    verifier: UserSigVerifier,
    /// Never signed: its UserSig would open the whole REST admin API.
    admin_identifier: String,
}

pub fn routes(verifier: UserSigVerifier, admin_identifier: String) -> Router {
    Router::new()
        .route("/demo", get(page))
        .route("/demo/missive-client.js", get(client_module))
        .route("/demo/usersig", get(usersig))
        .with_state(Minter {
            verifier,
            admin_identifier,
        })
}

async fn page() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response()
}

async fn client_module() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        CLIENT_MODULE,
    )
        .into_response()
}

#[derive(Deserialize)]
struct SigQuery {
    user: Option<String>,
}

fn refuse(status: StatusCode, e: ApiError) -> Response {
    (
        status,
        Json(json!({"ErrorCode": e.code.code(), "ErrorInfo": e.info})),
    )
        .into_response()
}

/// `GET /demo/usersig?user=alice` → `{"user": "alice", "usersig": "..."}`,
/// for clients on this machine only, and never for the administrator.
async fn usersig(
    State(minter): State<Minter>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<SigQuery>,
) -> Response {
    // Whoever reaches this endpoint can act as anyone: even with the demo
    // switched on by mistake, only a browser on this machine can.
    if !peer.ip().to_canonical().is_loopback() {
        return refuse(
            StatusCode::FORBIDDEN,
            ApiError::new(
                ErrorCode::InvalidRequest,
                "the demo signs UserSigs for clients on this machine (loopback) only",
            ),
        );
    }
    let user = q.user.unwrap_or_default();
    // The rule every account id follows, so the page cannot log in as a
    // user no one could message.
    if let Err(e) = missive_core::UserId::parse(&user, "user", ErrorCode::FromAccountInvalid) {
        return refuse(StatusCode::BAD_REQUEST, e);
    }
    if user == minter.admin_identifier {
        return refuse(
            StatusCode::FORBIDDEN,
            ApiError::new(
                ErrorCode::InvalidRequest,
                "the demo never signs the administrator's UserSig",
            ),
        );
    }
    let sig = minter
        .verifier
        .generate(&user, DEMO_SIG_SECS, time::now_secs());
    Json(json!({"user": user, "usersig": sig})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn ask(peer: &str, user: &str) -> (StatusCode, serde_json::Value) {
        let app = routes(
            UserSigVerifier::new(1400000000, "k".to_owned().into()),
            "administrator".into(),
        );
        let mut req = Request::get(format!("/demo/usersig?user={user}"))
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn only_loopback_clients_get_a_usersig_and_never_the_administrators() {
        for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
            let (status, body) = ask(peer, "alice").await;
            assert_eq!(status, StatusCode::OK, "{peer}: {body}");
            assert_eq!(body["user"], "alice");
        }
        for peer in ["203.0.113.5:5000", "[2001:db8::1]:5000", "10.0.0.7:5000"] {
            let (status, body) = ask(peer, "alice").await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{peer}: {body}");
            assert!(body.get("usersig").is_none());
        }
        let (status, body) = ask("127.0.0.1:5000", "administrator").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["ErrorInfo"]
            .as_str()
            .unwrap()
            .contains("administrator"));
    }
}
