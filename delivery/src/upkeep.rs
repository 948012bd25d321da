//! Every session's periodic upkeep, done for the whole instance in two
//! statements at a time instead of two per session: each `period / 15` one
//! fifteenth of the sessions gets its presence heartbeat (one UPDATE over
//! arrays) and has its inbox checked against the newest cursor (one SELECT
//! over arrays); a session found behind is woken and reads.
//!
//! The check is the safety net for a lost wake-up (the projector's
//! notification after its commit is best effort). Done per session, the two
//! statements every 15 s cost PostgreSQL about a tenth of a core for 1,600
//! idle sessions, whatever the message rate (docs/benchmarks.md, step 22).
//! Sessions are sliced by registration order, so a crowd that logged in
//! together is spread over the period rather than checked in one burst.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Slice};
use missive_core::time;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Keeps this instance's sessions up until `shutdown`: each is refreshed
/// and checked once per `period`.
pub async fn run(
    hub: Arc<Hub>,
    pool: Pool,
    instance_id: String,
    period: Duration,
    shutdown: CancellationToken,
) {
    // One slice of the hub's sessions is kept up every `period / slices`.
    let slices = hub.slices();
    let mut tick = tokio::time::interval((period / slices as u32).max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let slice = hub.slice(n % slices);
        if slice.devices.is_empty() {
            continue;
        }
        if let Err(e) = keep_up(&hub, &pool, &instance_id, &slice).await {
            // The next period tries again; a session's row outlives a few
            // missed heartbeats (PRESENCE_TTL_MS).
            tracing::warn!(error = %e, sessions = slice.devices.len(), "session upkeep failed");
        }
    }
}

async fn keep_up(hub: &Hub, pool: &Pool, instance_id: &str, slice: &Slice) -> Result<(), Error> {
    let client = pool.get().await?;
    let beat = client
        .prepare_cached(include_str!("sql/presence_beat.sql"))
        .await?;
    let newest = client
        .prepare_cached(include_str!("sql/last_cursors.sql"))
        .await?;
    let users: Vec<&str> = slice.devices.iter().map(|d| d.0.as_str()).collect();
    let devices: Vec<&str> = slice.devices.iter().map(|d| d.1.as_str()).collect();
    let now = time::now_millis();
    let beat_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&users, &devices, &instance_id, &now];
    let slice_users = slice.users();
    let newest_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&slice_users];
    let (refreshed, cursors) = futures::try_join!(
        client.query(&beat, &beat_params),
        client.query(&newest, &newest_params),
    )?;
    for row in &cursors {
        hub.wake(row.get(0), Some(row.get(1)));
    }
    let refreshed: HashSet<(&str, &str)> = refreshed.iter().map(|r| (r.get(0), r.get(1))).collect();
    // A row missing (the login could not write it, or another instance's
    // session of the device ended) is written again while the session is
    // still here; a row naming another instance, where the device logged
    // in since, is left to it.
    let restore = client
        .prepare_cached(include_str!("sql/presence_restore.sql"))
        .await?;
    for (user, device, platform) in &slice.devices {
        if !refreshed.contains(&(user.as_str(), device.as_str())) && hub.has_device(user, device) {
            client
                .execute(&restore, &[user, device, &instance_id, platform, &now])
                .await?;
        }
    }
    metrics::counter!("missive_delivery_upkept_sessions_total")
        .increment(slice.devices.len() as u64);
    Ok(())
}
