//! `missive-bench`: measures missive on the local stack. Figures go to
//! stdout as a table and as JSON (see docs/benchmarks.md).
//!
//! `latency`: send→push and send-ack latency at a steady rate.
//!
//! `projection`: fills a fresh events topic with synthetic messages (many
//! users, many conversations, every partition), then projects it into a
//! fresh database twice through the projector's own code: with the live
//! projector's batch size (events/s projected from a backlog) and with
//! `missive replay`'s (events/s rebuilt).

mod latency;
mod procstat;
mod projection;

use anyhow::Context;
use clap::{Parser, Subcommand};

use missive_core::Config;

#[derive(Parser)]
#[command(name = "missive-bench", about = "Measures missive on the local stack")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Events/s projected from a backlog and events/s rebuilt.
    Projection {
        /// Messages written to the log.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Distinct users (conversations are random pairs of them).
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        /// Bytes of text per message.
        #[arg(long, default_value_t = 100)]
        text_bytes: usize,
    },
    /// Send→push latency at a steady, open-loop rate: in-process ingest,
    /// projector and delivery on a fresh database and topics, online
    /// WebSocket receivers, REST sends.
    Latency {
        /// Messages per second offered (open loop: a slow system shows as
        /// latency, not as a lower rate).
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Online receivers (one WebSocket each).
        #[arg(long, default_value_t = 200)]
        users: usize,
    },
    /// The broker's raw consume rate for a topic (rdkafka, no missive).
    RawConsume {
        #[arg(long)]
        topic: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load().context("configuration")?;
    match cli.scenario {
        Scenario::Projection {
            events,
            users,
            text_bytes,
        } => projection::projection(config, events, users, text_bytes).await,
        Scenario::Latency {
            rate,
            seconds,
            users,
        } => latency::latency(config, rate, seconds, users).await,
        Scenario::RawConsume { topic } => {
            let (n, bytes, secs) =
                tokio::task::spawn_blocking(move || projection::raw_consume(&config, &topic))
                    .await??;
            println!(
                "consumed {n} records ({:.1} MB) in {secs:.2} s: {:.0} records/s",
                bytes as f64 / 1e6,
                n as f64 / secs
            );
            Ok(())
        }
    }
}
