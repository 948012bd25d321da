//! The Tencent-compatible REST API: `POST /v4/<service>/<command>` with the
//! admin identity in the query string and a JSON body. An adapter: each
//! handler parses its body through [`crate::tencent`], calls one of
//! [`crate::actions`] as the administrator, and shapes Tencent's reply.
//! Reads that only query the views (history, unread counts, presence,
//! friend checks, profiles) are answered here from [`missive_core::views`].

mod account_lifecycle;
mod accounts;
mod openim;
mod profile;
mod push;
mod recentcontact;
mod sns;

use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use deadpool_postgres::Pool;
use serde_json::{Map, Value};

use missive_core::{time, ApiError, Config, ErrorCode};

use crate::actions::{Actions, Actor};
use crate::tencent::fields;
use crate::tencent::parse_body;
use missive_schemas::Channel;

pub struct RestState {
    pub config: Arc<Config>,
    pub verifier: missive_core::usersig_cache::CachedVerifier,
    pub actions: Actions,
    /// Per-API and per-user call rates (REST only; the commands topic is
    /// paced by its consumer).
    pub limits: missive_core::ratelimit::RateLimits,
}

impl RestState {
    fn pool(&self) -> &Pool {
        &self.actions.pool
    }
}

pub fn router(state: Arc<RestState>) -> Router {
    let ops = missive_core::telemetry::ops_routes(
        "ingest",
        Some(state.actions.pool.clone()),
        vec![Arc::new(state.actions.link_health())],
    );
    Router::new()
        .route("/v4/{service}/{command}", post(dispatch))
        .with_state(state)
        .merge(ops)
        // The body limit is enforced in `dispatch`, to answer with Tencent's 93000.
        .layer(DefaultBodyLimit::disable())
        // A span per request (method, path; never the query, which holds the UserSig).
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<_>| {
                    tracing::info_span!("rest", method = %req.method(), path = %req.uri().path())
                },
            ),
        )
}

/// The admin identity, from the query string, verified.
struct Admin {
    identifier: String,
}

impl Admin {
    /// Every REST call is the app administrator's.
    fn actor(&self) -> Actor {
        Actor {
            channel: Channel::Rest,
            identifier: self.identifier.clone(),
            admin: true,
        }
    }
}

async fn dispatch(
    State(state): State<Arc<RestState>>,
    Path((service, command)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: HttpBody,
) -> Response {
    let api = format!("{service}/{command}");
    let outcome = handle(&state, &service, &command, query.as_deref(), body).await;
    // missive's own code: an app server's codes would multiply the label values.
    let code = outcome.as_ref().map_or_else(|e| e.code.code(), |_| 0);
    metrics::counter!("missive_rest_requests_total", "api" => known_api(&api), "code" => code.to_string())
        .increment(1);
    match outcome {
        Ok(fields) => {
            let mut reply = Map::new();
            reply.insert("ActionStatus".into(), "OK".into());
            reply.insert("ErrorInfo".into(), "".into());
            reply.insert("ErrorCode".into(), 0.into());
            reply.extend(fields);
            Json(Value::Object(reply)).into_response()
        }
        Err(e) => error_response(&e),
    }
}

pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::OK);
    (
        status,
        Json(serde_json::json!({
            "ActionStatus": "FAIL",
            "ErrorInfo": e.info,
            "ErrorCode": e.client_code(),
        })),
    )
        .into_response()
}

/// Every API this server answers.
const APIS: &[&str] = &[
    "openim/sendmsg",
    "openim/admin_getroammsg",
    "openim/batchsendmsg",
    "openim/importmsg",
    "openim/admin_msgwithdraw",
    "openim/modify_c2c_msg",
    "openim/admin_set_msg_read",
    "openim/get_c2c_unread_msg_num",
    "openim/querystate",
    "openim/query_online_status",
    "im_open_login_svc/account_import",
    "im_open_login_svc/multiaccount_import",
    "im_open_login_svc/account_check",
    "im_open_login_svc/account_delete",
    "im_open_login_svc/kick",
    "openconfigsvr/setnospeaking",
    "openconfigsvr/getnospeaking",
    "recentcontact/get_list",
    "recentcontact/delete",
    "recentcontact/mark_contact",
    "recentcontact/get_contact_group",
    "missive_contact/set_top",
    "missive_msg/read_receipt",
    "profile/portrait_set",
    "profile/portrait_get",
    "sns/friend_add",
    "sns/friend_delete",
    "sns/friend_check",
    "sns/black_list_add",
    "sns/black_list_delete",
    "sns/black_list_get",
    "sns/friend_import",
    "sns/friend_update",
    "sns/friend_get",
    "sns/friend_get_list",
    "sns/black_list_check",
    "sns/friend_pendency_get",
    "sns/friend_response",
    "missive_push/set_token",
    "missive_push/delete_token",
];

/// Metric label for the API: only known names, so hostile paths cannot blow up cardinality.
fn known_api(api: &str) -> &'static str {
    APIS.iter().find(|a| **a == api).copied().unwrap_or("other")
}

/// A body over the limit is still read, and dropped, up to this many bytes:
/// the client is still writing it, and closing on unread data would reset
/// the connection before it reads the error reply.
const DRAIN_LIMIT: usize = 1 << 20;

/// The body if it is at most `limit` bytes.
async fn read_body(body: HttpBody, limit: usize) -> Result<axum::body::Bytes, ()> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ())?;
        total += chunk.len();
        if total <= limit {
            kept.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > limit {
        Err(())
    } else {
        Ok(kept.into())
    }
}

async fn handle(
    state: &RestState,
    service: &str,
    command: &str,
    query: Option<&str>,
    body: HttpBody,
) -> Result<Map<String, Value>, ApiError> {
    let admin = authenticate_admin(state, query)?;
    let api = known_api(&format!("{service}/{command}"));
    if api != "other" {
        state.limits.check_api(api)?;
    }
    let is_msg_api = service == "openim";
    let limits = &state.config.limits;
    let read_timeout = std::time::Duration::from_millis(limits.body_read_timeout_ms);
    let bytes = tokio::time::timeout(
        read_timeout,
        read_body(body, state.config.ingest.max_request_bytes),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ErrorCode::HttpParse,
            format!(
                "the request body did not arrive within {} ms",
                limits.body_read_timeout_ms
            ),
        )
    })?
    .map_err(|_| {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "the request body is larger than {} bytes",
                state.config.ingest.max_request_bytes
            ),
        )
    })?;
    let map = parse_body(&bytes, is_msg_api, limits.json_max_depth)?;
    if matches!(api, "openim/sendmsg" | "openim/batchsendmsg") {
        // A send as a user counts against that user's rate; the
        // administrator's own sends (no From_Account) only against the API's.
        if let Some(Value::String(from)) = map.get("From_Account") {
            if *from != admin.identifier {
                state.limits.check_user(from)?;
            }
        }
    }
    route(state, &admin, service, command, &map).await
}

/// The REST decoder and validator of a `sendmsg` body, without the
/// pipeline's view reads and append: what runs on hostile bytes before
/// anything is stored (the fuzz tests drive it).
pub fn decode_sendmsg(
    bytes: &[u8],
    admin_identifier: &str,
    max_depth: usize,
) -> Result<crate::actions::send::SendRequest, ApiError> {
    let map = parse_body(bytes, true, max_depth)?;
    let admin = Admin {
        identifier: admin_identifier.to_owned(),
    };
    openim::parse_send(&admin, &fields::Body::new(&map))
}

/// Runs one API call as `admin`.
async fn route(
    state: &RestState,
    admin: &Admin,
    service: &str,
    command: &str,
    map: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let body = fields::Body::new(map);
    match (service, command) {
        ("openim", "sendmsg") => openim::sendmsg(state, admin, &body).await,
        ("openim", "admin_getroammsg") => openim::admin_getroammsg(state, &body).await,
        ("openim", "batchsendmsg") => openim::batchsendmsg(state, admin, &body).await,
        ("openim", "importmsg") => openim::importmsg(state, admin, &body).await,
        ("openim", "admin_msgwithdraw") => openim::admin_msgwithdraw(state, admin, &body).await,
        ("openim", "modify_c2c_msg") => openim::modify_c2c_msg(state, admin, &body).await,
        ("openim", "admin_set_msg_read") => openim::admin_set_msg_read(state, admin, &body).await,
        ("openim", "get_c2c_unread_msg_num") => openim::get_c2c_unread_msg_num(state, &body).await,
        // Tencent renamed querystate; both names are served.
        ("openim", "querystate" | "query_online_status") => openim::querystate(state, &body).await,
        ("im_open_login_svc", "account_import") => {
            accounts::account_import(state, admin, &body).await
        }
        ("im_open_login_svc", "multiaccount_import") => {
            accounts::multiaccount_import(state, admin, &body).await
        }
        ("im_open_login_svc", "account_check") => {
            account_lifecycle::account_check(state, &body).await
        }
        ("im_open_login_svc", "account_delete") => {
            account_lifecycle::account_delete(state, admin, &body).await
        }
        ("im_open_login_svc", "kick") => account_lifecycle::kick(state, admin, &body).await,
        ("openconfigsvr", "setnospeaking") => {
            account_lifecycle::setnospeaking(state, admin, &body).await
        }
        ("openconfigsvr", "getnospeaking") => account_lifecycle::getnospeaking(state, &body).await,
        ("recentcontact", "get_list") => recentcontact::get_list(state, &body).await,
        ("recentcontact", "delete") => recentcontact::delete(state, admin, &body).await,
        ("recentcontact", "mark_contact") => recentcontact::mark_contact(state, admin, &body).await,
        ("recentcontact", "get_contact_group") => {
            recentcontact::get_contact_group(state, &body).await
        }
        ("missive_contact", "set_top") => recentcontact::set_top(state, admin, &body).await,
        ("missive_msg", "read_receipt") => openim::read_receipt(state, admin, &body).await,
        ("profile", "portrait_set") => profile::portrait_set(state, admin, &body).await,
        ("profile", "portrait_get") => profile::portrait_get(state, &body).await,
        ("sns", "friend_add") => sns::friend_add(state, admin, &body).await,
        ("sns", "friend_delete") => sns::friend_delete(state, admin, &body).await,
        ("sns", "friend_check") => sns::friend_check(state, &body).await,
        ("sns", "friend_import") => sns::friend_import(state, admin, &body).await,
        ("sns", "friend_update") => sns::friend_update(state, admin, &body).await,
        ("sns", "friend_get") => sns::friend_get(state, &body).await,
        ("sns", "friend_get_list") => sns::friend_get_list(state, &body).await,
        ("sns", "black_list_check") => sns::black_list_check(state, &body).await,
        ("sns", "friend_pendency_get") => sns::friend_pendency_get(state, &body).await,
        ("sns", "friend_response") => sns::friend_response(state, admin, &body).await,
        ("sns", "black_list_add") => sns::black_list_add(state, admin, &body).await,
        ("sns", "black_list_delete") => sns::black_list_delete(state, admin, &body).await,
        ("sns", "black_list_get") => sns::black_list_get(state, &body).await,
        ("missive_push", "set_token") => push::set_token(state, admin, map).await,
        ("missive_push", "delete_token") => push::delete_token(state, admin, map).await,
        _ => Err(ApiError::new(
            ErrorCode::NoSuchApi,
            format!("no such API: /v4/{service}/{command}"),
        )),
    }
}

fn authenticate_admin(state: &RestState, query: Option<&str>) -> Result<Admin, ApiError> {
    let mut sdkappid = None;
    let mut identifier = None;
    let mut usersig = None;
    let mut contenttype = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "sdkappid" => sdkappid = Some(v.into_owned()),
            "identifier" => identifier = Some(v.into_owned()),
            "usersig" => usersig = Some(v.into_owned()),
            "contenttype" => contenttype = Some(v.into_owned()),
            _ => {} // `random` and unknown parameters are accepted and ignored
        }
    }
    let sdkappid = sdkappid.ok_or_else(|| {
        ApiError::new(
            ErrorCode::SdkAppIdMissing,
            "the sdkappid query parameter is missing",
        )
    })?;
    match sdkappid.parse::<u64>() {
        Ok(id) if id == state.config.sdkappid => {}
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidSdkAppId,
                "the sdkappid query parameter is not this app's SDKAppID",
            ))
        }
    }
    if contenttype.as_deref().is_some_and(|c| c != "json") {
        return Err(ApiError::new(
            ErrorCode::HttpParse,
            "contenttype must be json",
        ));
    }
    let identifier = identifier.filter(|i| !i.is_empty()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::HttpParse,
            "the identifier query parameter is missing",
        )
    })?;
    let usersig = usersig.unwrap_or_default();
    state
        .verifier
        .verify(&usersig, &identifier, time::now_secs())?;
    if identifier != state.config.admin_identifier {
        return Err(ApiError::new(
            ErrorCode::AdminRequired,
            "the identifier must be the app administrator",
        ));
    }
    Ok(Admin { identifier })
}
