//! Plumbing shared by every missive service: configuration, UserSig
//! verification, the error map, PostgreSQL, Kafka, telemetry and shutdown.

pub mod api_error;
pub mod config;
pub mod db;
pub mod kafka;
pub mod limits;
pub mod live;
pub mod msgbody;
pub mod net;
pub mod progress;
pub mod ratelimit;
pub mod registry;
pub mod shutdown;
pub mod storable;
pub mod telemetry;
pub mod time;
pub mod user_id;
pub mod usersig;
pub mod usersig_cache;
pub mod views;

pub use api_error::{ApiError, ErrorCode};
pub use config::Config;
pub use user_id::UserId;
