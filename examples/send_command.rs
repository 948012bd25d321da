//! A backend writing to the commands topic: sends one text message as any
//! user, the way an operator's service would (any Kafka client in any
//! language does the same with `schemas/avro/commands.avsc`).
//!
//! ```sh
//! cargo run --example send_command -- shop bob "your order shipped" order-42-shipped
//! ```
//!
//! Brokers and topic prefix come from missive's configuration
//! (`MISSIVE_KAFKA_BROKERS`, `MISSIVE_TOPIC_PREFIX`). Run it twice with the
//! same idempotency key: bob still gets one message.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};

use missive_core::Config;
use missive_schemas::commands::{Action, Command, CommandCodec, SendMessage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [from, to, text, command_id] = args.as_slice() else {
        eprintln!("usage: send_command FROM TO TEXT IDEMPOTENCY_KEY");
        std::process::exit(2);
    };
    let config = Config::load()?;
    // Idempotent and acks=all, like missive's own producer: a retry by the
    // client library never duplicates, and a retry by us reuses the key.
    let producer: FutureProducer = missive_core::kafka::producer(&config)?;
    let command = Command {
        command_id: command_id.clone(),
        issued_at: missive_core::time::now_millis(),
        issuer: "example".into(),
        action: Action::SendMessage(SendMessage::text(from, to, text)),
    };
    let payload = CommandCodec::get().encode(&command);
    // Keyed by conversation: one backend's commands for a conversation stay in order.
    let key = missive_schemas::conversation_id(from, to);
    let topic = config.commands_topic();
    let delivery = producer
        .send(
            FutureRecord::to(&topic).key(&key).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    println!(
        "command {command_id} written to {topic} partition {} offset {}",
        delivery.partition, delivery.offset
    );
    Ok(())
}
