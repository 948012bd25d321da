//! Account, profile and relationship changes: appended to the log, then
//! acknowledged only once the projector has applied them, so a send that
//! follows a block always sees the block.
//!
//! "Applied" is read from the projector's own offsets in PostgreSQL: the
//! change is in the views once the stored offset of its partition is past
//! the offset the broker gave it.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use uuid::Uuid;

use missive_core::{time, ApiError, Config, ErrorCode};
use missive_schemas::{Envelope, Event, Origin};

use crate::appender::{Appended, EventAppender};
use crate::send::Actor;

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

    /// Appends `events` in order and waits until the views include all of them.
    pub async fn apply(&self, actor: &Actor, events: Vec<Event>) -> Result<(), ApiError> {
        let mut appended = Vec::with_capacity(events.len());
        for event in events {
            let envelope = Envelope {
                event_id: Uuid::now_v7(),
                occurred_at: time::now_millis(),
                origin: Origin {
                    channel: actor.channel,
                    actor: actor.identifier.clone(),
                    admin: actor.admin,
                    instance: self.config.instance_id.clone(),
                },
                event,
            };
            appended.push(self.appender.append(&envelope).await?);
        }
        for a in appended {
            self.wait_projected(a).await?;
        }
        Ok(())
    }

    async fn wait_projected(&self, at: Appended) -> Result<(), ApiError> {
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
            let client = self
                .pool
                .get()
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let stmt = client
                .prepare_cached(
                    "SELECT next_offset FROM projector_offsets WHERE topic = $1 AND partition = $2",
                )
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let next: Option<i64> = client
                .query_opt(&stmt, &[&topic, &at.partition])
                .await
                .map_err(|e| unavailable(e.to_string()))?
                .map(|r| r.get(0));
            drop(client);
            if next.is_some_and(|n| n > at.offset) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(unavailable(format!(
                    "projector has not reached partition {} offset {}",
                    at.partition, at.offset
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }
}
