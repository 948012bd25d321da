//! Avro single-object encoding of events: `C3 01`, the schema's 8-byte
//! little-endian CRC-64-AVRO (Rabin) fingerprint, then the binary body.
//!
//! A reader holding only the `.avsc` files can decode any record: the
//! fingerprint names the writer's schema (one of the released versions under
//! `avro/released/`), and Avro schema resolution maps it onto the reader's.

use std::sync::{Mutex, OnceLock};

use apache_avro::headers::HeaderBuilder;
use apache_avro::rabin::Rabin;
use apache_avro::{GenericSingleObjectReader, GenericSingleObjectWriter, Schema};

use crate::events::Envelope;
use crate::framing::{confluent_header, split, Framing, SchemaIds};
use crate::preflight::Preflight;
use crate::resolve::Resolver;
use crate::DecodeError;

/// The current event schema, as published in `schemas/avro/events.avsc`.
pub const EVENTS_SCHEMA_JSON: &str = include_str!("../avro/events.avsc");

/// The version number of the current schema; `avro/released/events.v{N}.avsc`
/// is a copy of it (a test checks they are the same).
pub const CURRENT_VERSION: u32 = 6;

/// Every released version of the event schema, oldest first. Records written
/// with any of them decode; once a version is here it never changes or leaves
/// (see docs/schemas.md, "Releasing a version").
pub const RELEASED_SCHEMAS: &[(u32, &str)] = &[
    (1, include_str!("../avro/released/events.v1.avsc")),
    (2, include_str!("../avro/released/events.v2.avsc")),
    (3, include_str!("../avro/released/events.v3.avsc")),
    (4, include_str!("../avro/released/events.v4.avsc")),
    (5, include_str!("../avro/released/events.v5.avsc")),
    (6, include_str!("../avro/released/events.v6.avsc")),
];

/// The two marker bytes that open every single-object encoded record.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// Decoding bounds: no record is allowed to make the decoder allocate more than this.
const MAX_ALLOCATION_BYTES: usize = 8 * 1024 * 1024;

/// Decodes Avro bodies written with one schema whose named types were
/// resolved once. `apache_avro::from_avro_datum` resolves the writer schema
/// (a walk that collects every named type into a map) on every call: two
/// thirds of the instructions of a decode (`examples/decode_cost.rs`).
/// apache-avro keeps a resolved schema only in its single-object reader, so
/// this is one with an empty header: the codec reads the header itself.
pub(crate) struct BodyReader(GenericSingleObjectReader);

/// The header a [`BodyReader`] expects before a body: none.
struct NoHeader;

impl HeaderBuilder for NoHeader {
    fn build_header(&self) -> Vec<u8> {
        Vec::new()
    }
}

impl BodyReader {
    pub(crate) fn new(schema: &Schema) -> Self {
        Self(
            GenericSingleObjectReader::new_with_header_builder(schema.clone(), NoHeader)
                .expect("the codec's schemas resolve their named types"),
        )
    }

    /// Decodes one value from the front of `rest`, advancing it.
    pub(crate) fn read(&self, rest: &mut &[u8]) -> Result<apache_avro::types::Value, DecodeError> {
        self.0
            .read_value(rest)
            .map_err(|e| DecodeError::Avro(e.to_string()))
    }
}

/// Encodes and decodes event envelopes.
pub struct EventCodec {
    schema: &'static Schema,
    /// Writes with the schema resolved once (`to_avro_datum` resolved it
    /// for every record: 7% of a send's CPU). Its header is ours.
    writer: Mutex<GenericSingleObjectWriter>,
    reader: BodyReader,
    preflight: Preflight<'static>,
    fingerprint: [u8; 8],
    /// The current schema's apache-avro fingerprint (see [`legacy_fingerprint_of`]).
    legacy_fingerprint: [u8; 8],
    /// The released versions other than the current one, each with its
    /// resolver onto the current schema, built once.
    older: Vec<(
        &'static ReleasedSchema,
        Resolver<'static>,
        Preflight<'static>,
        BodyReader,
    )>,
}

/// A released version of the event schema.
pub struct ReleasedSchema {
    pub version: u32,
    /// CRC-64-AVRO of the specification's canonical form: what records carry.
    pub fingerprint: [u8; 8],
    /// What apache-avro 0.21 computes, which v1 records carry (see [`legacy_fingerprint_of`]).
    pub legacy_fingerprint: [u8; 8],
    pub schema: Schema,
}

impl ReleasedSchema {
    /// Whether a record header names this version.
    pub fn is_named_by(&self, fingerprint: &[u8; 8]) -> bool {
        self.fingerprint == *fingerprint || self.legacy_fingerprint == *fingerprint
    }
}

/// Every released version, parsed, oldest first.
pub fn released_schemas() -> Vec<ReleasedSchema> {
    RELEASED_SCHEMAS
        .iter()
        .map(|(version, json)| {
            let schema = Schema::parse_str(json).expect("a released schema is valid Avro");
            ReleasedSchema {
                version: *version,
                fingerprint: fingerprint_of(&schema),
                legacy_fingerprint: legacy_fingerprint_of(&schema),
                schema,
            }
        })
        .collect()
}

/// `C3 01` and the current schema's fingerprint, for the writer.
struct SingleObjectHeader([u8; 8]);

impl HeaderBuilder for SingleObjectHeader {
    fn build_header(&self) -> Vec<u8> {
        let mut header = SINGLE_OBJECT_MAGIC.to_vec();
        header.extend_from_slice(&self.0);
        header
    }
}

impl EventCodec {
    /// The process-wide codec for the current schema.
    pub fn get() -> &'static EventCodec {
        static CODEC: OnceLock<EventCodec> = OnceLock::new();
        CODEC.get_or_init(|| {
            // Bounds allocations driven by length prefixes in hostile input.
            apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
            // Leaked once per process: the resolvers borrow the schemas for the codec's lifetime.
            let schema: &'static Schema = Box::leak(Box::new(
                Schema::parse_str(EVENTS_SCHEMA_JSON).expect("events.avsc is a valid Avro schema"),
            ));
            let fingerprint = fingerprint_of(schema);
            let legacy_fingerprint = legacy_fingerprint_of(schema);
            let older = released_schemas()
                .into_iter()
                .filter(|r| r.fingerprint != fingerprint)
                .map(|r| {
                    let r: &'static ReleasedSchema = Box::leak(Box::new(r));
                    let resolver = Resolver::new(&r.schema, schema)
                        .expect("released schemas resolve their named types");
                    (
                        r,
                        resolver,
                        Preflight::new(&r.schema),
                        BodyReader::new(&r.schema),
                    )
                })
                .collect();
            let writer = GenericSingleObjectWriter::new_with_capacity_and_header_builder(
                schema,
                512,
                SingleObjectHeader(fingerprint),
            )
            .expect("events.avsc resolves its named types");
            EventCodec {
                schema,
                writer: Mutex::new(writer),
                reader: BodyReader::new(schema),
                preflight: Preflight::new(schema),
                fingerprint,
                legacy_fingerprint,
                older,
            }
        })
    }

    pub fn schema(&self) -> &'static Schema {
        self.schema
    }

    /// The Rabin fingerprint of the current schema, as it appears in record headers.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }

    /// The writer schema a fingerprint names: the current one or an older released one.
    pub fn writer_schema(&self, fingerprint: &[u8; 8]) -> Option<&Schema> {
        if self.is_current(fingerprint) {
            return Some(self.schema);
        }
        self.older
            .iter()
            .find(|(r, ..)| r.is_named_by(fingerprint))
            .map(|(r, ..)| &r.schema)
    }

    fn is_current(&self, fingerprint: &[u8; 8]) -> bool {
        *fingerprint == self.fingerprint || *fingerprint == self.legacy_fingerprint
    }

    pub fn encode(&self, envelope: &Envelope) -> Vec<u8> {
        let value = envelope.to_value();
        let mut out = Vec::with_capacity(HEADER_LEN + 256);
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .write_value_ref(&value, &mut out)
            .expect("an Envelope always matches the schema it was written for");
        out
    }

    /// Encodes in the given framing.
    pub fn encode_framed(&self, envelope: &Envelope, framing: Framing) -> Vec<u8> {
        let single_object = self.encode(envelope);
        match framing {
            Framing::SingleObject => single_object,
            Framing::Confluent { schema_id } => {
                let body = &single_object[HEADER_LEN..];
                let mut out = Vec::with_capacity(5 + body.len());
                out.extend_from_slice(&confluent_header(schema_id));
                out.extend_from_slice(body);
                out
            }
        }
    }

    /// Decodes a record in either framing (single-object, or Confluent with
    /// an id among `ids`).
    pub fn decode_framed(&self, bytes: &[u8], ids: &SchemaIds) -> Result<Envelope, DecodeError> {
        let (fingerprint, body) = split(bytes, ids)?;
        self.decode_body(&fingerprint, body)
    }

    /// Decodes a single-object record.
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
        self.decode_body(&fingerprint, &bytes[HEADER_LEN..])
    }

    /// Decodes an Avro binary body written with the schema `fingerprint` names,
    /// resolving an older released schema onto the current one.
    pub fn decode_body(&self, fingerprint: &[u8; 8], body: &[u8]) -> Result<Envelope, DecodeError> {
        let mut rest = body;
        let value = if self.is_current(fingerprint) {
            // The fast path: the current schema, no resolution onto another.
            self.preflight.check(body).map_err(DecodeError::Avro)?;
            self.reader.read(&mut rest)?
        } else {
            let (writer, resolver, preflight, reader) = self
                .older
                .iter()
                .find(|(r, ..)| r.is_named_by(fingerprint))
                .ok_or_else(|| self.unknown(fingerprint))?;
            preflight.check(body).map_err(DecodeError::Avro)?;
            let value = reader.read(&mut rest)?;
            resolver.resolve(value).map_err(|e| {
                DecodeError::Resolution(format!("from schema v{}: {e}", writer.version))
            })?
        };
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes(rest.len()));
        }
        Envelope::from_value(value)
    }

    fn unknown(&self, fingerprint: &[u8; 8]) -> DecodeError {
        let mut known: Vec<String> = self
            .older
            .iter()
            .map(|(r, ..)| {
                format!(
                    "v{} {} (or {})",
                    r.version,
                    hex_lower(&r.fingerprint),
                    hex_lower(&r.legacy_fingerprint)
                )
            })
            .collect();
        known.push(format!(
            "v{CURRENT_VERSION} {} (or {})",
            hex_lower(&self.fingerprint),
            hex_lower(&self.legacy_fingerprint)
        ));
        DecodeError::UnknownSchema {
            fingerprint: hex_lower(fingerprint),
            known: known.join(", "),
        }
    }
}

/// The 8 bytes a single-object header carries for `schema`: the
/// little-endian CRC-64-AVRO of its Parsing Canonical Form, as the
/// specification defines it (and Java, fastavro and others compute it).
///
/// apache-avro 0.21's `canonical_form` keeps a primitive that had a
/// `logicalType` as `{"type":"string"}` where the specification's
/// [PRIMITIVES] rule wants `"string"`, so its fingerprints differ from every
/// other library's for schemas with logical types (ours have uuid and
/// timestamp-millis). We reduce those forms before hashing.
pub fn fingerprint_of(schema: &Schema) -> [u8; 8] {
    crc64_avro(spec_canonical_form(schema).as_bytes()).to_le_bytes()
}

/// The fingerprint apache-avro 0.21 computes (see [`fingerprint_of`]):
/// records written by v1 carry it, so readers accept it for every version.
pub fn legacy_fingerprint_of(schema: &Schema) -> [u8; 8] {
    let fp = schema.fingerprint::<Rabin>();
    fp.bytes
        .as_slice()
        .try_into()
        .expect("a Rabin fingerprint is 8 bytes")
}

/// The specification's Parsing Canonical Form of `schema`.
pub fn spec_canonical_form(schema: &Schema) -> String {
    let mut form = schema.canonical_form();
    // In a canonical form, `{"type":"long"}` can only be a primitive left
    // wrapped (names and symbols cannot hold quotes or braces).
    for p in [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ] {
        form = form.replace(&format!(r#"{{"type":"{p}"}}"#), &format!(r#""{p}""#));
    }
    form
}

/// CRC-64-AVRO (Rabin), as given in the specification's "Schema Fingerprints".
fn crc64_avro(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: OnceLock<[u64; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & 0u64.wrapping_sub(fp & 1));
            }
            *slot = fp;
        }
        t
    });
    let mut fp = EMPTY;
    for b in bytes {
        fp = (fp >> 8) ^ table[((fp ^ u64::from(*b)) & 0xff) as usize];
    }
    fp
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fingerprints other libraries agree on: fastavro 1.12's
    /// `fingerprint(to_parsing_canonical_form(json), "CRC-64-AVRO")` of the
    /// released v1 file, and the bytes apache-avro wrote into v1 records.
    #[test]
    fn fingerprints_follow_the_specification() {
        let v1 = Schema::parse_str(RELEASED_SCHEMAS[0].1).unwrap();
        assert_eq!(hex_lower(&fingerprint_of(&v1)), "a7adb2c722b309b4");
        assert_eq!(hex_lower(&legacy_fingerprint_of(&v1)), "3695b1a60d790c6f");
        // The specification's own examples: the primitive "int" and "null".
        assert_eq!(
            crc64_avro(br#""int""#).to_le_bytes(),
            legacy_fingerprint_of(&Schema::Int)
        );
        assert_eq!(
            fingerprint_of(
                &Schema::parse_str(r#"{"type":"string","logicalType":"uuid"}"#).unwrap()
            ),
            fingerprint_of(&Schema::String)
        );
    }
}
