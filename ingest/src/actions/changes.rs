//! Account, profile and relationship changes: appended to the log, then
//! acknowledged only once the projector has applied them, so a send that
//! follows a block always sees the block.
//!
//! "Applied" is read from the projector's own offsets in PostgreSQL: the
//! change is in the views once the stored offset of its partition is past
//! the offset the broker gave it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;

use missive_core::{views, ApiError, Config, ErrorCode};
use missive_schemas::Event;

use missive_log::{Actor, EventAppender};

#[derive(Clone)]
pub struct ChangePipeline {
    config: Arc<Config>,
    pool: Pool,
    appender: EventAppender,
}

impl ChangePipeline {
    pub fn new(config: Arc<Config>, pool: Pool, appender: EventAppender) -> Self {
        Self {
            config,
            pool,
            appender,
        }
    }

    /// Appends `events` and waits until the views include all of them.
    pub async fn apply(&self, actor: &Actor, events: Vec<Event>) -> Result<(), ApiError> {
        if events.is_empty() {
            return Ok(());
        }
        // All in flight at once: the producer enqueues them in this order and
        // keeps it per partition, so a batch costs one round trip, not one each.
        let appended = futures::future::try_join_all(
            events
                .into_iter()
                .map(|event| self.appender.append_event(actor, event)),
        )
        .await?;
        // Only the last offset of each partition needs to be waited for.
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for a in appended {
            let o = last.entry(a.partition).or_insert(a.offset);
            *o = (*o).max(a.offset);
        }
        self.wait_projected(&last).await
    }

    /// Polls the projector's offsets (one query per poll) until every
    /// partition in `last` is past its offset. The pooled connection is held
    /// for each query only, never while waiting: a projector that lags must
    /// not leave every other request without a connection.
    async fn wait_projected(&self, last: &BTreeMap<i32, i64>) -> Result<(), ApiError> {
        let topic = self.config.events_topic();
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(self.config.ingest.projection_timeout_ms);
        let mut pause = Duration::from_millis(2);
        let unavailable = |why: String| {
            tracing::warn!(%why, "change not acknowledged");
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the change is on the log but not yet applied to the views; retry (changes are idempotent)",
            )
        };
        loop {
            let stored = {
                let client = self
                    .pool
                    .get()
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                views::projected_offsets(&client, &topic)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?
            };
            if last
                .iter()
                .all(|(p, o)| stored.get(p).is_some_and(|next| next > o))
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(unavailable(format!(
                    "projector has not reached {last:?}; it holds {stored:?}"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }
}
