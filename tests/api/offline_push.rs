//! Offline push against fake vendors on loopback (the real broker and the
//! real PostgreSQL; only the vendors are faked): exact request formats per
//! vendor, PushFlag, presence, invalid tokens, retries, the dead-letter topic,
//! no duplicates across restarts, and the token registration API.

use crate::fake_vendors;
use crate::support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Version;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use md5::{Digest as _, Md5};
use serde_json::{json, Value};
use sha2::Sha256;

use fake_vendors::*;
use missive_schemas::{Event, EventCodec, PushPlatform, PushTokenRemovalReason};
use support::TestApp;

/// One token per vendor, in the shape each vendor issues.
fn tokens(user: &str) -> Vec<(&'static str, String)> {
    VENDORS
        .iter()
        .map(|v| {
            let t = if *v == "apns" {
                // Hexadecimal, like an APNs device token.
                format!("{:0>64}", hex::encode(format!("{user}{v}")))
            } else {
                format!("{v}-{user}-token")
            };
            (*v, t)
        })
        .collect()
}

async fn spawn(fakes: &FakeVendors) -> TestApp {
    TestApp::spawn_with(|c| fakes.configure(c)).await
}

async fn set_token(app: &TestApp, user: &str, device: &str, platform: &str, token: &str) -> Value {
    app.rest(
        "missive_push/set_token",
        json!({"From_Account": user, "DeviceId": device, "Platform": platform, "Token": token}),
    )
    .await
}

/// ivy's phone registered with its Xiaomi token, which it returns.
async fn ivy_phone_on_xiaomi(app: &TestApp) -> String {
    let token = tokens("ivy").remove(3).1;
    assert_eq!(
        set_token(app, "ivy", "phone", "xiaomi", &token).await["ErrorCode"],
        0
    );
    token
}

/// The notifications' descriptions sent to `token`, sorted.
fn descriptions_sent(fakes: &FakeVendors, token: &str) -> Vec<String> {
    let mut bodies: Vec<String> = fakes
        .sends_to(token)
        .iter()
        .map(|r| r.form()["description"].clone())
        .collect();
    bodies.sort();
    bodies
}

async fn register_all(app: &TestApp, user: &str) -> Vec<(&'static str, String)> {
    let all = tokens(user);
    for (v, t) in &all {
        let reply = set_token(app, user, &format!("{v}-device"), v, t).await;
        assert_eq!(reply["ErrorCode"], 0, "{reply}");
    }
    all
}

async fn send(app: &TestApp, from: &str, to: &str, random: u32, extra: Value) -> Value {
    let mut body = json!({
        "From_Account": from, "To_Account": to, "MsgRandom": random,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("message {random}")}}],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let reply = app.rest("openim/sendmsg", body).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    reply
}

/// Lets the worker catch up, then checks nobody got more than expected.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offline_recipient_gets_one_push_per_token_in_each_vendors_format() {
    let fakes = FakeVendors::start().await;
    let app = spawn(&fakes).await;
    let all = register_all(&app, "bob").await;
    let reply = send(
        &app,
        "alice",
        "bob",
        1,
        json!({"OfflinePushInfo": {
            "Title": "Alice says", "Desc": "Dinner at 8?", "Ext": "{\"conv\":\"alice\"}",
            "AndroidInfo": {"Sound": "ding.mp3"},
            "ApnsInfo": {"Sound": "chime.caf", "BadgeMode": 0, "SubTitle": "from missive"},
        }}),
    )
    .await;
    let msg_key = reply["MsgKey"].as_str().unwrap().to_owned();
    let token = |v: &str| all.iter().find(|(x, _)| *x == v).unwrap().1.clone();

    // APNs: HTTP/2, POST /3/device/{token}, ES256 JWT signed with the team's key.
    let r = &fakes.wait_for_sends(&token("apns"), 1).await[0];
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/3/device/{}", token("apns")));
    assert_eq!(r.header("apns-topic"), APNS_BUNDLE_ID);
    assert_eq!(r.header("apns-push-type"), "alert");
    assert_eq!(r.header("apns-priority"), "10");
    assert!(r.header("apns-expiration").parse::<u64>().unwrap() > missive_core::time::now_secs());
    assert!(uuid::Uuid::parse_str(r.header("apns-id")).is_ok());
    let jwt = r
        .header("authorization")
        .strip_prefix("bearer ")
        .expect("bearer");
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(APNS_KEY_ID));
    let mut v = Validation::new(Algorithm::ES256);
    v.required_spec_claims = HashSet::new();
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_ec_pem(APNS_PUBLIC_KEY.as_bytes()).unwrap(),
        &v,
    )
    .expect("the APNs JWT verifies with the team's public key")
    .claims;
    assert_eq!(claims["iss"], APNS_TEAM_ID);
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(missive_core::time::now_secs()) < 120);
    let body = r.json();
    assert_eq!(body["aps"]["alert"]["title"], "Alice says");
    assert_eq!(body["aps"]["alert"]["subtitle"], "from missive");
    assert_eq!(body["aps"]["alert"]["body"], "Dinner at 8?");
    assert_eq!(body["aps"]["sound"], "chime.caf");
    assert_eq!(body["aps"]["badge"], 1);
    assert_eq!(body["ext"], "{\"conv\":\"alice\"}");
    assert_eq!(body["msg_key"], msg_key.as_str());

    // FCM: OAuth token from a RS256 JWT bearer grant, then messages:send.
    let r = &fakes.wait_for_sends(&token("fcm"), 1).await[0];
    assert_eq!(r.path, format!("/v1/projects/{FCM_PROJECT}/messages:send"));
    assert_eq!(r.header("authorization"), format!("Bearer {FCM_ACCESS}"));
    let m = &r.json()["message"];
    assert_eq!(m["token"], token("fcm").as_str());
    assert_eq!(
        m["notification"],
        json!({"title": "Alice says", "body": "Dinner at 8?"})
    );
    assert_eq!(m["data"]["ext"], "{\"conv\":\"alice\"}");
    assert_eq!(m["data"]["msg_key"], msg_key.as_str());
    assert_eq!(m["android"]["notification"]["sound"], "ding.mp3");
    assert_eq!(m["apns"]["payload"]["aps"]["badge"], 1);
    let grant = fakes
        .requests()
        .into_iter()
        .find(|r| r.vendor == "fcm" && r.path == "/token")
        .expect("an OAuth token request");
    let form = grant.form();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[format!("{}/token", fakes.url("fcm"))]);
    let claims = jsonwebtoken::decode::<Value>(
        &form["assertion"],
        &DecodingKey::from_rsa_pem(FCM_PUBLIC_KEY.as_bytes()).unwrap(),
        &v,
    )
    .expect("the grant verifies with the service account's public key")
    .claims;
    assert_eq!(claims["iss"], FCM_CLIENT_EMAIL);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );

    // Huawei: client_credentials token, then /v1/{appId}/messages:send.
    let r = &fakes.wait_for_sends(&token("huawei"), 1).await[0];
    assert_eq!(r.path, format!("/v1/{HUAWEI_APP_ID}/messages:send"));
    assert_eq!(r.header("authorization"), format!("Bearer {HUAWEI_ACCESS}"));
    let m = &r.json()["message"];
    assert_eq!(m["token"], json!([token("huawei")]));
    assert_eq!(m["android"]["notification"]["title"], "Alice says");
    assert_eq!(m["android"]["notification"]["body"], "Dinner at 8?");
    assert_eq!(m["android"]["notification"]["sound"], "ding.mp3");
    let data: Value = serde_json::from_str(m["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["ext"], "{\"conv\":\"alice\"}");
    let auth = fakes
        .requests()
        .into_iter()
        .find(|r| r.vendor == "huawei" && r.path == "/oauth2/v3/token")
        .unwrap()
        .form();
    assert_eq!(auth["grant_type"], "client_credentials");
    assert_eq!(auth["client_id"], HUAWEI_APP_ID);
    assert_eq!(auth["client_secret"], HUAWEI_SECRET);

    // Xiaomi: form-encoded /v3/message/regid with `Authorization: key=`.
    let r = &fakes.wait_for_sends(&token("xiaomi"), 1).await[0];
    assert_eq!(r.path, "/v3/message/regid");
    assert_eq!(r.header("authorization"), format!("key={XIAOMI_SECRET}"));
    assert!(r
        .header("content-type")
        .starts_with("application/x-www-form-urlencoded"));
    let f = r.form();
    assert_eq!(f["restricted_package_name"], XIAOMI_PACKAGE);
    assert_eq!(f["pass_through"], "0");
    assert_eq!(f["title"], "Alice says");
    assert_eq!(f["description"], "Dinner at 8?");
    assert_eq!(f["extra.sound_uri"], "ding.mp3");
    let payload: Value = serde_json::from_str(&f["payload"]).unwrap();
    assert_eq!(payload["ext"], "{\"conv\":\"alice\"}");

    // OPPO: sha256-signed auth, then unicast with the `auth_token` header.
    let r = &fakes.wait_for_sends(&token("oppo"), 1).await[0];
    assert_eq!(r.path, "/server/v1/message/notification/unicast");
    assert_eq!(r.header("auth_token"), OPPO_AUTH);
    let message: Value = serde_json::from_str(&r.form()["message"]).unwrap();
    assert_eq!(message["target_type"], 2);
    assert_eq!(message["notification"]["title"], "Alice says");
    assert_eq!(message["notification"]["content"], "Dinner at 8?");
    let auth = fakes
        .requests()
        .into_iter()
        .find(|r| r.vendor == "oppo" && r.path == "/server/v1/auth")
        .unwrap()
        .form();
    assert_eq!(auth["app_key"], OPPO_APP_KEY);
    let expected = hex::encode(Sha256::digest(
        format!("{OPPO_APP_KEY}{}{OPPO_MASTER_SECRET}", auth["timestamp"]).as_bytes(),
    ));
    assert_eq!(auth["sign"], expected);

    // vivo: md5-signed auth, then /message/send with the `authToken` header.
    let r = &fakes.wait_for_sends(&token("vivo"), 1).await[0];
    assert_eq!(r.path, "/message/send");
    assert_eq!(r.header("authtoken"), VIVO_AUTH);
    let b = r.json();
    assert_eq!(b["appId"], VIVO_APP_ID);
    assert_eq!(b["title"], "Alice says");
    assert_eq!(b["content"], "Dinner at 8?");
    assert_eq!(b["clientCustomMap"]["ext"], "{\"conv\":\"alice\"}");
    assert!(uuid::Uuid::parse_str(b["requestId"].as_str().unwrap()).is_ok());
    let auth = fakes
        .requests()
        .into_iter()
        .find(|r| r.vendor == "vivo" && r.path == "/message/auth")
        .unwrap()
        .json();
    let ts = auth["timestamp"].as_str().unwrap();
    assert_eq!(
        auth["sign"],
        md5_hex(&format!("{VIVO_APP_ID}{VIVO_APP_KEY}{ts}{VIVO_SECRET}"))
    );

    // Meizu: pushByPushId, form with an md5 sign over the sorted parameters.
    let r = &fakes.wait_for_sends(&token("meizu"), 1).await[0];
    assert_eq!(r.path, "/garcia/api/server/push/varnished/pushByPushId");
    let f = r.form();
    assert_eq!(f["appId"], MEIZU_APP_ID);
    let expected = md5_hex(&format!(
        "appId={}messageJson={}pushIds={}{MEIZU_SECRET}",
        f["appId"], f["messageJson"], f["pushIds"]
    ));
    assert_eq!(f["sign"], expected);
    let mj: Value = serde_json::from_str(&f["messageJson"]).unwrap();
    assert_eq!(mj["noticeBarInfo"]["title"], "Alice says");
    assert_eq!(mj["noticeBarInfo"]["content"], "Dinner at 8?");

    // Exactly one notification per token, recorded as sent.
    settle().await;
    for (_, t) in &all {
        assert_eq!(fakes.sends_to(t).len(), 1, "{t}");
    }
    app.wait_for_count("SELECT count(*) FROM push_sends WHERE outcome = 'sent'", 7)
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_flag_suppresses_and_an_online_recipient_gets_no_offline_push() {
    let _online = support::ONLINE_PUSH.lock().await;
    let fakes = FakeVendors::start().await;
    let app = spawn(&fakes).await;
    let token = tokens("carol").remove(1).1; // fcm
    assert_eq!(
        set_token(&app, "carol", "phone", "fcm", &token).await["ErrorCode"],
        0
    );

    // PushFlag 1: never pushed.
    send(
        &app,
        "dan",
        "carol",
        1,
        json!({"OfflinePushInfo": {"PushFlag": 1}}),
    )
    .await;
    // Online (a WebSocket session open): the session gets it, the vendor does not.
    // The skip counter is process-wide and cumulative: this test waits for it
    // to move past where it stands now (no other test moves it meanwhile:
    // `ONLINE_PUSH`).
    let delivery = app.delivery.as_ref().unwrap().addr;
    let online_skips = |metrics: String| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("missive_push_skipped_total{reason=\"online\"} "))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let before = online_skips(app.metrics(delivery).await);
    let mut ws = app.ws("carol", "laptop").await;
    ws.next_of("sync_done").await;
    send(&app, "dan", "carol", 2, json!({})).await;
    // (Message 1 may arrive first, live, if it was projected after the login.)
    while ws.next_of("message").await["body"][0]["MsgContent"]["Text"] != "message 2" {}
    // Stay online until the worker has decided.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while online_skips(app.metrics(delivery).await) <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never saw carol online"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // MsgLifeTime 0 (online only) while offline: not pushed either.
    drop(ws);
    app.wait_for_count("SELECT count(*) FROM presence WHERE user_id = 'carol'", 0)
        .await;
    send(&app, "dan", "carol", 3, json!({"MsgLifeTime": 0})).await;
    // Offline again: the next message is pushed, and it is the only push.
    send(&app, "dan", "carol", 4, json!({})).await;
    let sends = fakes.wait_for_sends(&token, 1).await;
    assert_eq!(
        sends[0].json()["message"]["notification"]["body"],
        "message 4"
    );
    settle().await;
    assert_eq!(fakes.sends_to(&token).len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_token_is_removed_through_the_log_and_not_used_again() {
    let fakes = FakeVendors::start().await;
    let app = spawn(&fakes).await;
    let all = register_all(&app, "erin").await;
    for (v, t) in &all {
        fakes.script(v, t, vec![Reply::InvalidToken]);
    }
    send(&app, "frank", "erin", 1, json!({})).await;
    // Every vendor's "invalid token" answer removes its token from the view.
    app.wait_for_count(
        "SELECT count(*) FROM live_push_tokens WHERE user_id = 'erin'",
        0,
    )
    .await;
    let removed: Vec<(PushPlatform, String)> =
        support::read_topic(&app.config, &app.config.events_topic())
            .iter()
            .filter_map(|r| match EventCodec::get().decode(&r.payload).ok()?.event {
                Event::PushTokenRemoved(t) => {
                    assert_eq!(t.reason, PushTokenRemovalReason::InvalidToken);
                    assert_eq!(t.user_id, "erin");
                    Some((t.platform, t.token))
                }
                _ => None,
            })
            .collect();
    assert_eq!(removed.len(), 7, "{removed:?}");
    for (_, t) in &all {
        assert!(removed.iter().any(|(_, r)| r == t), "{t} not removed");
    }
    app.wait_for_count(
        "SELECT count(*) FROM push_sends WHERE outcome = 'invalid_token'",
        7,
    )
    .await;
    // The next message goes nowhere: the tokens are gone.
    send(&app, "frank", "erin", 2, json!({})).await;
    settle().await;
    for (_, t) in &all {
        assert_eq!(fakes.sends_to(t).len(), 1, "{t} was used again");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failures_are_retried_and_persistent_ones_are_dead_lettered() {
    let fakes = FakeVendors::start().await;
    let app = spawn(&fakes).await;
    let all = register_all(&app, "gina").await;
    let token = |v: &str| all.iter().find(|(x, _)| *x == v).unwrap().1.clone();
    // 503 then success: retried, delivered once.
    fakes.script("apns", &token("apns"), vec![Reply::Status(503), Reply::Ok]);
    // A slow answer then a 500: retried within the same attempt budget.
    fakes.script(
        "huawei",
        &token("huawei"),
        vec![
            Reply::Delay(Duration::from_millis(300), Box::new(Reply::Status(500))),
            Reply::Ok,
        ],
    );
    // Unavailable on every attempt (max_attempts is 3): dead-lettered.
    fakes.script(
        "fcm",
        &token("fcm"),
        vec![Reply::Status(503), Reply::Status(503), Reply::Status(503)],
    );
    let reply = send(&app, "hank", "gina", 1, json!({})).await;

    assert_eq!(fakes.wait_for_sends(&token("apns"), 2).await.len(), 2);
    assert_eq!(fakes.wait_for_sends(&token("huawei"), 2).await.len(), 2);
    assert_eq!(fakes.wait_for_sends(&token("fcm"), 3).await.len(), 3);
    let dlq_topic = app.config.push_dlq_topic();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let dead = loop {
        let records = support::read_topic(&app.config, &dlq_topic);
        if !records.is_empty() {
            break records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing on {dlq_topic}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.header("missive.push.platform"), Some("fcm"));
    assert_eq!(d.header("missive.push.attempts"), Some("3"));
    let reason = d.header("missive.dlq.reason").unwrap();
    assert!(reason.contains("503"), "{reason}");
    let payload: Value = serde_json::from_slice(&d.payload).unwrap();
    assert_eq!(payload["token"], token("fcm").as_str());
    assert_eq!(payload["msg_key"], reply["MsgKey"]);
    assert_eq!(
        d.key.as_deref(),
        Some(reply["MsgKey"].as_str().unwrap().as_bytes())
    );

    app.wait_for_count(
        "SELECT count(*) FROM push_sends WHERE outcome = 'sent' AND attempts = 2",
        2,
    )
    .await;
    app.wait_for_count(
        "SELECT count(*) FROM push_sends WHERE outcome = 'failed'",
        1,
    )
    .await;
    settle().await;
    assert_eq!(fakes.sends_to(&token("apns")).len(), 2);
    assert_eq!(fakes.sends_to(&token("xiaomi")).len(), 1);
    // A failed notification is not a reason to drop the token.
    assert_eq!(
        app.scalar("SELECT count(*) FROM live_push_tokens WHERE user_id = 'gina'")
            .await,
        7
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarting_the_push_worker_sends_nothing_twice() {
    let fakes = FakeVendors::start().await;
    let mut app = spawn(&fakes).await;
    let token = ivy_phone_on_xiaomi(&app).await;
    for i in 1..=3 {
        send(&app, "jack", "ivy", i, json!({})).await;
    }
    fakes.wait_for_sends(&token, 3).await;

    // Stop and start delivery: same group, same database and topics.
    app.delivery.take().unwrap().shutdown().await;
    app.delivery = Some(support::start_delivery(&app.config).await);
    // And a worker in a fresh consumer group, which re-reads the whole log
    // (as after lost offsets or a rebalance): only the dedupe record stops it.
    let mut other = (*app.config).clone();
    other.push.group_id = format!("{}.push-again", app.db);
    let again = support::start_delivery(&Arc::new(other)).await;

    send(&app, "jack", "ivy", 4, json!({})).await;
    fakes.wait_for_sends(&token, 4).await;
    settle().await;
    // Events are handled concurrently: the vendor may see them in any order.
    assert_eq!(
        descriptions_sent(&fakes, &token),
        vec!["message 1", "message 2", "message 3", "message 4"],
        "each message pushed exactly once"
    );
    assert!(
        app.scalar("SELECT count(*) FROM push_sends").await == 4,
        "one dedupe record per message and token"
    );
    again.shutdown().await;
    app.stop().await;
}

/// A backlog (push worker and projector stopped while messages arrived) is
/// read in chunks: each chunk's reads are shared by its messages. Each
/// offline recipient is still notified once per message, in the chunk a
/// message came in, and a badge counts the messages before it in the chunk
/// that the projector has not stored yet (one read of the unread count per
/// user, then counted on: handled one by one, each would say 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_is_notified_in_chunks_once_per_message_with_badges_counting_on() {
    let fakes = FakeVendors::start().await;
    let mut app = spawn(&fakes).await;
    let token = |user: &str| format!("{:0>64}", hex::encode(format!("{user}apns")));
    for user in ["ivy", "kim"] {
        let reply = set_token(&app, user, "phone", "apns", &token(user)).await;
        assert_eq!(reply["ErrorCode"], 0, "{reply}");
    }
    app.wait_for_count("SELECT count(*) FROM push_tokens", 2)
        .await;
    app.projector.take().unwrap().shutdown().await;
    app.delivery.take().unwrap().shutdown().await;

    for (to, randoms) in [("ivy", 1..=3), ("kim", 4..=5)] {
        for random in randoms {
            send(&app, "jack", to, random, json!({})).await;
        }
    }
    // Nothing is stored yet: the unread counts are 0 when the worker reads.
    assert_eq!(app.scalar("SELECT count(*) FROM messages").await, 0);
    app.delivery = Some(support::start_delivery(&app.config).await);

    let badges = |user: &str, n: usize| {
        let fakes = &fakes;
        let token = token(user);
        async move {
            let mut got: Vec<(i64, String)> = fakes
                .wait_for_sends(&token, n)
                .await
                .iter()
                .map(|r| {
                    let body = r.json();
                    (
                        body["aps"]["badge"].as_i64().expect("a badge"),
                        body["aps"]["alert"]["body"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            got.sort();
            got
        }
    };
    assert_eq!(
        badges("ivy", 3).await,
        vec![
            (1, "message 1".to_owned()),
            (2, "message 2".to_owned()),
            (3, "message 3".to_owned())
        ]
    );
    assert_eq!(
        badges("kim", 2).await,
        vec![(1, "message 4".to_owned()), (2, "message 5".to_owned())]
    );
    settle().await;
    assert_eq!(
        fakes.sends_to(&token("ivy")).len(),
        3,
        "one push per message"
    );
    assert_eq!(
        fakes.sends_to(&token("kim")).len(),
        2,
        "one push per message"
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM push_sends WHERE outcome = 'sent' AND attempts = 1")
            .await,
        5,
        "every claim records its outcome"
    );
    app.stop().await;
}

/// A `MessageSent` to a user id PostgreSQL cannot store (U+0000), as a
/// producer that skipped ingest could append, read in one chunk with a good
/// message of the same conversation: the worker must not retry the chunk
/// forever. The good message is notified, the refused one skipped, and the
/// worker goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_postgresql_refuses_is_skipped_and_its_chunk_is_notified() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let fakes = FakeVendors::start().await;
    let mut app = spawn(&fakes).await;
    let token = ivy_phone_on_xiaomi(&app).await;
    app.wait_for_count("SELECT count(*) FROM push_tokens", 1)
        .await;
    // The projector stays stopped: it would dead-letter the refused event,
    // and its dead-letter count is another test's to check (one metrics
    // registry per test process). Only the push worker reads it here.
    app.projector.take().unwrap().shutdown().await;
    app.delivery.take().unwrap().shutdown().await;

    let mut env = missive_schemas::samples::text_message();
    env.event_id = uuid::Uuid::new_v4();
    env.occurred_at = missive_core::time::now_millis();
    let Event::MessageSent(m) = &mut env.event else {
        unreachable!("a text message")
    };
    m.from_account = "jack".into();
    m.to_account = "i\u{0}vy".into();
    m.conversation_id = missive_schemas::conversation_id("jack", "ivy");
    m.msg_key = format!("poison-{}", uuid::Uuid::new_v4().simple());
    m.sent_at = missive_core::time::now_millis();
    let key = m.conversation_id.clone();
    let producer: FutureProducer = missive_core::kafka::producer(&app.config).unwrap();
    producer
        .send(
            FutureRecord::to(&app.config.events_topic())
                .key(&key)
                .payload(&EventCodec::get().encode(&env)),
            Duration::from_secs(10),
        )
        .await
        .expect("appended");
    send(&app, "jack", "ivy", 1, json!({})).await;
    app.delivery = Some(support::start_delivery(&app.config).await);

    let sends = fakes.wait_for_sends(&token, 1).await;
    assert_eq!(sends[0].form()["description"], "message 1");
    send(&app, "jack", "ivy", 2, json!({})).await;
    fakes.wait_for_sends(&token, 2).await;
    settle().await;
    assert_eq!(
        descriptions_sent(&fakes, &token),
        vec!["message 1", "message 2"],
        "each once, nothing for the refused one"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_registration_api_validates_and_moves_tokens() {
    let fakes = FakeVendors::start().await;
    let app = spawn(&fakes).await;
    let apns = "a1".repeat(32);

    // Bad input: a precise code, and nothing on the log or in the view.
    let before = app.changes_on_log();
    let ok = json!({"From_Account": "kim", "DeviceId": "phone", "Platform": "apns", "Token": apns});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases = [
        (without("From_Account"), 96001),
        (with("From_Account", json!("bad:id")), 96001),
        (without("DeviceId"), 96001),
        (with("DeviceId", json!("")), 96001),
        (with("Platform", json!("windows")), 96002),
        (without("Platform"), 96002),
        (without("Token"), 96003),
        (with("Token", json!("not hex")), 96003),
        (with("Token", json!("zz")), 96003),
        (with("Token", json!(42)), 96003),
    ];
    for (body, code) in cases {
        let reply = app.rest("missive_push/set_token", body.clone()).await;
        assert_eq!(reply["ActionStatus"], "FAIL");
        assert_eq!(reply["ErrorCode"], code, "{body} -> {reply}");
    }
    let (_, reply) = app
        .rest_raw(
            "missive_push/set_token",
            &app.admin_query(),
            "{not json".into(),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 60003);
    let user_query = format!(
        "sdkappid={}&identifier=kim&usersig={}&random=1&contenttype=json",
        app.config.sdkappid,
        app.sig("kim")
    );
    let (_, reply) = app
        .rest_raw("missive_push/set_token", &user_query, ok.to_string())
        .await;
    assert_eq!(reply["ErrorCode"], 60010, "admin only: {reply}");
    assert_eq!(app.changes_on_log(), before, "bad input appended nothing");
    assert_eq!(app.scalar("SELECT count(*) FROM live_push_tokens").await, 0);

    // Register: acknowledged once the view has it.
    let reply = app.rest("missive_push/set_token", ok.clone()).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    let row = app
        .pg
        .query_one(
            "SELECT user_id, device_id, platform FROM live_push_tokens",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2)
        ),
        ("kim".into(), "phone".into(), "apns".into())
    );
    // The same token registered by another user moves to them.
    let reply = app
        .rest("missive_push/set_token", with("From_Account", json!("lou")))
        .await;
    assert_eq!(reply["ErrorCode"], 0);
    assert_eq!(
        app.scalar("SELECT count(*) FROM live_push_tokens WHERE user_id = 'lou'")
            .await,
        1
    );
    assert_eq!(app.scalar("SELECT count(*) FROM live_push_tokens").await, 1);
    // A device's new token replaces its old one on that platform.
    let newer = "b2".repeat(32);
    let reply = app
        .rest(
            "missive_push/set_token",
            json!({"From_Account": "lou", "DeviceId": "phone", "Platform": "apns", "Token": newer}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0);
    let tokens: Vec<String> = app.column("SELECT token FROM live_push_tokens").await;
    assert_eq!(tokens, vec![newer.clone()]);

    // Delete: only the owner's token; then it is gone.
    let del =
        |user: &str, token: &str| json!({"From_Account": user, "Platform": "apns", "Token": token});
    let reply = app
        .rest("missive_push/delete_token", del("kim", &newer))
        .await;
    assert_eq!(reply["ErrorCode"], 96004, "{reply}");
    let reply = app
        .rest("missive_push/delete_token", del("lou", &newer))
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(app.scalar("SELECT count(*) FROM live_push_tokens").await, 0);
    let reply = app
        .rest("missive_push/delete_token", del("lou", &newer))
        .await;
    assert_eq!(reply["ErrorCode"], 96004);

    // The removed token gets nothing.
    send(&app, "max", "lou", 1, json!({})).await;
    settle().await;
    assert!(fakes.sends_to(&newer).is_empty());

    // The view is rebuilt from the log alone: a fresh database and projector
    // replaying the same topic end with the same rows (one kept token too).
    let kept = "c3".repeat(32);
    let reply = app
        .rest(
            "missive_push/set_token",
            json!({"From_Account": "kim", "DeviceId": "tablet", "Platform": "apns", "Token": kept}),
        )
        .await;
    assert_eq!(reply["ErrorCode"], 0);
    // Every row, removed registrations included, must come back the same.
    let rows = "SELECT concat_ws('/', platform, token, user_id, device_id, \
                registered_at_ms, removed_at_ms) FROM push_tokens ORDER BY 1";
    let live: Vec<String> = app
        .pg
        .query(rows, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(live.len(), 4, "{live:?}");
    assert_eq!(
        app.scalar("SELECT count(*) FROM live_push_tokens").await,
        1,
        "only kim's tablet token is live: a1 moved to lou and lou replaced it"
    );
    let (mut replay, replay_db) = support::test_config().await;
    replay.kafka.topic_prefix = app.config.kafka.topic_prefix.clone();
    replay.projector.group_id = format!("{replay_db}.projector");
    let replay = Arc::new(replay);
    let projector = support::start_projector(&replay).await;
    let pg = missive_core::db::connect(&replay.database_url)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let rebuilt: Vec<String> = pg
            .query(rows, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        if rebuilt == live {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rebuilt {rebuilt:?}, live {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    projector.shutdown().await;
    drop(pg);
    let admin_url = missive_core::Config::load().unwrap().database_url;
    missive_core::db::drop_database(&admin_url, &replay_db)
        .await
        .unwrap();
    app.stop().await;
}

/// Send → vendor latency at a stated load; run with
/// `cargo test -p missive --test api offline_push:: -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement, not a check"]
async fn send_to_push_latency() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (recipients, per_recipient) = (env("LATENCY_SENDERS", 20), env("LATENCY_MESSAGES", 25));
    let fakes = FakeVendors::start().await;
    let app = Arc::new(spawn(&fakes).await);
    for i in 0..recipients {
        let token = format!("{:0>64}", hex::encode(format!("lat{i}")));
        let reply = set_token(&app, &format!("r{i}"), "phone", "apns", &token).await;
        assert_eq!(reply["ErrorCode"], 0);
    }
    // One sender task per recipient, sending back to back.
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..recipients {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for j in 0..per_recipient {
                let at = std::time::Instant::now();
                let reply = send(&app, "sender", &format!("r{i}"), j as u32 + 1, json!({})).await;
                sent.push((reply["MsgKey"].as_str().unwrap().to_owned(), at));
            }
            sent
        }));
    }
    let mut sent = std::collections::HashMap::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let total = recipients * per_recipient;
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let pushes = loop {
        let pushes: Vec<_> = fakes
            .requests()
            .into_iter()
            .filter(|r| r.vendor == "apns")
            .collect();
        if pushes.len() >= total {
            break pushes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {total} pushed",
            pushes.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut ms: Vec<f64> = pushes
        .iter()
        .map(|r| {
            let at = sent[r.header("apns-collapse-id")];
            r.received_at.duration_since(at).as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "send→push latency over {total} messages ({:.0} msg/s offered by {recipients} senders): \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        ms[ms.len() - 1]
    );
    Arc::try_unwrap(app).ok().expect("sole owner").stop().await;
}
