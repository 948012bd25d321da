//! Avro single-object encoding of events: `C3 01`, the schema's 8-byte
//! little-endian CRC-64-AVRO (Rabin) fingerprint, then the binary body.
//!
//! A reader holding only the `.avsc` files can decode any record: the
//! fingerprint names the writer's schema, and Avro schema resolution maps it
//! onto the reader's.

use std::sync::OnceLock;

use apache_avro::rabin::Rabin;
use apache_avro::{from_avro_datum, to_avro_datum, Schema};

use crate::events::Envelope;
use crate::DecodeError;

/// The current event schema, as published in `schemas/avro/events.avsc`.
pub const EVENTS_SCHEMA_JSON: &str = include_str!("../avro/events.avsc");

/// The two marker bytes that open every single-object encoded record.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// Decoding bounds: no record is allowed to make the decoder allocate more than this.
const MAX_ALLOCATION_BYTES: usize = 8 * 1024 * 1024;

/// Encodes and decodes event envelopes.
pub struct EventCodec {
    schema: Schema,
    fingerprint: [u8; 8],
}

impl EventCodec {
    /// The process-wide codec for the current schema.
    pub fn get() -> &'static EventCodec {
        static CODEC: OnceLock<EventCodec> = OnceLock::new();
        CODEC.get_or_init(|| {
            // Bounds allocations driven by length prefixes in hostile input.
            apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
            let schema =
                Schema::parse_str(EVENTS_SCHEMA_JSON).expect("events.avsc is a valid Avro schema");
            let fingerprint = fingerprint_of(&schema);
            EventCodec {
                schema,
                fingerprint,
            }
        })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The Rabin fingerprint of the current schema, as it appears in record headers.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }

    pub fn encode(&self, envelope: &Envelope) -> Vec<u8> {
        let body = to_avro_datum(&self.schema, envelope.to_value())
            .expect("an Envelope always matches the schema it was written for");
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<Envelope, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Header(format!(
                "record is {} bytes, shorter than the 10-byte single-object header",
                bytes.len()
            )));
        }
        if bytes[..2] != SINGLE_OBJECT_MAGIC {
            return Err(DecodeError::Header(format!(
                "record starts with {:02X} {:02X}, not the single-object marker C3 01",
                bytes[0], bytes[1]
            )));
        }
        let fingerprint: [u8; 8] = bytes[2..HEADER_LEN].try_into().expect("8 bytes");
        if fingerprint != self.fingerprint {
            return Err(DecodeError::UnknownSchema(hex_lower(&fingerprint)));
        }
        let mut body = &bytes[HEADER_LEN..];
        let value = from_avro_datum(&self.schema, &mut body, None)
            .map_err(|e| DecodeError::Avro(e.to_string()))?;
        if !body.is_empty() {
            return Err(DecodeError::TrailingBytes(body.len()));
        }
        Envelope::from_value(value)
    }
}

/// The 8 bytes a single-object header carries for `schema`.
pub fn fingerprint_of(schema: &Schema) -> [u8; 8] {
    let fp = schema.fingerprint::<Rabin>();
    fp.bytes
        .as_slice()
        .try_into()
        .expect("a Rabin fingerprint is 8 bytes")
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
