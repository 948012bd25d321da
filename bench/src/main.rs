//! `missive-bench`: measures missive on the local stack, beside the raw
//! limits of the same box (see docs/benchmarks.md).
//!
//! Load scenarios (`steady`, `ramp`, `burst`, `flat`) run ingest, projector
//! and delivery on a fresh database and topics (optionally prefilled with
//! history), in this process or a `missive dev` child process, or target
//! services already running (`--services`), with simulated users on
//! WebSockets and REST. `rebuild` (alias `projection`) projects a
//! prepared log into fresh databases. `raw-produce`, `raw-consume` and
//! `raw-copy` measure the broker and PostgreSQL without missive. `suite`
//! runs them all and writes `bench/results/`.

mod load;
mod plot;
mod procstat;
mod projection;
mod raw;
mod scenarios;
mod stats;
mod summary;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use missive_core::Config;

#[derive(Parser)]
#[command(name = "missive-bench", about = "Measures missive on the local stack")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Events/s projected from a backlog (the live projector's batch) and
    /// rebuilt (`missive replay`'s batch), through the projector's own code.
    #[command(alias = "projection")]
    Rebuild {
        /// Messages written to the log.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Distinct users (conversations are random pairs of them).
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        /// Bytes of text per message.
        #[arg(long, default_value_t = 100)]
        text_bytes: usize,
        /// Batch of the "projected" run [default: the configuration's
        /// `projector.batch_max`]; a small one (the batches of a live load,
        /// ~10 at 1,000 msg/s) shows the cost every batch pays whatever its
        /// size.
        #[arg(long)]
        live_batch: Option<usize>,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// A fixed offered rate: latency, accepted rate, lag.
    #[command(alias = "latency")]
    Steady {
        /// Messages per second offered (open loop).
        #[arg(long, default_value_t = 5_000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[command(flatten)]
        load: load::Options,
        /// Write the report here, and its plots beside it.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The same steady run on an empty database, a prefilled one and an
    /// empty one again: CPU per message per process and latency, the
    /// prefilled run over the empty ones, and the box's drift beside it (a
    /// message's cost must not depend on what is stored).
    Flat {
        #[arg(long, default_value_t = 400)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Messages stored before the second run.
        #[arg(long, default_value_t = 1_000_000)]
        stored_messages: u64,
        /// Users the stored messages are between.
        #[arg(long, default_value_t = 10_000)]
        stored_users: u64,
        #[command(flatten)]
        load: load::Options,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Steps the rate up until p99 send→push passes `--p99-ms` or the lag
    /// grows: the highest sustainable rate.
    Ramp {
        /// Rates to try, in order.
        #[arg(long, value_delimiter = ',', default_value = RAMP_RATES)]
        rates: Vec<u64>,
        /// Seconds per step.
        #[arg(long, default_value_t = 15)]
        step_seconds: u64,
        #[arg(long, default_value_t = 100.0)]
        p99_ms: f64,
        #[command(flatten)]
        load: load::Options,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// A base rate, a burst of `--factor` times it, the base rate again:
    /// peak lag and time to drain.
    Burst {
        #[arg(long, default_value_t = 200)]
        base_rate: u64,
        #[arg(long, default_value_t = 10)]
        factor: u64,
        #[arg(long, default_value_t = 5)]
        burst_seconds: u64,
        /// Seconds of the base rate before the burst.
        #[arg(long, default_value_t = 10)]
        base_seconds: u64,
        /// Seconds of the base rate after it.
        #[arg(long, default_value_t = 30)]
        after_seconds: u64,
        #[command(flatten)]
        load: load::Options,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The broker's raw produce rate for records of MessageSent's size
    /// (rdkafka, no missive), then its raw consume rate for them.
    RawProduce {
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        #[arg(long, default_value_t = 100)]
        text_bytes: usize,
        /// Keep the topic (for `raw-consume --topic`).
        #[arg(long)]
        keep: bool,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The broker's raw consume rate for a topic (rdkafka, no missive).
    RawConsume {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// PostgreSQL's raw binary-COPY rate for the rows the projector writes
    /// per message, into a scratch database with missive's schema.
    RawCopy {
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        #[arg(long, default_value_t = 100)]
        text_bytes: usize,
        /// Messages per transaction (replay's batch).
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Everything above, with durations that keep it to about 15 minutes:
    /// JSON, SVG plots and summary.md in `--out`.
    Suite {
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
        /// Short durations: checks the tool end to end in about 3 minutes.
        #[arg(long)]
        quick: bool,
        /// Steady scenario's rate.
        #[arg(long, default_value_t = 5_000)]
        steady_rate: u64,
        #[command(flatten)]
        load: load::Options,
    },
}

/// The suite's reference rate (issue #17's goals: send→push p50 ≤ 5 ms and
/// p99 ≤ 30 ms, flat lag, ≤ 0.4 ms CPU per message in each process).
const TARGET_RATE: u64 = 1_000;

const RAMP_RATES: &str =
    "100,250,500,1000,1500,2000,3000,4000,5000,6000,8000,10000,12000,16000,20000";

/// Runs of each raw limit in the suite; the faster one is the limit.
const RAW_RUNS: u32 = 2;

/// Of two reports of a raw limit, the one with the higher `key`; it lists
/// every run's `key` under `runs_per_s`, in order.
fn better(kept: Value, new: Value, key: &str) -> Value {
    let rate = |v: &Value| v[key].as_f64().unwrap_or(0.0);
    let mut runs: Vec<Value> = kept["runs_per_s"].as_array().cloned().unwrap_or_default();
    runs.push(json!(rate(&new)));
    let mut out = if kept.is_null() || rate(&new) > rate(&kept) {
        new
    } else {
        kept
    };
    out["runs_per_s"] = json!(runs);
    out
}

fn save(path: Option<&Path>, report: &Value) -> anyhow::Result<()> {
    if let Some(p) = path {
        for f in plot::write_outputs(p, report)? {
            eprintln!("wrote {f}");
        }
    }
    Ok(())
}

/// Prints a load report's headline and saves it.
fn show(report: &Value, json: Option<&Path>) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&report["result"])?);
    let t = &report["timeline"]["totals"];
    println!(
        "offered {}, accepted {}, errors {}, pushes {} of {} expected",
        t["offered"], t["accepted"], t["errors"], t["pushes"], t["expected_pushes"]
    );
    if let Some(errors) = report["timeline"]["errors_by_kind"]
        .as_object()
        .filter(|e| !e.is_empty())
    {
        println!("errors by kind: {}", Value::Object(errors.clone()));
    }
    save(json, report)
}

// The load generator shares the box with what it measures, so its own CPU
// moves the ramp: glibc's malloc and free were ~9% of it at 1,000 msg/s
// (issue #17), as they had been of the services before they moved to mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load().context("configuration")?;
    match cli.scenario {
        Scenario::Rebuild {
            events,
            users,
            text_bytes,
            live_batch,
            json,
        } => {
            let report =
                projection::projection(config, events, users, text_bytes, live_batch).await?;
            println!("{report}");
            save(json.as_deref(), &report)
        }
        Scenario::Steady {
            rate,
            seconds,
            load,
            json,
        } => {
            let report = scenarios::steady(&config, load, rate, seconds).await?;
            show(&report, json.as_deref())
        }
        Scenario::Flat {
            rate,
            seconds,
            stored_messages,
            stored_users,
            load,
            json,
        } => {
            let report =
                scenarios::flat(&config, load, rate, seconds, stored_messages, stored_users)
                    .await?;
            println!("{}", serde_json::to_string_pretty(&report["result"])?);
            save(json.as_deref(), &report)
        }
        Scenario::Ramp {
            rates,
            step_seconds,
            p99_ms,
            load,
            json,
        } => {
            let report = scenarios::ramp(&config, load, &rates, step_seconds, p99_ms).await?;
            show(&report, json.as_deref())
        }
        Scenario::Burst {
            base_rate,
            factor,
            burst_seconds,
            base_seconds,
            after_seconds,
            load,
            json,
        } => {
            let report = scenarios::burst(
                &config,
                load,
                base_rate,
                factor,
                burst_seconds,
                base_seconds,
                after_seconds,
            )
            .await?;
            show(&report, json.as_deref())
        }
        Scenario::RawProduce {
            records,
            users,
            text_bytes,
            keep,
            json,
        } => {
            let topic = raw::scratch_topic();
            let produced = raw::produce(&config, &topic, records, users, text_bytes).await?;
            let consumed = raw::consume(&config, &topic).await?;
            if !keep {
                raw::delete_topics(&config, std::slice::from_ref(&topic)).await;
            }
            let report =
                json!({"scenario": "raw-produce", "produce": produced, "consume": consumed});
            println!("{}", serde_json::to_string_pretty(&report)?);
            save(json.as_deref(), &report)
        }
        Scenario::RawConsume { topic, json } => {
            let report = raw::consume(&config, &topic).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            save(json.as_deref(), &report)
        }
        Scenario::RawCopy {
            messages,
            users,
            text_bytes,
            batch,
            json,
        } => {
            let report = raw::copy(&config, messages, users, text_bytes, batch).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            save(json.as_deref(), &report)
        }
        Scenario::Suite {
            out,
            quick,
            steady_rate,
            load,
        } => suite(&config, &out, quick, steady_rate, load).await,
    }
}

/// Every scenario in one run, raw limits first: JSON and plots per
/// scenario, then `summary.md` and `summary.json`.
async fn suite(
    config: &Config,
    out: &Path,
    quick: bool,
    steady_rate: u64,
    load: load::Options,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let before = summary::machine();
    // (records for raw runs and rebuild, steady s, ramp step s, burst phases,
    // flat: messages stored and seconds per run)
    let (records, steady_s, step_s, (burst_base_s, burst_s, after_s), (stored, flat_s)) = if quick {
        (20_000, 10, 5, (5, 3, 10), (100_000, 10))
    } else {
        (100_000, 60, 15, (10, 5, 30), (1_000_000, 60))
    };
    let mut load = load;
    if quick {
        load.drain_timeout = load.drain_timeout.min(20);
    }
    let mut reports = serde_json::Map::new();
    let mut keep = |name: &str, report: Value| -> anyhow::Result<()> {
        save(Some(&out.join(format!("{name}.json"))), &report)?;
        reports.insert(name.to_owned(), report);
        Ok(())
    };

    // Each raw limit is the better of two runs: on a freshly started stack
    // the first pays for the broker's JIT warm-up and for WAL segments
    // PostgreSQL creates rather than recycles (session 14: the first COPY
    // 37,687 messages/s, four after it 41,192–47,697).
    let (mut produced, mut consumed, mut copied) = (Value::Null, Value::Null, Value::Null);
    for run in 1..=RAW_RUNS {
        eprintln!(
            "== raw limits ({run}/{RAW_RUNS}): broker produce and consume ({records} records)"
        );
        let topic = raw::scratch_topic();
        let p = raw::produce(config, &topic, records, 10_000, load.text_bytes).await?;
        let c = raw::consume(config, &topic).await?;
        raw::delete_topics(config, std::slice::from_ref(&topic)).await;
        eprintln!(
            "   produce {:.0} records/s, consume {:.0} records/s",
            p["records_per_s"].as_f64().unwrap_or(0.0),
            c["records_per_s"].as_f64().unwrap_or(0.0)
        );
        produced = better(produced, p, "records_per_s");
        consumed = better(consumed, c, "records_per_s");

        eprintln!("== raw limit ({run}/{RAW_RUNS}): PostgreSQL binary COPY ({records} messages)");
        let m = raw::copy(config, records, 10_000, load.text_bytes, 5_000).await?;
        eprintln!(
            "   {:.0} messages/s ({:.0} rows/s)",
            m["messages_per_s"].as_f64().unwrap_or(0.0),
            m["rows_per_s"].as_f64().unwrap_or(0.0)
        );
        copied = better(copied, m, "messages_per_s");
    }
    keep("raw_produce", produced)?;
    keep("raw_consume", consumed)?;
    keep("raw_copy", copied)?;

    eprintln!("== rebuild ({records} events)");
    let rebuilt =
        projection::projection(config.clone(), records, 10_000, load.text_bytes, None).await?;
    keep("rebuild", rebuilt)?;

    eprintln!("== ramp");
    let rates: Vec<u64> = RAMP_RATES
        .split(',')
        .map(|r| r.parse().expect("rates"))
        .collect();
    let ramp = scenarios::ramp(config, load.clone(), &rates, step_s, 100.0).await?;
    let best = ramp["result"]["max_sustainable_rate"].as_u64().unwrap_or(0);
    keep("ramp", ramp)?;

    // The burst starts from a quarter of the sustainable rate, so its 10×
    // is well past what the box sustains on any machine.
    let base_rate = (best / 4 / 50 * 50).max(100);
    eprintln!("== burst: {base_rate}/s, 10× for {burst_s} s");
    let burst = scenarios::burst(
        config,
        load.clone(),
        base_rate,
        10,
        burst_s,
        burst_base_s,
        after_s,
    )
    .await?;
    keep("burst", burst)?;

    // Issue #17's reference run: its goals for latency, lag and CPU per
    // message per process are stated at 1,000 msg/s for a minute.
    eprintln!("== target: {TARGET_RATE}/s for {steady_s} s");
    let target = scenarios::steady(config, load.clone(), TARGET_RATE, steady_s).await?;
    keep("target", target)?;

    // The same run with offline push on: every user has a token, so the push
    // worker checks each message's recipient and notifies the offline ones
    // through a fake vendor, as a deployment with push does.
    eprintln!("== target with offline push: {TARGET_RATE}/s for {steady_s} s");
    let with_push = load::Options {
        offline_push: true,
        ..load.clone()
    };
    let target_push = scenarios::steady(config, with_push, TARGET_RATE, steady_s).await?;
    keep("target_push", target_push)?;

    eprintln!("== steady: {steady_rate}/s for {steady_s} s");
    let steady = scenarios::steady(config, load.clone(), steady_rate, steady_s).await?;
    keep("steady", steady)?;

    // The reference rate (400/s), or the sustainable rate if lower.
    let flat_rate = best.clamp(100, 400);
    eprintln!(
        "== flat: {flat_rate}/s for {flat_s} s: empty, with {stored} messages stored, empty again"
    );
    let flat = scenarios::flat(config, load, flat_rate, flat_s, stored, 10_000).await?;
    keep("flat", flat)?;

    let after = summary::machine();
    let reports = Value::Object(reports);
    let md = summary::markdown(&reports, &before, &after);
    std::fs::write(out.join("summary.md"), &md)?;
    // The per-scenario JSON files hold the time series; this one the figures.
    let figures: serde_json::Map<String, Value> = reports
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("timeline");
            }
            (k.clone(), v)
        })
        .collect();
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&json!({"machine_before": before, "machine_after": after,
                                             "reports": figures}))?
            + "\n",
    )?;
    println!("{md}");
    eprintln!("results in {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_raw_limit_is_its_fastest_run_and_lists_every_run() {
        let first = super::better(
            json!(null),
            json!({"records_per_s": 150.0, "n": 1}),
            "records_per_s",
        );
        let kept = super::better(
            first,
            json!({"records_per_s": 250.0, "n": 2}),
            "records_per_s",
        );
        assert_eq!(kept["n"], 2);
        assert_eq!(kept["runs_per_s"], json!([150.0, 250.0]));
        let kept = super::better(
            kept,
            json!({"records_per_s": 200.0, "n": 3}),
            "records_per_s",
        );
        assert_eq!(kept["n"], 2, "a slower run does not replace the limit");
        assert_eq!(kept["runs_per_s"], json!([150.0, 250.0, 200.0]));
    }
}
