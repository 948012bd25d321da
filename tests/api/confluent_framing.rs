//! The optional Confluent framing against a loopback Schema Registry (the
//! documented REST API, tests/support/registry.rs): ingest registers the
//! schemas and writes `00` + schema id; the projector reads those records,
//! single-object ones on the same topic, and Confluent-framed commands; an
//! id the registry never gave is dead-lettered with the reason.

use crate::support;

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};

use missive_core::config::Encoding;
use missive_schemas::commands::{Action, Command, CommandCodec, SendMessage};
use missive_schemas::{samples, EventCodec};
use support::registry::FakeRegistry;
use support::{log_size, read_topic, TestApp, WAIT};

async fn produce(p: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    p.send(
        FutureRecord::to(topic).key(key).payload(payload),
        Duration::from_secs(10),
    )
    .await
    .expect("produced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confluent_framed_records_are_written_registered_and_read_beside_single_object() {
    let registry = FakeRegistry::start().await;
    let url = registry.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.kafka.encoding = Encoding::Confluent;
        c.kafka.schema_registry_url = Some(url);
    })
    .await;
    let events_topic = app.config.events_topic();
    let ids = registry.versions(&format!("{events_topic}-value"));
    assert_eq!(ids.len(), 1, "the current events schema is registered once");
    let id = ids[0];

    // A REST send is written as 00 + the registry id + the Avro body...
    app.send_text("alice", "bob", 7, "framed").await;
    let records = read_topic(&app.config, &events_topic);
    assert_eq!(records.len(), 1);
    let bytes = &records[0].payload;
    assert_eq!(bytes[0], 0, "Confluent magic byte");
    assert_eq!(u32::from_be_bytes(bytes[1..5].try_into().unwrap()), id);
    // ...which a stock reader decodes with the schema the registry serves.
    let served: serde_json::Value = reqwest::get(format!("{}/schemas/ids/{id}", registry.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = apache_avro::Schema::parse_str(served["schema"].as_str().unwrap()).unwrap();
    let value = apache_avro::from_avro_datum(&schema, &mut &bytes[5..], None).unwrap();
    let json: serde_json::Value = value.try_into().unwrap();
    assert_eq!(json["event"]["to_account"], "bob");
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;

    // A single-object record on the same topic is read too.
    let p: FutureProducer = missive_core::kafka::producer(&app.config).unwrap();
    let env = samples::text_message();
    produce(
        &p,
        &events_topic,
        &env.event.key(),
        &EventCodec::get().encode(&env),
    )
    .await;
    app.wait_for_count("SELECT count(*) FROM messages", 2).await;

    // An id the registry never gave is dead-lettered, not guessed at.
    let mut unknown = vec![0, 0, 0, 0x03, 0xE7];
    unknown.extend_from_slice(&bytes[5..]);
    produce(&p, &events_topic, "x:y", &unknown).await;
    let dlq = app.config.events_dlq_topic();
    let deadline = tokio::time::Instant::now() + WAIT;
    while log_size(&app.config, &dlq) < 1 {
        assert!(tokio::time::Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = read_topic(&app.config, &dlq);
    let reason = dead[0].header("missive.dlq.reason").unwrap();
    assert!(reason.contains("Schema Registry id 999"), "{reason}");
    assert_eq!(dead[0].payload, unknown);

    // A backend's stock serializer writes commands with the registered commands schema.
    let command_ids = registry.versions(&format!("{}-value", app.config.commands_topic()));
    assert_eq!(command_ids.len(), 1);
    let command = Command {
        command_id: "framed-1".into(),
        issued_at: 0,
        issuer: "connect".into(),
        action: Action::SendMessage(SendMessage::text("shop", "bob", "via connect")),
    };
    produce(
        &p,
        &app.config.commands_topic(),
        "shop:bob",
        &CommandCodec::get().encode_confluent(&command, command_ids[0]),
    )
    .await;
    app.wait_for_count("SELECT count(*) FROM messages", 3).await;
    assert_eq!(log_size(&app.config, &app.config.commands_dlq_topic()), 0);
    app.stop().await;
}
