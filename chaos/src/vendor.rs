//! A fake Xiaomi (Mi Push) server on loopback: it answers success in Mi Push's
//! documented shape and counts notifications per (token, MsgKey), so a
//! doubled push shows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const PACKAGE: &str = "com.example.missive.chaos";
pub const APP_SECRET: &str = "chaos-xiaomi-secret";

#[derive(Default)]
pub struct Pushes {
    /// (registration_id, msg_key) → notifications received.
    pub by_token_and_key: HashMap<(String, String), u32>,
}

pub struct FakeXiaomi {
    pub addr: SocketAddr,
    pub pushes: Arc<Mutex<Pushes>>,
}

impl FakeXiaomi {
    pub async fn start() -> anyhow::Result<Self> {
        let pushes = Arc::new(Mutex::new(Pushes::default()));
        let app = Router::new()
            .route("/v3/message/regid", post(regid))
            .with_state(pushes.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, pushes })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn regid(
    State(pushes): State<Arc<Mutex<Pushes>>>,
    Form(form): Form<HashMap<String, String>>,
) -> Json<Value> {
    let token = form.get("registration_id").cloned().unwrap_or_default();
    let payload: Value = form
        .get("payload")
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let key = payload["msg_key"].as_str().unwrap_or_default().to_owned();
    *pushes
        .lock()
        .expect("pushes")
        .by_token_and_key
        .entry((token, key))
        .or_default() += 1;
    Json(json!({"result": "ok", "code": 0, "description": "成功",
        "data": {"id": format!("slm{}", uuid::Uuid::new_v4().simple())}, "info": "Received push messages for 1 REGID"}))
}
