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
    /// Migrations, then ingest, projector and delivery in one process.
    Dev,
    /// Applies the database migrations.
    Migrate,
    /// Rebuilds every view from offset 0 of the log into a new database.
    Replay {
        /// Database to create on the configured server and fill.
        #[arg(long)]
        into: String,
        /// Events per transaction.
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        /// Afterwards, compare every view with the configured (live) database.
        #[arg(long)]
        compare: bool,
    },
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
    telemetry::init_tracing();
    let _ = telemetry::metrics_handle();
    let shutdown = missive_core::shutdown::on_signal();
    match cli.command {
        Command::Ingest => missive_ingest::run(config, shutdown).await?,
        Command::Projector => missive_projector::run(config, shutdown).await?,
        Command::Delivery => missive_delivery::run(config, shutdown).await?,
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
        Command::Token { .. } => unreachable!("handled above"),
    }
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
    let ingest = missive_ingest::Ingest::bind(config.clone()).await?;
    let projector = missive_projector::Projector::bind(config.clone()).await?;
    let delivery = missive_delivery::Delivery::bind(config.clone()).await?;
    tracing::info!(
        rest = %ingest.local_addr(),
        websocket = %delivery.local_addr(),
        projector = %projector.local_addr(),
        "missive dev is up"
    );
    let (a, b, c) = tokio::join!(
        stop_all_on_error(ingest.run(shutdown.clone()), &shutdown),
        stop_all_on_error(projector.run(shutdown.clone()), &shutdown),
        stop_all_on_error(delivery.run(shutdown.clone()), &shutdown),
    );
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
