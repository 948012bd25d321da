//! missive's public event contract.
//!
//! `avro/*.avsc` are the contract analytics teams read the log with; this
//! crate mirrors them as Rust types and encodes them with Avro single-object
//! encoding. See `docs/schemas.md`.

mod avro_value;
pub mod codec;
pub mod commands;
pub mod compat;
pub mod events;
pub mod framing;
pub mod preflight;
pub mod resolve;
pub mod samples;

pub use codec::{EventCodec, CURRENT_VERSION, RELEASED_SCHEMAS};
pub use events::*;

/// Why a record could not be decoded. Consumers send such records to a
/// dead-letter topic with this text; they never stop on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("bad single-object header: {0}")]
    Header(String),
    #[error("record written with an unknown schema: fingerprint {fingerprint} is none of the released versions ({known})")]
    UnknownSchema { fingerprint: String, known: String },
    #[error("record written with an unknown schema: Schema Registry id {id} is none of the released versions' ids ({known})")]
    UnknownSchemaId { id: u32, known: String },
    #[error("Avro body does not decode: {0}")]
    Avro(String),
    #[error("record does not resolve onto the current schema: {0}")]
    Resolution(String),
    #[error("{0} bytes left over after the record")]
    TrailingBytes(usize),
    #[error("record does not match the event model: {0}")]
    Shape(String),
}
