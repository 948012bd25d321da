//! Access control: a user's UserSig grants that user's conversations,
//! inbox and sends only; the REST API needs the administrator's; signatures
//! expire, are bound to the SDKAppID and to the key, and are never logged.
//! Every refusal has its precise code and changes nothing (the events
//! topic's end offsets and every view are as before).

use crate::support;

use std::io::{Read as _, Write as _};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use missive_core::usersig::UserSigVerifier;
use support::{capture_logs, captured_logs, text_body, TestApp, WsClient};

/// Decodes a UserSig, lets `change` edit its JSON, and encodes it again
/// (without re-signing): a tampered signature.
fn tamper(sig: &str, change: impl FnOnce(&mut Value)) -> String {
    let raw = STANDARD
        .decode(sig.replace('*', "+").replace('-', "/").replace('_', "="))
        .unwrap();
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(&raw[..])
        .read_to_string(&mut json)
        .unwrap();
    let mut doc: Value = serde_json::from_str(&json).unwrap();
    change(&mut doc);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(doc.to_string().as_bytes()).unwrap();
    STANDARD
        .encode(z.finish().unwrap())
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

fn query(app: &TestApp, identifier: &str, sig: &str) -> String {
    format!(
        "sdkappid={}&identifier={identifier}&usersig={sig}&random=1&contenttype=json",
        app.config.sdkappid
    )
}

fn send_body(from: &str, to: &str) -> String {
    json!({"From_Account": from, "To_Account": to, "MsgRandom": support::rand_u32(), "MsgBody": text_body("x")})
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rest_api_refuses_anything_but_a_valid_admin_signature() {
    let app = TestApp::spawn().await;
    app.send_text("bob", "carol", 1, "private").await;
    let before = app.snapshot().await;

    let admin = app.config.admin_identifier.clone();
    let now = missive_core::time::now_secs();
    let other_app = UserSigVerifier::new(app.config.sdkappid + 1, app.config.secret_key.clone());
    let other_key = UserSigVerifier::new(app.config.sdkappid, "not-the-key".to_owned().into());
    let admin_sig = app.sig(&admin);
    let cases: Vec<(String, u32, &str)> = vec![
        // A user's own valid signature is not the administrator's.
        (
            query(&app, "alice", &app.sig("alice")),
            60010,
            "a user's signature",
        ),
        // A user's signature presented as the administrator's.
        (
            query(&app, &admin, &app.sig("alice")),
            70013,
            "another identifier's signature",
        ),
        // Expired an hour ago (a replay of an old signature).
        (
            query(
                &app,
                &admin,
                &app.verifier().generate(&admin, 60, now - 3600),
            ),
            70001,
            "an expired signature",
        ),
        // Made with this key for another SDKAppID.
        (
            query(&app, &admin, &other_app.generate(&admin, 3600, now)),
            70014,
            "another app's signature",
        ),
        // Made with another key.
        (
            query(&app, &admin, &other_key.generate(&admin, 3600, now)),
            70009,
            "another key's signature",
        ),
        // Expiry extended by hand: the HMAC no longer matches.
        (
            query(
                &app,
                &admin,
                &tamper(&app.verifier().generate(&admin, 60, now - 3600), |d| {
                    d["TLS.expire"] = json!(86400 * 365)
                }),
            ),
            70009,
            "a tampered expiry",
        ),
        // The identifier changed by hand.
        (
            query(
                &app,
                &admin,
                &tamper(&app.sig("alice"), |d| {
                    d["TLS.identifier"] = json!(admin.clone())
                }),
            ),
            70009,
            "a tampered identifier",
        ),
        // The URL's SDKAppID is another app's.
        (
            format!(
                "sdkappid={}&identifier={admin}&usersig={admin_sig}&contenttype=json",
                app.config.sdkappid + 1
            ),
            60006,
            "another SDKAppID in the URL",
        ),
        (
            format!(
                "sdkappid={}&identifier={admin}&contenttype=json",
                app.config.sdkappid
            ),
            70002,
            "no signature",
        ),
    ];
    for (q, code, what) in &cases {
        for (api, body) in [
            ("openim/sendmsg", send_body("alice", "bob")),
            (
                "openim/admin_getroammsg",
                json!({"Operator_Account": "bob", "Peer_Account": "carol", "MaxCnt": 20, "MinTime": 0, "MaxTime": now + 10}).to_string(),
            ),
            ("sns/black_list_add", json!({"From_Account": "carol", "To_Account": ["bob"]}).to_string()),
            ("profile/portrait_get", json!({"To_Account": ["bob"], "TagList": ["Tag_Profile_IM_Nick"]}).to_string()),
        ] {
            let (status, reply) = app.rest_raw(api, q, body).await;
            assert_eq!(status, 200);
            assert_eq!(reply["ErrorCode"], *code, "{what} on {api}: {reply}");
            assert_eq!(reply["ActionStatus"], "FAIL");
            assert!(reply.get("MsgList").is_none(), "{what}: history leaked: {reply}");
        }
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused call changed something"
    );
    app.stop().await;
}

/// Logs in with `usersig` and returns the error frame's code and the close code.
async fn refused_login(app: &TestApp, user: &str, usersig: &str) -> (Value, Value) {
    let mut ws = WsClient::connect(app.delivery.as_ref().unwrap().addr).await;
    ws.send(json!({"type": "login", "user": user, "usersig": usersig, "device": "d"}))
        .await;
    let err = ws.next().await;
    let closed = ws.next().await;
    (err["code"].clone(), closed["code"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_websocket_login_needs_the_users_own_valid_signature() {
    let app = TestApp::spawn().await;
    let now = missive_core::time::now_secs();
    let other_app = UserSigVerifier::new(app.config.sdkappid + 1, app.config.secret_key.clone());
    let other_key = UserSigVerifier::new(app.config.sdkappid, "not-the-key".to_owned().into());
    let cases = [
        (app.sig("bob"), 70013),
        (app.verifier().generate("alice", 60, now - 3600), 70001),
        (other_app.generate("alice", 3600, now), 70014),
        (other_key.generate("alice", 3600, now), 70009),
        (
            tamper(&app.sig("bob"), |d| d["TLS.identifier"] = json!("alice")),
            70009,
        ),
        (
            tamper(&app.verifier().generate("alice", 60, now - 3600), |d| {
                d["TLS.time"] = json!(now)
            }),
            70009,
        ),
        (String::new(), 70002),
    ];
    for (sig, code) in cases {
        let (err, closed) = refused_login(&app, "alice", &sig).await;
        assert_eq!(err, code, "login with {sig:?}");
        assert_eq!(closed, 4001);
    }
    // The administrator's signature is no user's either.
    let admin = app.config.admin_identifier.clone();
    let (err, _) = refused_login(&app, "alice", &app.sig(&admin)).await;
    assert_eq!(err, 70013);
    app.stop().await;
}

/// A session lives no longer than its UserSig: when it expires, the server
/// sends 70001 and closes with 4003, and the user must log in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_websocket_session_is_closed_when_its_usersig_expires() {
    let app = TestApp::spawn().await;
    let short = app
        .verifier()
        .generate("alice", 2, missive_core::time::now_secs());
    let mut ws = WsClient::connect(app.delivery.as_ref().unwrap().addr).await;
    ws.send(json!({"type": "login", "user": "alice", "usersig": short, "device": "d"}))
        .await;
    ws.next_of("sync_done").await;
    let err = ws.next_of("error").await;
    assert_eq!(err["code"], 70001, "{err}");
    assert!(err["info"].as_str().unwrap().contains("expired"), "{err}");
    let closed = ws.next().await;
    assert_eq!(closed["type"], "closed", "{closed}");
    assert_eq!(closed["code"], missive_delivery::CLOSE_USERSIG_EXPIRED);
    assert_eq!(closed["code"], 4003);
    // A session with a longer-lived signature is still served.
    let mut bob = app.ws("bob", "d").await;
    bob.next_of("sync_done").await;
    let pong = bob.request(1, json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_reaches_only_their_own_conversations_inbox_and_messages() {
    let app = TestApp::spawn().await;
    // bob and carol talk; alice is not part of it.
    let sent = app.send_text("bob", "carol", 1, "secret").await;
    let bobs_key = sent["MsgKey"].as_str().unwrap().to_owned();
    app.send_text("carol", "bob", 2, "reply").await;
    let mut alice = app.ws("alice", "phone").await;
    // Her login sync holds nothing of theirs.
    let done = alice.next_of("sync_done").await;
    assert_eq!(done["cursor"], 0, "{done}");
    let before = app.snapshot().await;

    // History: a peer names alice's own conversation with that peer; there is
    // no way to name bob and carol's.
    let page = alice
        .request(1, json!({"type": "history", "peer": "carol"}))
        .await;
    assert_eq!(page["type"], "history");
    assert_eq!(page["messages"], json!([]), "{page}");
    for peer in ["bob:carol", "carol:bob", "../bob", ""] {
        let refused = alice
            .request(2, json!({"type": "history", "peer": peer}))
            .await;
        assert_eq!(refused["type"], "error");
        assert_eq!(refused["code"], 90003, "peer {peer:?}: {refused}");
    }
    // Their contacts and unread counts are theirs.
    let contacts = alice.request(3, json!({"type": "contacts"})).await;
    assert_eq!(contacts["contacts"], json!([]), "{contacts}");

    // Sending as bob.
    let spoof = alice
        .request(
            4,
            json!({"type": "send", "msg": {"From_Account": "bob", "To_Account": "carol", "MsgRandom": 9, "MsgBody": text_body("spoof")}}),
        )
        .await;
    assert_eq!(spoof["code"], 90008, "{spoof}");
    // A system notification needs the administrator.
    let system = alice
        .request(
            5,
            json!({"type": "send", "msg": {"To_Account": "carol", "MsgRandom": 10,
                "MsgBody": [{"MsgType": "TIMSystemElem", "MsgContent": {"Kind": "k", "Text": "t", "Data": ""}}]}}),
        )
        .await;
    assert_eq!(system["code"], 90009, "{system}");
    // Recalling bob's message, naming either party as the peer.
    for peer in ["carol", "bob"] {
        let recall = alice
            .request(
                6,
                json!({"type": "recall", "peer": peer, "msg_key": bobs_key}),
            )
            .await;
        assert_eq!(recall["code"], 20022, "peer {peer}: {recall}");
    }
    // Reading bob and carol's conversation: a read report names alice's own.
    let read = alice
        .request(7, json!({"type": "read", "peer": "carol", "seq": 1}))
        .await;
    assert_eq!(read["type"], "error", "{read}");
    assert_eq!(read["code"], 20001, "{read}");

    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed something"
    );
    // carol still has bob's message, unrecalled and unread.
    let mut carol = app.ws("carol", "phone").await;
    let m = carol.next_of("message").await;
    assert_eq!(m["msg_key"], bobs_key.as_str());
    assert_eq!(m["recalled"], false);
    let contacts = carol.next_of("contacts").await;
    assert_eq!(contacts["contacts"][0]["unread"], 1, "{contacts}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signatures_and_secrets_never_reach_the_logs() {
    // Everything at debug, missive itself at trace (the `log` records of
    // librdkafka and tokio-postgres included). This binary's other tests log
    // here too: the more that is logged, the better the check.
    capture_logs(
        "debug,missive_core=trace,missive_ingest=trace,missive_delivery=trace,\
         missive_projector=trace,tower_http=trace",
    );

    let app = TestApp::spawn().await;
    let admin = app.config.admin_identifier.clone();
    let admin_sig = app.sig(&admin);
    let q = query(&app, &admin, &admin_sig);
    // Accepted and refused REST calls, a login and a refused login.
    let (_, ok) = app
        .rest_raw("openim/sendmsg", &q, send_body("alice", "bob"))
        .await;
    assert_eq!(ok["ErrorCode"], 0, "{ok}");
    let (_, bad) = app.rest_raw("openim/sendmsg", &q, "{not json".into()).await;
    assert_eq!(bad["ErrorCode"], 90001);
    let alice_sig = app.sig("alice");
    let (_, refused) = app
        .rest_raw(
            "openim/sendmsg",
            &query(&app, "alice", &alice_sig),
            send_body("alice", "bob"),
        )
        .await;
    assert_eq!(refused["ErrorCode"], 60010);
    let mut ws = WsClient::connect(app.delivery.as_ref().unwrap().addr).await;
    ws.send(json!({"type": "login", "user": "bob", "usersig": alice_sig, "device": "d"}))
        .await;
    assert_eq!(ws.next().await["code"], 70013);
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("message").await;
    app.wait_projected().await;

    let logs = captured_logs();
    assert!(
        logs.contains("rest"),
        "the REST span was logged:\n{logs:.2000}"
    );
    use secrecy::ExposeSecret;
    let secret = app.config.secret_key.expose_secret().to_owned();
    let db_url = app.config.database_url.expose_secret().to_owned();
    for (what, needle) in [
        ("the admin UserSig", admin_sig.as_str()),
        ("a user's UserSig", alice_sig.as_str()),
        ("the secret key", secret.as_str()),
        ("the database URL", db_url.as_str()),
    ] {
        assert!(!logs.contains(needle), "{what} was logged");
    }
    // Part of a signature (a long run of its characters) is not logged either.
    assert!(
        !logs.contains(&admin_sig[20..60]),
        "part of the UserSig was logged"
    );
    app.stop().await;
}

/// Outside `missive dev`, the services that verify UserSigs refuse to start
/// with the built-in development key (published in missive's source), and
/// say what to set. The UserSig tool still works with it, for `make dev`.
#[test]
fn services_refuse_to_start_with_the_development_secret_key() {
    let missive = |args: &[&str], key: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_missive"));
        cmd.args(args)
            .env_remove("MISSIVE_CONFIG")
            .env("MISSIVE_INGEST_LISTEN", "127.0.0.1:0")
            .env("MISSIVE_DELIVERY_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "off");
        match key {
            Some(k) => cmd.env("MISSIVE_SECRET_KEY", k),
            None => cmd.env_remove("MISSIVE_SECRET_KEY"),
        };
        cmd.output().expect("run missive")
    };
    for service in ["ingest", "delivery"] {
        for key in [None, Some(missive_core::config::DEV_SECRET_KEY), Some("")] {
            let out = missive(&[service], key);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{service} started with {key:?}");
            assert!(
                stderr.contains("refusing to start") && stderr.contains("Set MISSIVE_SECRET_KEY"),
                "{service} with {key:?}: {stderr}"
            );
        }
    }
    let token = missive(&["token", "--user", "alice"], None);
    assert!(token.status.success(), "{token:?}");
    assert!(!token.stdout.is_empty());
}

/// The demo's UserSig endpoint (development only) serves loopback clients
/// and never signs the administrator, whose UserSig opens the REST admin API.
/// (Refusals of other peers are unit-tested in delivery/src/demo.rs: a test
/// can only connect from loopback.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_never_mints_the_administrators_usersig() {
    let app = TestApp::spawn_with(|c| c.delivery.demo = true).await;
    let addr = app.delivery.as_ref().unwrap().addr;
    let get = |user: String| {
        let http = app.http.clone();
        async move {
            let resp = http
                .get(format!("http://{addr}/demo/usersig?user={user}"))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, alice) = get("alice".into()).await;
    assert_eq!(status, 200, "{alice}");
    let sig = alice["usersig"].as_str().unwrap();
    assert!(app
        .verifier()
        .verify(sig, "alice", missive_core::time::now_secs())
        .is_ok());
    let (status, admin) = get(app.config.admin_identifier.clone()).await;
    assert_eq!(status, 403, "{admin}");
    assert!(admin.get("usersig").is_none(), "{admin}");
    assert!(admin["ErrorInfo"]
        .as_str()
        .unwrap()
        .contains("administrator"));
    app.stop().await;
}
