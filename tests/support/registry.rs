//! A loopback stand-in for the Confluent Schema Registry, speaking the
//! documented REST API for the three endpoints missive uses (no registry can
//! run on this machine). Ids are global and a schema registered twice keeps
//! its id, as the real registry does; errors carry its `error_code`s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Store {
    /// Schema texts; id = index + 1.
    schemas: Vec<String>,
    subjects: BTreeMap<String, Vec<u32>>,
}

impl Store {
    /// The id of a schema equal (as JSON) to `text`.
    fn find(&self, text: &Value) -> Option<u32> {
        self.schemas
            .iter()
            .position(|s| serde_json::from_str::<Value>(s).ok().as_ref() == Some(text))
            .map(|i| i as u32 + 1)
    }
}

pub struct FakeRegistry {
    pub url: String,
    store: Arc<Mutex<Store>>,
    stop: CancellationToken,
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeRegistry {
    pub async fn start() -> Self {
        let store = Arc::new(Mutex::new(Store::default()));
        let app = Router::new()
            .route("/subjects/{subject}/versions", post(register))
            .route("/subjects/{subject}", post(lookup))
            .route("/schemas/ids/{id}", get(by_id))
            .with_state(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
                .unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            store,
            stop,
        }
    }

    /// The ids registered under `subject`, oldest first.
    pub fn versions(&self, subject: &str) -> Vec<u32> {
        self.store
            .lock()
            .unwrap()
            .subjects
            .get(subject)
            .cloned()
            .unwrap_or_default()
    }
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

/// What the registry answers a bad request with.
type Refusal = (StatusCode, u32, &'static str);

/// The `schema` field of a request, parsed; or the registry's 415/422.
fn schema_of(headers: &HeaderMap, body: &str) -> Result<(String, Value), Refusal> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ct.starts_with("application/vnd.schemaregistry") || ct.starts_with("application/json")) {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, 415, "content type"));
    }
    let req: Value = serde_json::from_str(body)
        .map_err(|_| (StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema"))?;
    let text = req["schema"].as_str().ok_or((
        StatusCode::UNPROCESSABLE_ENTITY,
        42201,
        "Invalid schema",
    ))?;
    let parsed: Value = serde_json::from_str(text)
        .map_err(|_| (StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema"))?;
    Ok((text.to_owned(), parsed))
}

async fn register(
    State(store): State<Arc<Mutex<Store>>>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (text, parsed) = match schema_of(&headers, &body) {
        Ok(s) => s,
        Err((status, code, message)) => return error(status, code, message),
    };
    let mut store = store.lock().unwrap();
    let id = store.find(&parsed).unwrap_or_else(|| {
        store.schemas.push(text);
        store.schemas.len() as u32
    });
    let versions = store.subjects.entry(subject).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    Json(json!({"id": id})).into_response()
}

async fn lookup(
    State(store): State<Arc<Mutex<Store>>>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (text, parsed) = match schema_of(&headers, &body) {
        Ok(s) => s,
        Err((status, code, message)) => return error(status, code, message),
    };
    let store = store.lock().unwrap();
    let Some(versions) = store.subjects.get(&subject) else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    match store.find(&parsed) {
        Some(id) if versions.contains(&id) => {
            let version = versions.iter().position(|v| *v == id).unwrap() + 1;
            Json(json!({"subject": subject, "id": id, "version": version, "schema": text}))
                .into_response()
        }
        _ => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

async fn by_id(State(store): State<Arc<Mutex<Store>>>, Path(id): Path<u32>) -> Response {
    let store = store.lock().unwrap();
    match id
        .checked_sub(1)
        .and_then(|i| store.schemas.get(i as usize))
    {
        Some(s) => Json(json!({"schema": s})).into_response(),
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}
