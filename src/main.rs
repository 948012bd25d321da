//! The `missive` binary: one subcommand per service, an all-in-one `dev`
//! mode, migrations and operator tools.

mod replay;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use missive_core::usersig::UserSigVerifier;
use missive_core::{telemetry, time, Config};

#[derive(Parser)]
#[command(
    name = "missive",
    version,
    about = "One-to-one messaging on an append-only Kafka log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The write side: the Tencent-compatible REST API.
    Ingest,
    /// Consumes the log and maintains the PostgreSQL views.
    Projector,
    /// WebSocket sessions: sync and live push.
    Delivery,
    /// The after-callbacks worker: calls the app server back for what the
    /// log records (docs/callbacks.md).
    Callbacks,
    /// Migrations, then ingest, projector, delivery and (when switched on)
    /// the callbacks worker in one process.
    Dev,
    /// Applies the database migrations.
    Migrate,
    /// Rebuilds every view from offset 0 of the log into a new database.
    Replay {
        /// Database to create on the configured server and fill.
        #[arg(long)]
        into: String,
        /// Events per transaction.
        #[arg(long, default_value_t = missive_projector::REPLAY_BATCH)]
        batch: usize,
        /// Afterwards, compare every view with the configured (live) database.
        #[arg(long)]
        compare: bool,
    },
    /// Writes the events log (or a slice) as Avro object container files or
    /// JSON lines into a directory; run again to resume an interrupted export.
    Export(ExportArgs),
    /// Prints a UserSig for a user (or the administrator), signed with the configured key.
    Token {
        /// The user id; defaults to the administrator.
        #[arg(long)]
        user: Option<String>,
        /// Validity in seconds.
        #[arg(long, default_value_t = 86_400)]
        expire: u64,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    /// Start: an RFC 3339 time (inclusive), an offset for every partition, or
    /// `partition:offset` pairs (`0:1200,3:88`). Default: the log's start.
    #[arg(long)]
    from: Option<missive_tools::export::Bound>,
    /// End, exclusive, in the same forms. Default: the log's end when the export starts.
    #[arg(long)]
    to: Option<missive_tools::export::Bound>,
    /// `avro` (object container files, the current events schema) or `jsonl`.
    #[arg(long, default_value = "avro")]
    format: missive_tools::export::Format,
    /// Avro block compression: `null` or `deflate`.
    #[arg(long, default_value = "deflate")]
    codec: missive_tools::export::AvroCodec,
    /// The output directory: new or empty, or an interrupted export's to resume it.
    #[arg(long)]
    out: std::path::PathBuf,
    /// Only these event kinds (repeatable), e.g. `--kind MessageSent`.
    #[arg(long = "kind")]
    kinds: Vec<String>,
    /// Only events about these users (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
    /// Only events between two users, as `alice:bob` (sorted; repeatable).
    #[arg(long = "conversation")]
    conversations: Vec<String>,
    /// Records scanned per file (and between checkpoints).
    #[arg(long, default_value_t = 250_000)]
    part_events: u64,
}

// glibc's malloc and free were 11% of the services' CPU under load (issue
// #17's profile at 800 msg/s); mimalloc's per-thread heaps cost a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Arc::new(Config::load().context("configuration")?);
    if let Command::Token { user, expire } = &cli.command {
        let verifier = UserSigVerifier::new(config.sdkappid, config.secret_key.clone());
        let user = user.as_deref().unwrap_or(&config.admin_identifier);
        println!("{}", verifier.generate(user, *expire, time::now_secs()));
        return Ok(());
    }
    if let Command::Export(args) = cli.command {
        return export(config, args).await;
    }
    telemetry::init_tracing();
    let _ = telemetry::metrics_handle();
    let shutdown = missive_core::shutdown::on_signal();
    if matches!(cli.command, Command::Ingest | Command::Delivery) {
        // Outside `missive dev`, a service that verifies UserSigs must not
        // accept the ones anybody can sign with the published key.
        config
            .check_not_development()
            .context("refusing to start")?;
    }
    match cli.command {
        Command::Ingest => missive_ingest::run(config, shutdown).await?,
        Command::Projector => missive_projector::run(config, shutdown).await?,
        Command::Delivery => missive_delivery::run(config, shutdown).await?,
        Command::Callbacks => match missive_callbacks::CallbackWorker::new(config).await? {
            Some(worker) => worker.run(shutdown).await,
            None => anyhow::bail!(
                "no after-callback is switched on: set callbacks.url and at least one \
                 callbacks.after_* / friend_* / black_list_* switch (docs/callbacks.md)"
            ),
        },
        Command::Migrate => migrate(&config).await?,
        Command::Dev => dev(config, shutdown).await?,
        Command::Replay {
            into,
            batch,
            compare,
        } => {
            let args = replay::ReplayArgs {
                into,
                batch,
                compare,
            };
            replay::replay(config, args, shutdown).await?
        }
        Command::Token { .. } | Command::Export(_) => unreachable!("handled above"),
    }
    Ok(())
}

/// `missive export`: the work is in `missive_tools::export`; this prints the outcome.
async fn export(config: Arc<Config>, args: ExportArgs) -> anyhow::Result<()> {
    // Warnings (skipped records) only; the progress bar is the rest.
    telemetry::init_tracing_at("warn");
    let opts = missive_tools::export::ExportOptions {
        from: args.from,
        to: args.to,
        format: args.format,
        codec: args.codec,
        out: args.out,
        filter: missive_tools::export::Filter {
            kinds: args.kinds.into_iter().collect(),
            users: args.users.into_iter().collect(),
            conversations: args.conversations.into_iter().collect(),
        },
        part_events: args.part_events,
        // Confluent-framed records need the registry's ids (none without a registry).
        schema_ids: missive_core::registry::events_framing(&config).await?.1,
    };
    let report = tokio::task::spawn_blocking(move || missive_tools::export::export(&config, &opts))
        .await??;
    println!(
        "{}exported {} events into {} files ({} written); scanned {}{}",
        if report.resumed { "resumed; " } else { "" },
        report.exported,
        report.files.len(),
        report.file_bytes,
        report.scanned,
        if report.undecodable > 0 {
            format!("; skipped {} undecodable records", report.undecodable)
        } else {
            String::new()
        }
    );
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let applied = missive_core::db::migrate(&config.database_url)
        .await
        .context("migrations")?;
    if applied.is_empty() {
        tracing::info!("database is up to date");
    }
    for m in applied {
        tracing::info!(migration = %m, "applied");
    }
    Ok(())
}

/// Everything in one process, on the configured ports. If one service fails,
/// the others are shut down too.
async fn dev(config: Arc<Config>, shutdown: CancellationToken) -> anyhow::Result<()> {
    migrate(&config).await?;
    // Development mode serves the browser demo (and its UserSig minting) at /demo.
    let mut config = (*config).clone();
    config.delivery.demo = true;
    let config = Arc::new(config);
    // One events producer for the three services. librdkafka sends a produce
    // request per partition per producer, so a producer each meant up to
    // twice the requests for the same sends (docs/benchmarks.md, step 27).
    let appender = missive_log::EventAppender::connect(&config).await?;
    let ingest = missive_ingest::Ingest::bind_with(config.clone(), appender.clone()).await?;
    let projector =
        missive_projector::Projector::bind_with(config.clone(), appender.clone()).await?;
    let delivery = missive_delivery::Delivery::bind_with(config.clone(), appender).await?;
    // After-callbacks run beside the others when switched on.
    let callbacks = missive_callbacks::CallbackWorker::new(config.clone())
        .await?
        .map(|w| tokio::spawn(w.run(shutdown.clone())));
    tracing::info!(
        rest = %ingest.local_addr(),
        websocket = %delivery.local_addr(),
        projector = %projector.local_addr(),
        demo = %format!("http://{}/demo", delivery.local_addr()),
        "missive dev is up"
    );
    let (a, b, c) = tokio::join!(
        stop_all_on_error(ingest.run(shutdown.clone()), &shutdown),
        stop_all_on_error(projector.run(shutdown.clone()), &shutdown),
        stop_all_on_error(delivery.run(shutdown.clone()), &shutdown),
    );
    if let Some(task) = callbacks {
        let _ = task.await;
    }
    a?;
    b?;
    c?;
    Ok(())
}

async fn stop_all_on_error<E: std::error::Error + Send + Sync + 'static>(
    service: impl std::future::Future<Output = Result<(), E>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let result = service.await;
    if result.is_err() {
        shutdown.cancel();
    }
    Ok(result?)
}
