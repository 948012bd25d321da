//! Send→push latency: missive's three services run in this process on a
//! fresh database and fresh topics; `users` receivers hold one WebSocket
//! each; REST sends are offered at a fixed rate (open loop: each send starts
//! on its tick whether or not earlier ones finished). Each message carries
//! its send time, so a receiver computes the latency without a shared table.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use missive_core::usersig::UserSigVerifier;
use missive_core::{db, time, Config};

/// Microsecond histograms up to a minute.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn summary(h: &Histogram<u64>) -> Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "p99_9_ms": ms(0.999),
        "max_ms": h.max() as f64 / 1000.0,
    })
}

pub async fn latency(base: Config, rate: u64, seconds: u64, users: usize) -> anyhow::Result<()> {
    anyhow::ensure!(rate > 0 && users > 0, "--rate and --users must be positive");
    let run = format!("bench_{}", uuid::Uuid::new_v4().simple());
    db::create_database(&base.database_url, &run).await?;
    let mut config = base.clone();
    config.database_url = db::with_database(&base.database_url, &run)?;
    db::migrate(&config.database_url).await?;
    config.kafka.topic_prefix = run.clone();
    config.projector.group_id = format!("{run}.projector");
    config.ingest.listen = "127.0.0.1:0".parse()?;
    config.delivery.listen = "127.0.0.1:0".parse()?;
    config.projector.listen = "127.0.0.1:0".parse()?;
    let config = Arc::new(config);

    let stop = CancellationToken::new();
    let ingest = missive_ingest::Ingest::bind(config.clone()).await?;
    let projector = missive_projector::Projector::bind(config.clone()).await?;
    let delivery = missive_delivery::Delivery::bind(config.clone()).await?;
    let (rest_addr, ws_addr) = (ingest.local_addr(), delivery.local_addr());
    let services = [
        tokio::spawn({
            let s = stop.clone();
            async move { ingest.run(s).await.map_err(anyhow::Error::from) }
        }),
        tokio::spawn({
            let s = stop.clone();
            async move { projector.run(s).await.map_err(anyhow::Error::from) }
        }),
        tokio::spawn({
            let s = stop.clone();
            async move { delivery.run(s).await.map_err(anyhow::Error::from) }
        }),
    ];

    // Receivers.
    let verifier = UserSigVerifier::new(config.sdkappid, config.secret_key.clone());
    let started = Instant::now();
    let push = Arc::new(Mutex::new(histogram()));
    let mut receivers = Vec::with_capacity(users);
    for u in 0..users {
        let user = format!("r{u}");
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{ws_addr}/v1/ws"))
            .await
            .context("WebSocket connects")?;
        let login = json!({"type": "login", "user": user, "device": "bench", "platform": "PC",
                           "usersig": verifier.generate(&user, 86_400, time::now_secs())});
        ws.send(Message::Text(login.to_string().into())).await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains("\"sync_done\"") => break,
                Some(Ok(_)) => continue,
                other => anyhow::bail!("login of {user} failed: {other:?}"),
            }
        }
        let push = push.clone();
        receivers.push(tokio::spawn(async move {
            let mut got = 0u64;
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(t) = msg else { continue };
                let Ok(f) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                if f["type"] != "message" {
                    continue;
                }
                // The text is the send's offset from `started`, in µs.
                let Some(sent_us) = f["body"][0]["MsgContent"]["Text"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    continue;
                };
                let now_us = started.elapsed().as_micros() as u64;
                let _ = push
                    .lock()
                    .expect("histogram")
                    .record(now_us.saturating_sub(sent_us).max(1));
                got += 1;
            }
            got
        }));
    }

    // Open-loop sends.
    let admin = config.admin_identifier.clone();
    let query = format!(
        "sdkappid={}&identifier={admin}&usersig={}&random=1&contenttype=json",
        config.sdkappid,
        verifier.generate(&admin, 86_400, time::now_secs())
    );
    let url = format!("http://{rest_addr}/v4/openim/sendmsg?{query}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()?;
    let ack = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = tokio::task::JoinSet::new();
    let send_started = Instant::now();
    let cpu_start = crate::procstat::Sample::now();
    for i in 0..total {
        tick.tick().await;
        let (http, url, ack, errors) = (http.clone(), url.clone(), ack.clone(), errors.clone());
        let to = format!("r{}", i as usize % users);
        sends.spawn(async move {
            let t0 = started.elapsed().as_micros() as u64;
            let body = json!({"From_Account": "bench", "To_Account": to, "MsgRandom": i as u32,
                              "MsgLifeTime": 0,
                              "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": t0.to_string()}}]});
            let outcome = match http.post(&url).body(body.to_string()).send().await {
                Ok(r) => match r.json::<Value>().await {
                    Ok(v) if v["ErrorCode"] == 0 => Ok(()),
                    Ok(v) => Err(format!("{} {}", v["ErrorCode"], v["ErrorInfo"])),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let ok = match outcome {
                Ok(()) => true,
                Err(e) => {
                    if errors.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                        eprintln!("first error: {e}");
                    }
                    false
                }
            };
            if ok {
                let now = started.elapsed().as_micros() as u64;
                let _ = ack.lock().expect("histogram").record((now - t0).max(1));
            } else {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        while sends.try_join_next().is_some() {}
    }
    while sends.join_next().await.is_some() {}
    let offered_secs = send_started.elapsed().as_secs_f64();
    let processes = crate::procstat::Sample::now().since(&cpu_start, offered_secs);
    // Let the last pushes arrive.
    let accepted = ack.lock().expect("histogram").len();
    let deadline = Instant::now() + Duration::from_secs(15);
    while push.lock().expect("histogram").len() < accepted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    for r in receivers {
        r.abort();
    }
    for s in services {
        let _ = s.await;
    }
    db::drop_database(&base.database_url, &run).await?;

    let ack = ack.lock().expect("histogram").clone();
    let push = push.lock().expect("histogram").clone();
    let report = json!({
        "scenario": "latency",
        "offered_rate": rate,
        "seconds": seconds,
        "receivers": users,
        "accepted": ack.len(),
        "accepted_per_s": ack.len() as f64 / offered_secs,
        "errors": errors.load(std::sync::atomic::Ordering::Relaxed),
        "pushed": push.len(),
        "send_ack": summary(&ack),
        "send_to_push": summary(&push),
        "processes": processes,
    });
    println!(
        "offered {rate}/s for {seconds} s to {users} online receivers: accepted {} ({:.0}/s), {} errors, {} pushed",
        ack.len(),
        ack.len() as f64 / offered_secs,
        report["errors"],
        push.len()
    );
    for (name, h) in [("send ack", &ack), ("send→push", &push)] {
        println!(
            "{name:<10} p50 {:>7.1} ms  p90 {:>7.1} ms  p99 {:>7.1} ms  p99.9 {:>7.1} ms  max {:>7.1} ms",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.9) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.value_at_quantile(0.999) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
    }
    for (name, p) in report["processes"].as_object().into_iter().flatten() {
        println!(
            "{name:<24} {:>5} cores  {:>6} MiB resident",
            p["cpu_cores"], p["rss_mib"]
        );
    }
    println!("{report}");
    Ok(())
}
