//! The two record framings missive reads and writes.
//!
//! - **Single-object** (the default): `C3 01`, the 8-byte little-endian
//!   CRC-64-AVRO fingerprint of the writer schema, the Avro binary body.
//! - **Confluent wire format** (optional): byte `00`, the 4-byte big-endian
//!   id the Schema Registry gave the writer schema, the Avro binary body; what
//!   Spark, Flink, Kafka Connect and ClickHouse's stock deserializers expect.
//!
//! Readers accept both on the same topic, so a deployment can switch
//! framing without rewriting its log. A registry id is mapped to the
//! fingerprint of a schema this build knows ([`SchemaIds`], filled from the
//! registry at startup); the body is then decoded as for single-object.

use std::collections::BTreeMap;

use crate::codec::{hex_lower, SINGLE_OBJECT_MAGIC};
use crate::DecodeError;

/// The first byte of a Confluent-framed record.
pub const CONFLUENT_MAGIC: u8 = 0;
const CONFLUENT_HEADER_LEN: usize = 5;
const SINGLE_OBJECT_HEADER_LEN: usize = 10;

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    #[default]
    SingleObject,
    /// The Schema Registry id of the schema records are written with.
    Confluent { schema_id: u32 },
}

/// Schema Registry ids of the schemas this build knows, by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaIds(BTreeMap<u32, [u8; 8]>);

impl SchemaIds {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, id: u32, fingerprint: [u8; 8]) {
        self.0.insert(id, fingerprint);
    }

    pub fn fingerprint(&self, id: u32) -> Option<[u8; 8]> {
        self.0.get(&id).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The Confluent header for `schema_id`.
pub fn confluent_header(schema_id: u32) -> [u8; CONFLUENT_HEADER_LEN] {
    let id = schema_id.to_be_bytes();
    [CONFLUENT_MAGIC, id[0], id[1], id[2], id[3]]
}

/// The writer schema's fingerprint and the Avro body of a record in either
/// framing; a Confluent id must be one of `ids`.
pub fn split<'a>(bytes: &'a [u8], ids: &SchemaIds) -> Result<([u8; 8], &'a [u8]), DecodeError> {
    match bytes.first() {
        Some(&CONFLUENT_MAGIC) => {
            if bytes.len() < CONFLUENT_HEADER_LEN {
                return Err(DecodeError::Header(format!(
                    "record is {} bytes, shorter than the 5-byte Confluent header",
                    bytes.len()
                )));
            }
            let id = u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes"));
            let fingerprint = ids.fingerprint(id).ok_or_else(|| {
                let known: Vec<String> = ids
                    .0
                    .iter()
                    .map(|(id, fp)| format!("{id} ({})", hex_lower(fp)))
                    .collect();
                DecodeError::UnknownSchemaId {
                    id,
                    known: if known.is_empty() {
                        "none: no Schema Registry is configured".into()
                    } else {
                        known.join(", ")
                    },
                }
            })?;
            Ok((fingerprint, &bytes[CONFLUENT_HEADER_LEN..]))
        }
        Some(&b) if b == SINGLE_OBJECT_MAGIC[0] => {
            if bytes.len() < SINGLE_OBJECT_HEADER_LEN {
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
            let fingerprint = bytes[2..SINGLE_OBJECT_HEADER_LEN]
                .try_into()
                .expect("8 bytes");
            Ok((fingerprint, &bytes[SINGLE_OBJECT_HEADER_LEN..]))
        }
        Some(&b) => Err(DecodeError::Header(format!(
            "record starts with {b:02X}: neither the single-object marker C3 01 nor the Confluent magic byte 00"
        ))),
        None => Err(DecodeError::Header("record is empty".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_framings_split_and_bad_headers_say_why() {
        let mut ids = SchemaIds::new();
        ids.insert(7, [9; 8]);
        let mut confluent = confluent_header(7).to_vec();
        confluent.extend_from_slice(b"body");
        assert_eq!(split(&confluent, &ids).unwrap(), ([9; 8], &b"body"[..]));
        let mut single = vec![0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8];
        single.extend_from_slice(b"body");
        assert_eq!(
            split(&single, &ids).unwrap(),
            ([1, 2, 3, 4, 5, 6, 7, 8], &b"body"[..])
        );
        let unknown = confluent_header(8);
        let e = split(&unknown, &ids).unwrap_err().to_string();
        assert!(e.contains("Registry id 8 ") && e.contains("7 (0909"), "{e}");
        assert!(split(&[0, 1], &ids)
            .unwrap_err()
            .to_string()
            .contains("5-byte"));
        assert!(split(b"hello", &ids)
            .unwrap_err()
            .to_string()
            .contains("68"));
        assert!(split(&[0xC3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0], &ids).is_err());
    }
}
