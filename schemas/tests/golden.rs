//! Golden vectors: the checked-in bytes under `schemas/golden/vN/` were
//! written with released schema version N and must stay decodable forever;
//! the current encoder must reproduce the current version's vectors.
//!
//! A vector lives under the version that introduced its kind. Regenerate
//! (only for a new vector, never to paper over a change; older versions'
//! vectors are never rewritten):
//! `MISSIVE_BLESS=1 cargo test -p missive-schemas --test golden`.

use std::fs;
use std::path::{Path, PathBuf};

use apache_avro::Schema;
use missive_schemas::codec::{fingerprint_of, legacy_fingerprint_of, released_schemas};
use missive_schemas::resolve::Resolver;
use missive_schemas::{samples, EventCodec, CURRENT_VERSION};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn version_dir(version: u32) -> PathBuf {
    golden_dir().join(format!("v{version}"))
}

/// The `.bin` files of one version, sorted by name.
fn vectors(version: u32) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(version_dir(version))
        .unwrap_or_else(|e| panic!("golden/v{version}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("bin"))
        .collect();
    out.sort();
    out
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_owned()
}

/// The version whose directory holds `name`'s vector, if any.
fn home_of(name: &str) -> Option<u32> {
    released_schemas()
        .iter()
        .map(|r| r.version)
        .find(|v| version_dir(*v).join(format!("{name}.bin")).exists())
}

#[test]
fn every_sample_has_a_vector_the_codec_reproduces_or_decodes() {
    let codec = EventCodec::get();
    let bless = std::env::var_os("MISSIVE_BLESS").is_some();
    for (name, envelope) in samples::golden() {
        let bytes = codec.encode(&envelope);
        assert_eq!(
            codec.decode(&bytes).unwrap(),
            envelope,
            "{name}: round trip"
        );
        let home = match home_of(name) {
            Some(v) => v,
            None if bless => {
                fs::create_dir_all(version_dir(CURRENT_VERSION)).unwrap();
                let path = version_dir(CURRENT_VERSION).join(format!("{name}.bin"));
                fs::write(&path, &bytes).unwrap();
                let value =
                    apache_avro::from_avro_datum(codec.schema(), &mut &bytes[10..], None).unwrap();
                let json: serde_json::Value = value.try_into().unwrap();
                fs::write(
                    path.with_extension("json"),
                    serde_json::to_string_pretty(&json).unwrap() + "\n",
                )
                .unwrap();
                CURRENT_VERSION
            }
            None => panic!("{name}: no golden vector (run with MISSIVE_BLESS=1 once)"),
        };
        let path = version_dir(home).join(format!("{name}.bin"));
        let golden = fs::read(&path).unwrap();
        if home == CURRENT_VERSION {
            assert_eq!(bytes, golden, "{name}: encoding changed");
        } else {
            // Written by an older release: the header names that release's
            // schema, and it still decodes to the same event.
            assert_ne!(golden[2..10], codec.fingerprint(), "{name}: v{home} header");
        }
        assert_eq!(
            codec.decode(&golden).unwrap(),
            envelope,
            "{name}: the v{home} vector decodes to the sample"
        );
    }
}

/// A reader with nothing but the released `.avsc` file of a version and a
/// generic Avro library decodes every vector of that version to the
/// documented JSON. This also proves a released `.avsc` never changed: its
/// fingerprint must still be the one in the vectors' headers.
#[test]
fn vectors_decode_with_their_released_schema_file_alone() {
    let mut seen = 0;
    for released in released_schemas() {
        let avsc = fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(format!("avro/released/events.v{}.avsc", released.version)),
        )
        .unwrap();
        let schema = Schema::parse_str(&avsc).unwrap();
        let named = [fingerprint_of(&schema), legacy_fingerprint_of(&schema)];
        let vectors = vectors(released.version);
        assert!(
            !vectors.is_empty(),
            "v{}: a released version keeps golden vectors",
            released.version
        );
        for path in vectors {
            let bytes = fs::read(&path).unwrap();
            assert_eq!(&bytes[..2], &[0xC3, 0x01], "{}: marker", path.display());
            // The header names this file's schema (v1 records carry the
            // fingerprint apache-avro 0.21 computed; see codec::fingerprint_of).
            assert!(
                named.iter().any(|fp| bytes[2..10] == *fp),
                "{}: header fingerprint is not the file's",
                path.display()
            );
            let mut rest = &bytes[10..];
            let value = apache_avro::from_avro_datum(&schema, &mut rest, None)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(rest.is_empty(), "{}: trailing bytes", path.display());
            let json: serde_json::Value = value.try_into().unwrap();
            assert_eq!(json, expected_json(&path), "{}", path.display());
            seen += 1;
        }
    }
    assert!(
        seen >= samples::golden().len(),
        "golden vectors are missing"
    );
}

/// Every older vector, resolved from its writer schema onto the current one,
/// keeps every value its JSON documents (new fields may only add defaults).
#[test]
fn older_vectors_resolve_onto_the_current_schema_keeping_their_json() {
    let codec = EventCodec::get();
    for released in released_schemas() {
        if released.version == CURRENT_VERSION {
            continue;
        }
        let resolver = Resolver::new(&released.schema, codec.schema()).unwrap();
        for path in vectors(released.version) {
            let bytes = fs::read(&path).unwrap();
            assert!(
                released.is_named_by(&bytes[2..10].try_into().unwrap()),
                "{}",
                path.display()
            );
            let value =
                apache_avro::from_avro_datum(&released.schema, &mut &bytes[10..], None).unwrap();
            let resolved = resolver.resolve(value).unwrap();
            assert!(
                resolved.validate(codec.schema()),
                "{}: not a value of the current schema",
                path.display()
            );
            let json: serde_json::Value = resolved.try_into().unwrap();
            assert_contains(&json, &expected_json(&path), &stem(&path));
        }
    }
}

fn expected_json(bin: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(bin.with_extension("json")).unwrap()).unwrap()
}

/// `actual` has every field of `expected` with the same value (and may have more).
fn assert_contains(actual: &serde_json::Value, expected: &serde_json::Value, at: &str) {
    match (actual, expected) {
        (serde_json::Value::Object(a), serde_json::Value::Object(e)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k}: missing after resolution"));
                assert_contains(av, ev, &format!("{at}.{k}"));
            }
        }
        (serde_json::Value::Array(a), serde_json::Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{at}: length");
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_contains(av, ev, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{at}"),
    }
}
