//! Retention: removes history older than the configured retention and
//! offline entries past their lifetime, a bounded batch at a time so it never
//! holds long locks. Sequence counters are never touched, so a conversation
//! keeps counting from where it was.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

use missive_core::{time, Config};

/// Rows deleted per statement.
const CHUNK: i64 = 5_000;
/// Expired offline entries are kept this long after their lifetime, so a
/// session that is reading its live push (served regardless of lifetime)
/// never loses an entry under it.
const INBOX_GRACE_MS: i64 = 10 * 60 * 1000;

/// Rows one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub messages: u64,
    pub inbox: u64,
}

/// One pass: deletes everything expired at `now_ms`, chunk by chunk.
pub async fn sweep(
    pool: &Pool,
    config: &Config,
    now_ms: i64,
) -> Result<Swept, Box<dyn std::error::Error + Send + Sync>> {
    let client = pool.get().await?;
    let mut swept = Swept::default();
    if config.views.retention_days > 0 {
        let cutoff = now_ms - i64::from(config.views.retention_days) * 86_400_000;
        let stmt = client
            .prepare_cached(include_str!("sql/expire_messages.sql"))
            .await?;
        loop {
            let n = client.execute(&stmt, &[&cutoff, &CHUNK]).await?;
            swept.messages += n;
            if (n as i64) < CHUNK {
                break;
            }
        }
    }
    let stmt = client
        .prepare_cached(include_str!("sql/expire_inbox.sql"))
        .await?;
    loop {
        let n = client
            .execute(&stmt, &[&(now_ms - INBOX_GRACE_MS), &CHUNK])
            .await?;
        swept.inbox += n;
        if (n as i64) < CHUNK {
            break;
        }
    }
    metrics::counter!("missive_janitor_messages_deleted_total").increment(swept.messages);
    metrics::counter!("missive_janitor_inbox_deleted_total").increment(swept.inbox);
    Ok(swept)
}

/// Sweeps every `janitor_interval_secs` until `stop`.
pub async fn run(pool: Pool, config: std::sync::Arc<Config>, stop: CancellationToken) {
    let every = Duration::from_secs(config.views.janitor_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match sweep(&pool, &config, time::now_millis()).await {
            Ok(s) if s != Swept::default() => {
                tracing::info!(messages = s.messages, inbox = s.inbox, "retention sweep")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; will retry"),
        }
    }
}
