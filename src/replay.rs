//! `missive replay`: rebuilds every view from offset 0 of the log into a new
//! database, with a progress display, and can compare the result with the
//! live views table by table.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use missive_core::progress::Progress;
use missive_core::{db, views, Config};
use missive_projector::ReplayProgress;

pub struct ReplayArgs {
    /// Name of the database to create and fill, on the configured server.
    pub into: String,
    pub batch: usize,
    pub compare: bool,
}

pub async fn replay(
    config: Arc<Config>,
    args: ReplayArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    db::create_database(&config.database_url, &args.into)
        .await
        .with_context(|| format!("create database {:?} (it must not exist yet)", args.into))?;
    let target_url = db::with_database(&config.database_url, &args.into)?;
    db::migrate(&target_url)
        .await
        .context("migrate the new database")?;
    let mut target = (*config).clone();
    target.database_url = target_url.clone();
    target.projector.batch_max = args.batch.max(1);
    // Offsets come from the new database (all zero), never from the live group.
    target.projector.group_id = format!(
        "{}.replay.{}",
        config.projector.group_id,
        uuid::Uuid::new_v4().simple()
    );

    let progress = Arc::new(ReplayProgress::default());
    // The shared display (the one `missive export` uses), fed from the
    // replay's counters once it knows how many events the log holds.
    let done = CancellationToken::new();
    let ticker = {
        let (progress, done) = (progress.clone(), done.clone());
        tokio::spawn(async move {
            let mut display: Option<Progress> = None;
            let mut shown = (0, 0);
            while !done.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let total = progress.total.load(Ordering::Relaxed);
                if total == 0 && display.is_none() {
                    continue;
                }
                let display = display.get_or_insert_with(|| Progress::new("events", total));
                let (events, bytes) = progress.done();
                display.advance(events - shown.0, bytes - shown.1);
                shown = (events, bytes);
            }
            if let Some(d) = display {
                d.finish();
            }
        })
    };
    let started = std::time::Instant::now();
    let result = missive_projector::replay(Arc::new(target), progress.clone(), shutdown).await;
    done.cancel();
    let _ = ticker.await;
    if let Err(missive_projector::ProjectorError::Stopped) = result {
        anyhow::bail!(
            "replay stopped before the end of the log: {:?} holds a partial rebuild; drop it and replay again",
            args.into
        );
    }
    result.context("replay")?;
    let (events, bytes) = progress.done();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "replayed {events} events ({:.1} MB) into {:?} in {secs:.1} s: {:.0} events/s",
        bytes as f64 / 1e6,
        args.into,
        events as f64 / secs.max(1e-3)
    );

    if args.compare {
        let kept = config.views.recent_contacts_max;
        let live = views::digest(&db::connect(&config.database_url).await?, kept).await?;
        let rebuilt = views::digest(&db::connect(&target_url).await?, kept).await?;
        let mut differ = 0;
        for (table, l) in &live {
            let r = &rebuilt[table];
            let same = l == r;
            differ += usize::from(!same);
            println!(
                "{table:<18} live {:>10} rows  rebuilt {:>10} rows  {}",
                l.rows,
                r.rows,
                if same { "same" } else { "DIFFERENT" }
            );
        }
        anyhow::ensure!(
            differ == 0,
            "{differ} views differ (writes during the replay also make them differ)"
        );
    }
    Ok(())
}
