//! The first slice end to end, against the real broker and PostgreSQL: a
//! Tencent-format sendmsg is appended as exactly one Avro event, projected
//! into history, served by admin_getroammsg and pushed live over WebSocket.

use crate::support;
use support::JsonReply;

use std::time::Duration;

use serde_json::json;

use missive_schemas::{Channel, Decision, Element, Event, EventCodec};
use support::{read_topic, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sendmsg_is_logged_projected_served_and_pushed_live() {
    let app = TestApp::spawn().await;
    let mut bob = app.ws("bob", "phone").await;
    let done = bob.next_of("sync_done").await;
    assert_eq!(done["cursor"], 0);

    let reply = app.send_text("alice", "bob", 4242, "hello bob").await;
    assert_eq!(reply["ActionStatus"], "OK");
    assert_eq!(reply["ErrorInfo"], "");
    let key = reply["MsgKey"].as_str().unwrap().to_owned();
    let msg_time = reply["MsgTime"].as_i64().unwrap();
    assert!(msg_time > 1_600_000_000);

    // Live push to the recipient, with ids and seqs to de-duplicate by.
    let pushed = bob.next_of("message").await;
    assert_eq!(pushed["msg_key"], key.as_str());
    assert_eq!(pushed["from"], "alice");
    assert_eq!(pushed["peer"], "alice");
    assert_eq!(pushed["seq"], 1);
    assert_eq!(pushed["cursor"], 1);
    assert_eq!(pushed["time"], msg_time);
    assert_eq!(
        pushed["body"],
        json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello bob"}}])
    );

    // History, from the recipient's side.
    let roam = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 10,
                   "MinTime": 0, "MaxTime": msg_time + 10}),
        )
        .await;
    assert_eq!(roam["ErrorCode"], 0, "{roam}");
    assert_eq!(roam["Complete"], 1);
    assert_eq!(roam["MsgCnt"], 1);
    let m = &roam["MsgList"][0];
    assert_eq!(m["MsgKey"], key.as_str());
    assert_eq!(m["From_Account"], "alice");
    assert_eq!(m["To_Account"], "bob");
    assert_eq!(m["MsgRandom"], 4242);
    assert_eq!(m["MsgTimeStamp"], msg_time);
    assert_eq!(m["MsgBody"][0]["MsgContent"]["Text"], "hello bob");

    // The log holds exactly one MessageSent, keyed by the conversation,
    // besides bob's session opening (schema v6), keyed by his id.
    let (sessions, records): (Vec<_>, Vec<_>) = read_topic(&app.config, &app.config.events_topic())
        .into_iter()
        .partition(|r| {
            matches!(
                EventCodec::get().decode(&r.payload).map(|e| e.event),
                Ok(Event::SessionChanged(_))
            )
        });
    assert!(sessions
        .iter()
        .all(|r| r.key.as_deref() == Some(&b"bob"[..])));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key.as_deref(), Some(&b"alice:bob"[..]));
    let env = EventCodec::get().decode(&records[0].payload).unwrap();
    assert_eq!(env.origin.channel, Channel::Rest);
    assert!(env.origin.admin);
    assert_eq!(env.origin.actor, "administrator");
    let Event::MessageSent(sent) = env.event else {
        panic!("expected MessageSent, got {:?}", env.event)
    };
    assert_eq!(sent.msg_key, key);
    assert_eq!(sent.decision, Decision::Deliver);
    assert_eq!(
        sent.body,
        vec![Element::Text(missive_schemas::TextElem {
            text: "hello bob".into()
        })]
    );
    bob.expect_silence(Duration::from_millis(300)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_send_gets_the_same_msgkey_and_is_stored_once() {
    let app = TestApp::spawn().await;
    let body = json!({
        "From_Account": "carol", "To_Account": "dave", "MsgRandom": 77, "MsgSeq": 9,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "once"}}],
    });
    // Two copies race before either is projected, then one after.
    let (a, b) = tokio::join!(
        app.rest("openim/sendmsg", body.clone()),
        app.rest("openim/sendmsg", body.clone())
    );
    assert_eq!(a["ErrorCode"], 0);
    assert_eq!(a["MsgKey"], b["MsgKey"]);
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;
    let c = app.rest("openim/sendmsg", body.clone()).await;
    assert_eq!(c["MsgKey"], a["MsgKey"]);
    // A different MsgRandom is a different message.
    let mut other = body.clone();
    other["MsgRandom"] = 78.into();
    let d = app.rest("openim/sendmsg", other).await;
    assert_ne!(d["MsgKey"], a["MsgKey"]);
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;
    let seqs: Vec<i64> = app.column("SELECT seq FROM messages ORDER BY seq").await;
    assert_eq!(seqs, vec![1, 2], "dense sequence, the retry took no seq");
    let inbox = app
        .scalar("SELECT count(*) FROM inbox WHERE user_id = 'dave'")
        .await;
    assert_eq!(inbox, 2);
    app.stop().await;
}

/// A retry that reaches the same ingest before the projector stored the
/// first copy used to append a second event and answer `duplicate: false`.
/// Now it appends nothing and gets the original MsgKey and MsgTime, and
/// identical sends racing each other append once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_before_projection_append_nothing_and_answer_as_duplicates() {
    let mut app = TestApp::spawn().await;
    let mut alice = app.ws("alice", "phone").await;
    alice.next_of("sync_done").await;
    // Nothing is projected from here on: every retry below arrives before
    // the first copy is in history.
    app.projector.take().unwrap().shutdown().await;
    let log = app.changes_on_log();
    let body = json!({
        "From_Account": "carol", "To_Account": "dave", "MsgRandom": 77, "MsgSeq": 9,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "once"}}],
    });
    let first = app.rest("openim/sendmsg", body.clone()).await;
    assert_eq!(first["ErrorCode"], 0, "{first}");
    let retry = app.rest("openim/sendmsg", body.clone()).await;
    assert_eq!(retry["ErrorCode"], 0, "{retry}");
    assert_eq!(
        (&retry["MsgKey"], &retry["MsgTime"]),
        (&first["MsgKey"], &first["MsgTime"])
    );
    assert_eq!(app.changes_on_log(), log + 1, "the retry appended nothing");

    // Eight identical sends at once: one append, one MsgKey.
    let mut racing = body.clone();
    racing["MsgSeq"] = 10.into();
    let replies =
        futures::future::join_all((0..8).map(|_| app.rest("openim/sendmsg", racing.clone()))).await;
    for r in &replies {
        assert_eq!(r["ErrorCode"], 0, "{r}");
        assert_eq!(
            (&r["MsgKey"], &r["MsgTime"]),
            (&replies[0]["MsgKey"], &replies[0]["MsgTime"])
        );
    }
    assert_eq!(
        app.changes_on_log(),
        log + 2,
        "concurrent copies appended once"
    );

    // Over WebSocket the retry says so.
    let send = json!({"type": "send", "msg": {"To_Account": "bob", "MsgRandom": 5, "MsgSeq": 1,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi bob"}}]}});
    let sent = alice.request(1, send.clone()).await;
    assert_eq!(
        (&sent["type"], &sent["duplicate"]),
        (&json!("sent"), &json!(false)),
        "{sent}"
    );
    let again = alice.request(2, send).await;
    assert_eq!(
        (&again["type"], &again["duplicate"]),
        (&json!("sent"), &json!(true)),
        "{again}"
    );
    assert_eq!(
        (&again["msg_key"], &again["msg_time"], &again["msg_seq"]),
        (&sent["msg_key"], &sent["msg_time"], &sent["msg_seq"])
    );
    assert_eq!(app.changes_on_log(), log + 3);

    // Projected once each, with dense seqs.
    app.projector = Some(support::start_projector(&app.config).await);
    app.wait_projected().await;
    assert_eq!(app.scalar("SELECT count(*) FROM messages").await, 3);
    app.stop().await;
}

/// Backends that copied Tencent's sample constant MsgRandom and send no
/// MsgSeq must not lose messages: a different message repeating the
/// MsgRandom is a new message; only the same content is a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reused_msg_random_without_msg_seq_is_a_new_message_unless_it_repeats_the_content() {
    let app = TestApp::spawn().await;
    let send = |text: &str| {
        json!({"From_Account": "shop", "To_Account": "erin", "MsgRandom": 1287657,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]})
    };
    let first = app.rest("openim/sendmsg", send("order shipped")).await;
    let second = app.rest("openim/sendmsg", send("order delivered")).await;
    assert_eq!(
        (&first["ErrorCode"], &second["ErrorCode"]),
        (&json!(0), &json!(0))
    );
    assert_ne!(
        first["MsgKey"], second["MsgKey"],
        "a new message, not a retry"
    );
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;
    // (The same content again is a retry only within the same second:
    // send_controls.rs.)
    let mut with_data = send("order shipped");
    with_data["CloudCustomData"] = "{\"order\": 2}".into();
    let third = app.rest("openim/sendmsg", with_data).await;
    assert_ne!(
        third["MsgKey"], first["MsgKey"],
        "CloudCustomData is content too"
    );
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;
    let history = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "erin", "Peer_Account": "shop", "MaxCnt": 10,
                "MinTime": 0, "MaxTime": missive_core::time::now_secs() + 10}),
        )
        .await;
    let texts: Vec<&str> = history["MsgList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["order shipped", "order delivered", "order shipped"]);

    // A batch without MsgSeq shares one MsgKey across its recipients.
    let batch = app
        .rest(
            "openim/batchsendmsg",
            json!({"From_Account": "shop", "To_Account": ["erin", "fred"], "MsgRandom": 1287657,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "sale"}}]}),
        )
        .await;
    assert_eq!(batch["ErrorCode"], 0, "{batch}");
    let key = batch["MsgKey"].as_str().unwrap();
    app.wait_for_count(
        &format!("SELECT count(*) FROM messages WHERE msg_key = '{key}'"),
        2,
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_tencent_codes_and_append_nothing() {
    let app = TestApp::spawn().await;
    let good = json!({
        "To_Account": "bob", "MsgRandom": 1,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}],
    })
    .to_string();
    let q = app.admin_query();
    let appid = app.config.sdkappid;
    let admin = app.config.admin_identifier.clone();
    let now = missive_core::time::now_secs();
    let expired = app.verifier().generate(&admin, 10, now - 3600);
    let foreign_app =
        missive_core::usersig::UserSigVerifier::new(appid + 1, app.config.secret_key.clone())
            .generate(&admin, 3600, now);
    let wrong_key =
        missive_core::usersig::UserSigVerifier::new(appid, "another-key".to_owned().into())
            .generate(&admin, 3600, now);
    let user_sig = app.sig("alice");
    let cases: Vec<(String, String, u32)> = vec![
        (q.clone(), "{not json".into(), 90001),
        (q.clone(), "[1,2]".into(), 90001),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1}).to_string(),
            90002,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgBody": []}).to_string(),
            90005,
        ),
        (
            q.clone(),
            json!({"To_Account": 5, "MsgRandom": 1, "MsgBody": []}).to_string(),
            90003,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": -1, "MsgBody": []}).to_string(),
            90005,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1, "MsgBody": {}}).to_string(),
            90007,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1,
            "MsgBody": [{"MsgType": "TIMNopeElem", "MsgContent": {}}]})
            .to_string(),
            90010,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1, "MsgSeq": -1,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
            .to_string(),
            90004,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1, "SyncOtherMachine": 3,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
            .to_string(),
            90031,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 2},
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
            .to_string(),
            90043,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1, "MsgLifeTime": "forever",
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
            .to_string(),
            90044,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1, "IsNeedReadReceipt": 7,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
            .to_string(),
            20001,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1, "MsgLifeTime": 604801,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
            .to_string(),
            90026,
        ),
        (
            q.clone(),
            json!({"To_Account": "bob", "MsgRandom": 1,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x".repeat(13_000)}}]})
            .to_string(),
            93000,
        ),
        (q.clone(), "x".repeat(200_000), 93000),
        (
            q.clone(),
            json!({"To_Account": "b:ob", "MsgRandom": 1,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
            .to_string(),
            90003,
        ),
        (
            format!("identifier={admin}&usersig={}", app.sig(&admin)),
            good.clone(),
            60012,
        ),
        (
            format!("sdkappid=1&identifier={admin}&usersig={}", app.sig(&admin)),
            good.clone(),
            60006,
        ),
        (
            format!("sdkappid={appid}&identifier={admin}&usersig={expired}"),
            good.clone(),
            70001,
        ),
        (
            format!("sdkappid={appid}&identifier={admin}&usersig="),
            good.clone(),
            70002,
        ),
        (
            format!("sdkappid={appid}&identifier={admin}&usersig=%25%25%25"),
            good.clone(),
            70003,
        ),
        (
            format!("sdkappid={appid}&identifier={admin}&usersig={wrong_key}"),
            good.clone(),
            70009,
        ),
        (
            format!("sdkappid={appid}&identifier={admin}&usersig={user_sig}"),
            good.clone(),
            70013,
        ),
        (
            format!("sdkappid={appid}&identifier={admin}&usersig={foreign_app}"),
            good.clone(),
            70014,
        ),
        (
            format!("sdkappid={appid}&identifier=alice&usersig={user_sig}"),
            good.clone(),
            60010,
        ),
    ];
    for (query, body, code) in cases {
        let (status, reply) = app.rest_raw("openim/sendmsg", &query, body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(reply["ActionStatus"], "FAIL", "{body:.80}: {reply}");
        assert_eq!(
            reply["ErrorCode"], code,
            "{body:.80} / {query:.60}: {reply}"
        );
        assert!(!reply["ErrorInfo"].as_str().unwrap().is_empty());
    }
    let (_, reply) = app.rest_raw("openim/no_such_api", &q, "{}".into()).await;
    assert_eq!(reply["ErrorCode"], 60009);
    assert_eq!(
        app.changes_on_log(),
        0,
        "a rejected request appended something"
    );
    // And the good request does go through.
    let (_, reply) = app.rest_raw("openim/sendmsg", &q, good).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(app.changes_on_log(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_metrics_are_served_by_every_service() {
    let app = TestApp::spawn().await;
    app.send_text("alice", "bob", 1, "count me").await;
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;
    for (name, svc) in [
        ("ingest", &app.ingest),
        ("projector", &app.projector),
        ("delivery", &app.delivery),
    ] {
        let addr = svc.as_ref().unwrap().addr;
        let health: serde_json::Value = app
            .http
            .get(format!("http://{addr}/healthz"))
            .json_reply()
            .await;
        assert_eq!(health["status"], "ok", "{name}: {health}");
        assert_eq!(health["service"], name);
        assert_eq!(health["postgres"], "ok");
        let metrics = app.metrics(addr).await;
        assert!(metrics.contains("missive_"), "{name} exposes no metrics");
    }
    let metrics = app.metrics(app.projector.as_ref().unwrap().addr).await;
    assert!(
        metrics.contains("missive_projector_events_total"),
        "{metrics}"
    );
    // Described, histograms with buckets (not summaries), lag per partition.
    assert!(
        metrics.contains("# HELP missive_projector_events_total Events committed"),
        "{metrics}"
    );
    assert!(
        metrics.contains("missive_projector_batch_seconds_bucket{le=\"0.005\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("missive_projector_batch_seconds{quantile"),
        "{metrics}"
    );
    let deadline = std::time::Instant::now() + support::WAIT;
    loop {
        let metrics = app.metrics(app.projector.as_ref().unwrap().addr).await;
        if metrics.contains("missive_projector_lag_events{partition=\"0\"} 0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no lag gauge: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.stop().await;
}

/// Every element type goes through REST into history unchanged, and each
/// type's limits are enforced at the edge with 90010 and nothing appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_element_type_round_trips_and_each_limit_is_enforced() {
    let app = TestApp::spawn().await;
    let mb = 1024 * 1024;
    let elements = json!([
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "all of them"}},
        {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 3, "Data": "smile"}},
        {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "pier", "Latitude": -90.0, "Longitude": 180.0}},
        {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "i1", "ImageFormat": 1, "ImageInfoArray": [
            {"Type": 1, "Size": 28 * mb, "Width": 800, "Height": 600, "URL": "https://cdn.example.com/i.jpg"}]}},
        {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "https://cdn.example.com/a.m4a", "UUID": "s1", "Size": 28 * mb, "Second": 9, "Download_Flag": 2}},
        {"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://cdn.example.com/f.zip", "UUID": "f1", "FileSize": 100 * mb, "FileName": "f.zip", "Download_Flag": 2}},
        {"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "https://cdn.example.com/v.mp4", "VideoUUID": "v1", "VideoSize": 100 * mb,
            "VideoSecond": 30, "VideoFormat": "mp4", "VideoDownloadFlag": 2, "ThumbUrl": "https://cdn.example.com/v.jpg", "ThumbUUID": "t1",
            "ThumbSize": 2000, "ThumbWidth": 320, "ThumbHeight": 240, "ThumbFormat": "JPG", "ThumbDownloadFlag": 2}},
        {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{\"rps\":\"rock\"}", "Desc": "game", "Ext": "", "Sound": ""}},
        {"MsgType": "TIMSystemElem", "MsgContent": {"Kind": "promo", "Text": "sale", "Data": "{}"}},
    ]);
    let reply = app
        .rest("openim/sendmsg", json!({"From_Account": "pat", "To_Account": "quinn", "MsgRandom": 1, "MsgBody": elements}))
        .await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;
    let roam = app
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "quinn", "Peer_Account": "pat", "MaxCnt": 1, "MinTime": 0,
                   "MaxTime": missive_core::time::now_secs() + 10}),
        )
        .await;
    let stored = roam["MsgList"][0]["MsgBody"].as_array().unwrap().clone();
    assert_eq!(stored.len(), 9);
    for (sent, got) in elements.as_array().unwrap().iter().zip(&stored) {
        assert_eq!(got["MsgType"], sent["MsgType"]);
        for (field, value) in sent["MsgContent"].as_object().unwrap() {
            assert_eq!(
                &got["MsgContent"][field], value,
                "{} {field}",
                sent["MsgType"]
            );
        }
    }
    assert_eq!(stored[8]["MsgContent"]["Source"], "operator");

    let over = [
        json!({"MsgType": "TIMTextElem", "MsgContent": {}}),
        json!({"MsgType": "TIMFaceElem", "MsgContent": {"Index": "3"}}),
        json!({"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 91.0, "Longitude": 0.0}}),
        json!({"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": [
            {"Type": 1, "Size": 28 * mb + 1, "Width": 1, "Height": 1, "URL": "https://cdn.example.com/i.jpg"}]}}),
        json!({"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": [
            {"Type": 4, "Size": 1, "Width": 1, "Height": 1, "URL": "https://cdn.example.com/i.jpg"}]}}),
        json!({"MsgType": "TIMSoundElem", "MsgContent": {"Url": "https://cdn.example.com/a", "Size": 28 * mb + 1, "Second": 1}}),
        json!({"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://cdn.example.com/f", "FileSize": 100 * mb + 1, "FileName": "f"}}),
        json!({"MsgType": "TIMFileElem", "MsgContent": {"Url": "javascript:alert(1)", "FileSize": 1, "FileName": "f"}}),
        json!({"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "https://cdn.example.com/v", "VideoSize": 100 * mb + 1,
            "VideoSecond": 1, "VideoFormat": "mp4", "ThumbUrl": "https://cdn.example.com/t", "ThumbSize": 1, "ThumbWidth": 1, "ThumbHeight": 1}}),
        json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": 5}}),
        json!({"MsgType": "TIMSystemElem", "MsgContent": {"Kind": "missive.fake"}}),
    ];
    for element in over {
        let reply = app
            .rest("openim/sendmsg", json!({"From_Account": "pat", "To_Account": "quinn", "MsgRandom": 2, "MsgBody": [element]}))
            .await;
        assert_eq!(reply["ErrorCode"], 90010, "{element}: {reply}");
    }
    assert_eq!(app.changes_on_log(), 1);
    app.stop().await;
}

/// A message the projector hands over in-process is pushed exactly as a
/// device reading its inbox from PostgreSQL gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handed_over_push_equals_the_stored_inbox_entry() {
    let app = TestApp::spawn().await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;
    let body = json!([
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "handed over"}},
        {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "here", "Latitude": 39.9042, "Longitude": 116.4074}},
        {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{\"k\":[1,2]}", "Desc": "d", "Ext": "e", "Sound": ""}}
    ]);
    let reply = app
        .rest(
            "openim/sendmsg",
            json!({"From_Account": "alice", "To_Account": "bob", "MsgRandom": 77,
                   "MsgBody": body, "CloudCustomData": "ccd"}),
        )
        .await;
    assert_eq!(reply["ActionStatus"], "OK", "{reply}");
    let live = bob.next_of("message").await;
    let metrics = app.metrics(app.delivery.as_ref().unwrap().addr).await;
    assert!(
        metrics.contains("missive_delivery_handed_over_total"),
        "pushed without the hand-over: {metrics}"
    );
    // The same entry read from PostgreSQL by a device starting at cursor 0.
    let mut tablet = app.ws_with_cursor("bob", "tablet", Some(0)).await;
    let stored = tablet.next_of("message").await;
    assert_eq!(live, stored);
    assert_eq!(live["body"], body);
    app.stop().await;
}
