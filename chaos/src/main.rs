//! `missive-chaos`: runs the fault loop (see the library docs) and prints
//! the report; exits 1 when anything was lost, doubled or reordered.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "missive-chaos",
    about = "Fault loop: kill and restart everything under load, then check exactly-once"
)]
struct Args {
    /// Rounds; each applies every fault once, then checks.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Sends per second, all senders together.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    #[arg(long, default_value_t = 8)]
    senders: usize,
    /// Recipients online with two WebSocket devices each.
    #[arg(long, default_value_t = 4)]
    online: usize,
    /// Recipients offline with a push token.
    #[arg(long, default_value_t = 2)]
    offline: usize,
    /// Seconds of load before the first fault and after each one.
    #[arg(long, default_value_t = 4)]
    settle_secs: u64,
    /// The `missive` binary; default: the one next to this program.
    #[arg(long)]
    missive: Option<PathBuf>,
    /// Only these faults (comma-separated: kill_ingest, kill_projector,
    /// kill_delivery, restart_broker, restart_postgres, cut_client).
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Keep logs and data here instead of a fresh temp directory.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "missive_chaos=info".into()),
        )
        .init();
    let args = Args::parse();
    let bin = match args.missive {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name("missive"),
    };
    let mut opts = missive_chaos::Options::new(bin);
    opts.rounds = args.rounds;
    opts.rate = args.rate;
    opts.senders = args.senders;
    opts.online = args.online;
    opts.offline = args.offline;
    opts.settle = Duration::from_secs(args.settle_secs);
    opts.work_dir = args.work_dir;
    if !args.faults.is_empty() {
        opts.faults = args
            .faults
            .iter()
            .map(|f| serde_json::from_value(serde_json::Value::String(f.clone())))
            .collect::<Result<_, _>>()?;
    }
    let report = missive_chaos::run(opts).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    println!();
    println!("round  acked  retries  lost  doubled  out_of_order  device_missing  device_doubled  pushes  push_doubled  service_exits");
    for r in &report.rounds {
        let f = &r.findings;
        println!(
            "{:>5}  {:>5}  {:>7}  {:>4}  {:>7}  {:>12}  {:>14}  {:>14}  {:>6}  {:>12}  {:>13}",
            r.round,
            f.acked,
            r.send_retries,
            f.lost,
            f.doubled,
            f.out_of_order,
            f.device_missing,
            f.device_doubled,
            f.pushes,
            f.push_doubled,
            r.service_exits.len()
        );
    }
    println!("report: {}", report.work_dir.join("report.json").display());
    if !report.clean() {
        eprintln!("the fault loop found losses, doubles or reordering");
        std::process::exit(1);
    }
    Ok(())
}
