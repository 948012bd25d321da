//! The raw limits of the box, measured in the same run as missive so the
//! report can give missive's figures as fractions of them: the broker's
//! produce and consume rates for records of the size of missive's
//! `MessageSent` events (rdkafka alone, no missive code on the path), and
//! PostgreSQL's binary-COPY rate for the rows the projector writes per
//! message (one `messages` row, two `inbox` rows) into the real schema.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use missive_projector::apply::{COPY_INBOX, COPY_MESSAGES, INBOX_COLUMNS, MESSAGE_COLUMNS};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::ToSql;

use missive_core::{db, msgbody, Config};
use missive_schemas::{Event, EventCodec};

use crate::projection::message;

/// A fresh topic name for one raw run.
pub fn scratch_topic() -> String {
    format!("bench_{}.raw", uuid::Uuid::new_v4().simple())
}

/// Produces `records` encoded `MessageSent` events (the projection
/// scenario's, `text_bytes` of text each) to a new topic with the settings
/// missive's producer uses (idempotent, `acks=all`, lz4, `kafka.linger_ms`), so the
/// only difference from ingest's appends is ingest itself.
pub async fn produce(
    config: &Config,
    topic: &str,
    records: u64,
    users: u64,
    text_bytes: usize,
) -> anyhow::Result<Value> {
    anyhow::ensure!(records > 0 && users >= 2, "records > 0 and users >= 2");
    missive_core::kafka::ensure_topics(config, &[topic.to_owned()]).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", config.kafka.linger_ms.to_string())
        .set("compression.type", "lz4")
        .set("log_level", "4")
        .create()?;
    let text = "x".repeat(text_bytes);
    // Encoding is not the broker's cost: encode first, then time the sends.
    let payloads: Vec<(String, Vec<u8>)> = (0..records)
        .map(|i| {
            let env = message(i, users, &text);
            let key = env.event.key();
            (key, EventCodec::get().encode(&env))
        })
        .collect();
    let bytes: u64 = payloads.iter().map(|(_, p)| p.len() as u64).sum();
    let started = Instant::now();
    send_all(&producer, topic, payloads).await?;
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "topic": topic,
        "records": records,
        "record_bytes_avg": bytes / records,
        "seconds": secs,
        "records_per_s": records as f64 / secs,
        "mb_per_s": bytes as f64 / 1e6 / secs,
    }))
}

/// Sends every (key, payload) record to `topic` and waits for every
/// acknowledgement, with at most 20,000 in flight (librdkafka's queue
/// stays far from full, and memory stays bounded).
pub async fn send_all<P>(
    producer: &FutureProducer,
    topic: &str,
    records: impl IntoIterator<Item = (String, P)>,
) -> Result<(), rdkafka::error::KafkaError>
where
    P: AsRef<[u8]>,
{
    let mut in_flight = FuturesUnordered::new();
    for (key, payload) in records {
        in_flight.push(async move {
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(payload.as_ref()),
                    Duration::from_secs(60),
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
        });
        if in_flight.len() >= 20_000 {
            in_flight.next().await.expect("in flight")?;
        }
    }
    while let Some(r) = in_flight.next().await {
        r?;
    }
    Ok(())
}

/// Reads the whole of `topic` from the start; JSON with records/s.
pub async fn consume(config: &Config, topic: &str) -> anyhow::Result<Value> {
    let (config, t) = (config.clone(), topic.to_owned());
    let (n, bytes, secs) =
        tokio::task::spawn_blocking(move || crate::projection::raw_consume(&config, &t)).await??;
    Ok(json!({
        "topic": topic,
        "records": n,
        "record_bytes_avg": bytes / n.max(1),
        "seconds": secs,
        "records_per_s": n as f64 / secs,
        "mb_per_s": bytes as f64 / 1e6 / secs,
    }))
}

/// Deletes bench topics, best effort (a broker without DeleteTopics keeps them).
pub async fn delete_topics(config: &Config, topics: &[String]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let Ok(admin) = missive_core::kafka::base_config(config, "bench-admin")
        .create::<AdminClient<DefaultClientContext>>()
    else {
        return;
    };
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let _ = admin.delete_topics(&names, &opts).await;
}

/// One history row and its two inbox rows (recipient and sender's other
/// devices), with the values the projector would give them.
struct Row {
    conversation: String,
    seq: i64,
    msg_key: String,
    from: String,
    to: String,
    random: i64,
    msg_seq: i64,
    sent_at: i64,
    body: Value,
    event_id: uuid::Uuid,
    inbox: [(String, i64); 2],
}

/// Binary COPY of `messages` rows and their inbox rows into a scratch
/// database with missive's schema (its partitions and indexes), in
/// transactions of `batch` messages like a replay's; JSON with rows/s and
/// messages/s. Rows are built before the clock starts: the limit is
/// PostgreSQL's, not the row builder's.
pub async fn copy(
    base: &Config,
    messages: u64,
    users: u64,
    text_bytes: usize,
    batch: usize,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        messages > 0 && users >= 2 && batch > 0,
        "bad raw-copy sizes"
    );
    let name = format!("bench_{}_copy", uuid::Uuid::new_v4().simple());
    db::create_database(&base.database_url, &name).await?;
    let result = copy_into(base, &name, messages, users, text_bytes, batch).await;
    db::drop_database(&base.database_url, &name).await?;
    result
}

async fn copy_into(
    base: &Config,
    name: &str,
    messages: u64,
    users: u64,
    text_bytes: usize,
    batch: usize,
) -> anyhow::Result<Value> {
    let url = db::with_database(&base.database_url, name)?;
    db::migrate(&url).await?;
    let mut client = db::connect(&url).await?;
    let text = "x".repeat(text_bytes);
    let (mut seqs, mut cursors) = (HashMap::<String, i64>::new(), HashMap::<String, i64>::new());
    let next = |map: &mut HashMap<String, i64>, k: &str| {
        let v = map.entry(k.to_owned()).or_insert(0);
        *v += 1;
        *v
    };
    let rows: Vec<Row> = (0..messages)
        .map(|i| {
            let env = message(i, users, &text);
            let Event::MessageSent(m) = env.event else {
                unreachable!("message() builds MessageSent")
            };
            let seq = next(&mut seqs, &m.conversation_id);
            let inbox = [
                (m.to_account.clone(), next(&mut cursors, &m.to_account)),
                (m.from_account.clone(), next(&mut cursors, &m.from_account)),
            ];
            Row {
                seq,
                body: msgbody::render(&m.body),
                msg_key: m.msg_key,
                from: m.from_account,
                to: m.to_account,
                random: m.msg_random,
                msg_seq: m.msg_seq,
                sent_at: m.sent_at,
                event_id: env.event_id,
                conversation: m.conversation_id,
                inbox,
            }
        })
        .collect();
    let (empty, kind, reader) = ("", "message", None::<&str>);
    let expires = missive_core::time::now_millis() + 7 * 86_400_000;
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        let tx = client.transaction().await?;
        let sink = tx.copy_in(COPY_MESSAGES).await?;
        let writer = BinaryCopyInWriter::new(sink, &MESSAGE_COLUMNS);
        futures::pin_mut!(writer);
        for r in chunk {
            let values: [&(dyn ToSql + Sync); 18] = [
                &r.conversation,
                &r.seq,
                &r.msg_key,
                &r.from,
                &r.to,
                &r.random,
                &r.msg_seq,
                &r.sent_at,
                &r.body,
                &empty,
                &empty,
                &empty,
                &false,
                &false,
                &true,
                &r.event_id,
                &true,
                &false,
            ];
            writer.as_mut().write(&values).await?;
        }
        writer.finish().await?;
        let sink = tx.copy_in(COPY_INBOX).await?;
        let writer = BinaryCopyInWriter::new(sink, &INBOX_COLUMNS);
        futures::pin_mut!(writer);
        for r in chunk {
            for (user, cursor) in &r.inbox {
                let values: [&(dyn ToSql + Sync); 8] = [
                    user,
                    cursor,
                    &kind,
                    &r.conversation,
                    &r.seq,
                    &r.msg_key,
                    &expires,
                    &reader,
                ];
                writer.as_mut().write(&values).await?;
            }
        }
        writer.finish().await?;
        tx.commit().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let rows_total = messages * 3;
    Ok(json!({
        "messages": messages,
        "rows": rows_total,
        "rows_per_message": 3,
        "batch": batch,
        "seconds": secs,
        "rows_per_s": rows_total as f64 / secs,
        "messages_per_s": messages as f64 / secs,
    }))
}
