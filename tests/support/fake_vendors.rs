//! Fake push vendors for the offline-push tests: one loopback HTTP server per
//! vendor, answering in that vendor's documented format (the APNs one over
//! HTTP/2 without TLS, "h2c prior knowledge"), recording every request and
//! scriptable per device token to answer errors and delays. A test fixture
//! only: the product never ships a mock.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::Router;
use secrecy::SecretString;
use serde_json::{json, Value};

use missive_core::config::{
    ApnsConfig, FcmConfig, HuaweiConfig, MeizuConfig, OppoConfig, VivoConfig, XiaomiConfig,
};
use missive_core::Config;

pub const VENDORS: [&str; 7] = ["apns", "fcm", "huawei", "xiaomi", "oppo", "vivo", "meizu"];

pub const APNS_KEY: &str = include_str!("../fixtures/push/apns_test_key.p8");
pub const APNS_PUBLIC_KEY: &str = include_str!("../fixtures/push/apns_test_key.pub.pem");
pub const FCM_KEY: &str = include_str!("../fixtures/push/fcm_test_key.pem");
pub const FCM_PUBLIC_KEY: &str = include_str!("../fixtures/push/fcm_test_key.pub.pem");

/// Credentials the fakes are configured with (what a test asserts against).
pub const APNS_TEAM_ID: &str = "TEAMID1234";
pub const APNS_KEY_ID: &str = "KEYID56789";
pub const APNS_BUNDLE_ID: &str = "com.example.missive";
pub const FCM_PROJECT: &str = "missive-test";
pub const FCM_CLIENT_EMAIL: &str = "push@missive-test.iam.gserviceaccount.com";
pub const HUAWEI_APP_ID: &str = "104000001";
pub const HUAWEI_SECRET: &str = "huawei-client-secret";
pub const XIAOMI_PACKAGE: &str = "com.example.missive";
pub const XIAOMI_SECRET: &str = "xiaomi-app-secret";
pub const OPPO_APP_KEY: &str = "oppo-app-key";
pub const OPPO_MASTER_SECRET: &str = "oppo-master-secret";
pub const VIVO_APP_ID: &str = "10001";
pub const VIVO_APP_KEY: &str = "vivo-app-key";
pub const VIVO_SECRET: &str = "vivo-app-secret";
pub const MEIZU_APP_ID: &str = "20001";
pub const MEIZU_SECRET: &str = "meizu-app-secret";

/// The access tokens the fake auth endpoints hand out.
pub const FCM_ACCESS: &str = "fcm-access-token";
pub const HUAWEI_ACCESS: &str = "huawei-access-token";
pub const OPPO_AUTH: &str = "oppo-auth-token";
pub const VIVO_AUTH: &str = "vivo-auth-token";

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub vendor: &'static str,
    pub method: String,
    pub path: String,
    pub version: Version,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The device token the request was for; empty for auth requests.
    pub token: String,
    pub received_at: std::time::Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }

    /// The form fields of a form-encoded body.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// What a fake answers to a send for a scripted token.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The vendor's success answer.
    Ok,
    /// The vendor's "this token is invalid" answer.
    InvalidToken,
    /// An HTTP status with an empty JSON body (503: unavailable).
    Status(u16),
    /// Waits, then answers.
    Delay(Duration, Box<Reply>),
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    scripts: Mutex<HashMap<(String, String), VecDeque<Reply>>>,
}

pub struct FakeVendors {
    shared: Arc<Shared>,
    pub addrs: HashMap<&'static str, SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeVendors {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Server {
    vendor: &'static str,
    shared: Arc<Shared>,
}

impl FakeVendors {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let mut addrs = HashMap::new();
        let mut tasks = Vec::new();
        for vendor in VENDORS {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.insert(vendor, listener.local_addr().unwrap());
            let app = Router::new().fallback(handle).with_state(Arc::new(Server {
                vendor,
                shared: shared.clone(),
            }));
            // axum's server accepts HTTP/1.1 and HTTP/2 prior knowledge (h2c).
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        Self {
            shared,
            addrs,
            tasks,
        }
    }

    pub fn url(&self, vendor: &str) -> String {
        format!("http://{}", self.addrs[vendor])
    }

    /// Answers sends to `token` of `vendor` with `replies` in turn, then succeeds.
    pub fn script(&self, vendor: &str, token: &str, replies: Vec<Reply>) {
        self.shared
            .scripts
            .lock()
            .unwrap()
            .insert((vendor.to_owned(), token.to_owned()), replies.into());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The notification requests (not the auth ones) made to `token`.
    pub fn sends_to(&self, token: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.token == token)
            .collect()
    }

    /// Waits until `token` got `n` notification requests.
    pub async fn wait_for_sends(&self, token: &str, n: usize) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + crate::support::WAIT;
        loop {
            let got = self.sends_to(token);
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{token} got {} requests, expected {n}: {:?}",
                got.len(),
                self.requests()
                    .iter()
                    .map(|r| (r.vendor, r.path.clone(), r.token.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Points every vendor of `config.push` at these fakes, with fast retries.
    pub fn configure(&self, config: &mut Config) {
        let secret = |s: &str| SecretString::from(s.to_owned());
        let p = &mut config.push;
        p.enabled = true;
        p.max_attempts = 3;
        p.retry_base_ms = 50;
        p.retry_max_ms = 200;
        p.request_timeout_ms = 5_000;
        p.apns = Some(ApnsConfig {
            team_id: APNS_TEAM_ID.into(),
            key_id: APNS_KEY_ID.into(),
            bundle_id: APNS_BUNDLE_ID.into(),
            private_key: secret(APNS_KEY),
            base_url: self.url("apns"),
        });
        p.fcm = Some(FcmConfig {
            project_id: FCM_PROJECT.into(),
            client_email: FCM_CLIENT_EMAIL.into(),
            private_key: secret(FCM_KEY),
            token_uri: format!("{}/token", self.url("fcm")),
            base_url: self.url("fcm"),
        });
        p.huawei = Some(HuaweiConfig {
            app_id: HUAWEI_APP_ID.into(),
            client_id: String::new(),
            client_secret: secret(HUAWEI_SECRET),
            token_url: format!("{}/oauth2/v3/token", self.url("huawei")),
            base_url: self.url("huawei"),
        });
        p.xiaomi = Some(XiaomiConfig {
            package_name: XIAOMI_PACKAGE.into(),
            app_secret: secret(XIAOMI_SECRET),
            base_url: self.url("xiaomi"),
        });
        p.oppo = Some(OppoConfig {
            app_key: OPPO_APP_KEY.into(),
            master_secret: secret(OPPO_MASTER_SECRET),
            base_url: self.url("oppo"),
        });
        p.vivo = Some(VivoConfig {
            app_id: VIVO_APP_ID.into(),
            app_key: VIVO_APP_KEY.into(),
            app_secret: secret(VIVO_SECRET),
            base_url: self.url("vivo"),
        });
        p.meizu = Some(MeizuConfig {
            app_id: MEIZU_APP_ID.into(),
            app_secret: secret(MEIZU_SECRET),
            base_url: self.url("meizu"),
        });
    }
}

async fn handle(State(server): State<Arc<Server>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut r = Recorded {
        vendor: server.vendor,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        version: parts.version,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        token: String::new(),
        received_at: std::time::Instant::now(),
    };
    if let Some(auth) = auth_reply(server.vendor, &r.path) {
        server.shared.requests.lock().unwrap().push(r);
        return Json(auth).into_response();
    }
    r.token = token_of(server.vendor, &r);
    let reply = server
        .shared
        .scripts
        .lock()
        .unwrap()
        .get_mut(&(server.vendor.to_owned(), r.token.clone()))
        .and_then(VecDeque::pop_front)
        .unwrap_or(Reply::Ok);
    let token = r.token.clone();
    server.shared.requests.lock().unwrap().push(r);
    answer(server.vendor, &token, reply).await
}

use axum::Json;

/// The auth endpoints' answers.
fn auth_reply(vendor: &str, path: &str) -> Option<Value> {
    match (vendor, path) {
        ("fcm", "/token") => {
            Some(json!({"access_token": FCM_ACCESS, "expires_in": 3599, "token_type": "Bearer"}))
        }
        ("huawei", "/oauth2/v3/token") => {
            Some(json!({"access_token": HUAWEI_ACCESS, "expires_in": 3600, "token_type": "Bearer"}))
        }
        ("oppo", "/server/v1/auth") => Some(
            json!({"code": 0, "message": "Success", "data": {"auth_token": OPPO_AUTH, "create_time": 1}}),
        ),
        ("vivo", "/message/auth") => {
            Some(json!({"result": 0, "desc": "请求成功", "authToken": VIVO_AUTH}))
        }
        _ => None,
    }
}

/// Which device token a notification request is for, in each vendor's format.
fn token_of(vendor: &str, r: &Recorded) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match vendor {
        "apns" => r.path.strip_prefix("/3/device/").unwrap_or("").to_owned(),
        "fcm" => s(&r.json()["message"]["token"]),
        "huawei" => s(&r.json()["message"]["token"][0]),
        "xiaomi" => r.form().remove("registration_id").unwrap_or_default(),
        "oppo" => {
            let message: Value =
                serde_json::from_str(&r.form().remove("message").unwrap_or_default())
                    .unwrap_or(Value::Null);
            s(&message["target_value"])
        }
        "vivo" => s(&r.json()["regId"]),
        "meizu" => r.form().remove("pushIds").unwrap_or_default(),
        _ => String::new(),
    }
}

fn answer<'a>(
    vendor: &'a str,
    token: &'a str,
    reply: Reply,
) -> futures::future::BoxFuture<'a, Response> {
    Box::pin(async move {
        match reply {
            Reply::Delay(d, then) => {
                tokio::time::sleep(d).await;
                answer(vendor, token, *then).await
            }
            Reply::Status(code) => (
                StatusCode::from_u16(code).unwrap(),
                Json(json!({"error": "scripted failure"})),
            )
                .into_response(),
            Reply::Ok => success(vendor).into_response(),
            Reply::InvalidToken => invalid(vendor, token),
        }
    })
}

fn success(vendor: &str) -> Response {
    match vendor {
        "apns" => (StatusCode::OK, Body::empty()).into_response(),
        "fcm" => {
            Json(json!({"name": format!("projects/{FCM_PROJECT}/messages/0:1")})).into_response()
        }
        "huawei" => {
            Json(json!({"code": "80000000", "msg": "Success", "requestId": "1"})).into_response()
        }
        "xiaomi" => {
            Json(json!({"result": "ok", "code": 0, "data": {"id": "scm01"}, "description": "成功"}))
                .into_response()
        }
        "oppo" => Json(json!({"code": 0, "message": "Success", "data": {"messageId": "m1"}}))
            .into_response(),
        "vivo" => Json(json!({"result": 0, "desc": "请求成功", "taskId": "t1"})).into_response(),
        "meizu" => {
            Json(json!({"code": "200", "message": "", "value": {}, "redirect": "", "msgId": "z1"}))
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn invalid(vendor: &str, token: &str) -> Response {
    match vendor {
        "apns" => (
            StatusCode::GONE,
            Json(json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000i64})),
        )
            .into_response(),
        "fcm" => (
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": {"code": 404, "message": "Requested entity was not found.",
                "status": "NOT_FOUND", "details": [{
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "UNREGISTERED"}]}}),
            ),
        )
            .into_response(),
        "huawei" => {
            Json(json!({"code": "80300007", "msg": "All the tokens are invalid", "requestId": "2"}))
                .into_response()
        }
        "xiaomi" => Json(json!({"result": "ok", "code": 0,
            "data": {"id": "scm02", "bad_regids": token}, "description": "成功"}))
        .into_response(),
        "oppo" => Json(json!({"code": 10000, "message": "Invalid RegistrationId"})).into_response(),
        "vivo" => Json(json!({"result": 10302, "desc": "regId不合法"})).into_response(),
        "meizu" => Json(
            json!({"code": "200", "message": "", "value": {"110003": [token]},
            "redirect": "", "msgId": "z2"}),
        )
        .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
