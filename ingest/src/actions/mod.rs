//! The actions floor: everything a user or the administrator can do, with
//! typed inputs (ids already [`UserId`]s, bodies already elements) and typed
//! results. The adapters above (REST, commands topic, WebSocket devices)
//! parse their wire format on the Tencent floor (`tencent/`) and call these; the
//! actions append through [`missive_log`] below. Nothing here knows JSON
//! field names or reply text.
//!
//! - [`send`]: one-to-one, batch and imported messages; the account rules
//!   of a send (`account_rules`) and the app server's before-send callback
//!   (`before_send`) are consulted there, on the views as the send's probe
//!   (`send_probes`, shared by the sends arriving together) read them.
//! - [`messages`]: recall, edit, read of messages already sent.
//! - [`conversations`]: deleting a conversation (and its history), pinning
//!   and marking it, for one user.
//! - [`relationships`]: friends and blocklists, item by item.
//! - [`accounts`]: account imports, profiles and the lifecycle (delete,
//!   kick, one-to-one mute).
//! - [`push_tokens`]: offline-push device tokens.
//! - [`changes`]: how a change is acknowledged only once the views hold it.

mod account_rules;
pub mod accounts;
mod before_send;
pub mod changes;
pub mod conversations;
pub mod messages;
pub mod push_tokens;
pub mod relationships;
pub mod send;
pub mod send_probes;
pub mod sessions;

use std::sync::Arc;

use deadpool_postgres::Pool;

use missive_core::{Config, ErrorCode, UserId};
pub use missive_log::Actor;

use changes::ChangePipeline;
use send::SendPipeline;

/// What became of one requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Appended (and, for changes, in the views).
    Done,
    /// Already as asked: nothing was appended. A retried command counts
    /// this as success.
    AlreadyDone,
    /// Refused for this item, with the Tencent code and the reason.
    Refused(ErrorCode, String),
}

/// The actions, with what they need: the views (pool), the send pipeline
/// and the change pipeline, both appending through one [`missive_log::EventAppender`].
#[derive(Clone)]
pub struct Actions {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub sends: SendPipeline,
    pub changes: ChangePipeline,
}

impl Actions {
    pub fn new(config: Arc<Config>, pool: Pool, appender: missive_log::EventAppender) -> Self {
        Self {
            sends: SendPipeline::new(config.clone(), pool.clone(), appender.clone()),
            changes: ChangePipeline::new(config.clone(), pool.clone(), appender),
            config,
            pool,
        }
    }

    /// Whether the broker is reachable, as the events producer sees it.
    pub fn link_health(&self) -> missive_core::kafka::LinkHealth {
        self.sends.appender().link_health()
    }

    /// The administrator acting through `channel`: every REST call and every
    /// command from the commands topic.
    pub fn admin(&self, channel: missive_schemas::Channel) -> Actor {
        Actor {
            channel,
            identifier: self.config.admin_identifier.clone(),
            admin: true,
        }
    }
}

/// `user` acting for themselves through `channel` (a device, a command
/// checked as the user's own send).
pub fn user_actor(channel: missive_schemas::Channel, user: &UserId) -> Actor {
    Actor {
        channel,
        identifier: user.to_string(),
        admin: false,
    }
}
