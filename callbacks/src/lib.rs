//! Third-party callbacks (webhooks) to the app server, in Tencent IM's
//! format (docs/callbacks.md):
//!
//! - [`before_send`]: `C2C.CallbackBeforeSendMsg`, asked synchronously on
//!   the send path, whose verdict ingest records in the `MessageSent` event;
//! - [`worker`]: the after-callbacks (`C2C.CallbackAfterSendMsg`, recalls,
//!   read reports, friend and blocklist changes), driven from the log by
//!   their own consumer group, never on the send path;
//! - [`request`]: the URL, its query fields and the optional signature;
//! - [`bodies`]: the JSON body of each after-callback, built from an event.

pub mod before_send;
pub mod bodies;
pub mod request;
pub mod worker;

pub use before_send::{BeforeSend, Outgoing, Verdict};
pub use request::{sign, CallError, CallbackClient};
pub use worker::{CallbackWorker, WorkerError};
