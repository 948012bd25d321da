//! The bottom floor of the write side, shared by every service that writes
//! to Kafka (ingest, delivery's push worker, the projector's dead letters):
//!
//! - [`EventAppender`]: the one way an event reaches the log. It is built by
//!   [`EventAppender::connect`], which resolves the framing (single-object, or
//!   the Confluent wire format through the Schema Registry) from the
//!   configuration, so no producer can write the other framing by mistake.
//! - [`msg_key`]: the MsgKey rule (docs/idempotency.md).
//! - [`dead_letter`]: a record refused by a consumer, copied to its
//!   dead-letter topic with the reason in headers.
//!
//! Nothing here decides anything: the decisions are ingest's actions.

pub mod appender;
pub mod dead_letter;
pub mod msg_key;

pub use appender::{storable_event, Actor, AppendSetupError, Appended, EventAppender};
pub use dead_letter::DeadLetter;
