//! A WebSocket session opening or closing, recorded on the log as a
//! `SessionChanged` event (schema v6) for Tencent's `State.StateChange`
//! callback. delivery holds the sessions and reports them here.
//!
//! Best effort, never in a login's way: the append obeys the appender's
//! backpressure rules like any other (refused at once with 91000 while the
//! broker is unreachable or `ingest.max_pending_appends` appends wait), and
//! the caller logs a refusal and goes on; the session is not refused or
//! held for it (docs/callbacks.md).

use missive_core::{ApiError, UserId};
use missive_schemas::{Event, SessionAction, SessionChanged};

use super::{Actions, Actor};

/// One session's change, as delivery saw it.
#[derive(Debug, Clone)]
pub struct SessionChange {
    pub device: String,
    pub platform: String,
    pub action: SessionAction,
    pub reason: String,
    pub client_ip: Option<String>,
}

impl Actions {
    /// Appends `user`'s session change; returns once the broker has it.
    pub async fn record_session(
        &self,
        actor: &Actor,
        user: &UserId,
        change: SessionChange,
    ) -> Result<(), ApiError> {
        let event = Event::SessionChanged(SessionChanged {
            user_id: user.as_str().to_owned(),
            device: change.device,
            platform: change.platform,
            action: change.action,
            reason: change.reason,
            client_ip: change.client_ip,
        });
        self.sends.appender().append_event(actor, event).await?;
        Ok(())
    }
}
