//! Golden vectors: the checked-in bytes under `schemas/golden/` must stay
//! decodable forever, and the current encoder must reproduce them.
//!
//! Regenerate (only for a new vector, never to paper over a change):
//! `MISSIVE_BLESS=1 cargo test -p missive-schemas --test golden`.

use std::fs;
use std::path::PathBuf;

use apache_avro::{GenericSingleObjectReader, Schema};
use missive_schemas::{samples, EventCodec};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

#[test]
fn encoder_reproduces_the_golden_bytes() {
    let codec = EventCodec::get();
    let bless = std::env::var_os("MISSIVE_BLESS").is_some();
    for (name, envelope) in samples::golden() {
        let bytes = codec.encode(&envelope);
        let path = golden_dir().join(format!("{name}.bin"));
        if bless {
            fs::write(&path, &bytes).unwrap();
            let value =
                apache_avro::from_avro_datum(codec.schema(), &mut &bytes[10..], None).unwrap();
            let json: serde_json::Value = value.try_into().unwrap();
            fs::write(
                golden_dir().join(format!("{name}.json")),
                serde_json::to_string_pretty(&json).unwrap() + "\n",
            )
            .unwrap();
        }
        let golden = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(bytes, golden, "{name}: encoding changed");
        assert_eq!(
            codec.decode(&golden).unwrap(),
            envelope,
            "{name}: round trip"
        );
    }
}

/// A reader with nothing but the `.avsc` file and a generic Avro library
/// decodes every golden vector to the documented JSON.
#[test]
fn golden_vectors_decode_from_the_schema_file_alone() {
    let avsc =
        fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro/events.avsc"))
            .unwrap();
    let schema = Schema::parse_str(&avsc).unwrap();
    let reader = GenericSingleObjectReader::new(schema).unwrap();
    let mut seen = 0;
    for entry in fs::read_dir(golden_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("bin") {
            continue;
        }
        let bytes = fs::read(&path).unwrap();
        assert_eq!(
            &bytes[..2],
            &[0xC3, 0x01],
            "{}: single-object marker",
            path.display()
        );
        let mut rest = &bytes[..];
        let value = reader.read_value(&mut rest).unwrap();
        assert!(rest.is_empty(), "{}: trailing bytes", path.display());
        let json: serde_json::Value = value.try_into().unwrap();
        let expected: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        assert_eq!(json, expected, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 2, "golden vectors are missing");
}
