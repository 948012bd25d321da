//! Fuzzing the UserSig parser and verifier (proptest; stable Rust).
//!
//! Inputs: random strings, valid signatures with characters changed, cut or
//! inserted, and well-formed zlib+base64 documents holding random JSON
//! (fields of the wrong type, huge numbers, extra keys). For each: no
//! panic, and never accepted unless it carries the key's HMAC over exactly
//! the fields it claims; error messages never echo the signature.
//!
//! `make fuzz` runs many more cases (`PROPTEST_CASES`).

use std::io::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use missive_core::usersig::{UserSigError, UserSigVerifier, MAX_CLOCK_SKEW_SECS};
use missive_core::{ApiError, ErrorCode};
use proptest::prelude::*;
use serde_json::{json, Value};

const APP: u64 = 1_400_000_000;
const NOW: u64 = 1_700_000_000;

fn verifier() -> UserSigVerifier {
    UserSigVerifier::new(APP, "fuzz-secret-key".to_owned().into())
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

/// zlib + base64 + Tencent's URL-safe escaping of any JSON text.
fn wrap(json: &str) -> String {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(json.as_bytes()).unwrap();
    STANDARD
        .encode(z.finish().unwrap())
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

/// Verifies, and checks what every answer must satisfy.
fn check(sig: &str, identifier: &str) -> Result<(), TestCaseError> {
    let result = verifier().verify(sig, identifier, NOW);
    match &result {
        Ok(v) => {
            // Only a signature the key made for this identifier and app, valid now.
            prop_assert_eq!(&v.identifier, identifier);
            prop_assert_eq!(v.sdkappid, APP);
            prop_assert!(v.expires_at >= NOW);
            prop_assert!(v.issued_at <= NOW + MAX_CLOCK_SKEW_SECS);
        }
        Err(e) => {
            let api = ApiError::from(e.clone());
            prop_assert_eq!(api.code.code(), e.tencent_code());
            prop_assert!((70001..=70014).contains(&api.code.code()));
            if sig.len() >= 12 {
                prop_assert!(!api.info.contains(sig), "the error echoes the signature");
            }
            prop_assert!(!api.info.contains("fuzz-secret-key"));
        }
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[0-9]{0,25}".prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "TLS.ver",
    "TLS.identifier",
    "TLS.sdkappid",
    "TLS.time",
    "TLS.expire",
    "TLS.sig",
    "TLS.userbuf",
    "TLS.version",
];

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn random_strings(sig in ".{0,600}", id in "[a-z]{1,8}") {
        check(&sig, &id)?;
    }

    #[test]
    fn random_base64ish(sig in "[A-Za-z0-9*_-]{0,5000}") {
        check(&sig, "alice")?;
    }

    #[test]
    fn valid_signatures_mutated(at in any::<prop::sample::Index>(), c in any::<char>(), cut in any::<bool>(), expire in 0u64..100_000) {
        let sig = verifier().generate("alice", expire, NOW - 10);
        let mut chars: Vec<char> = sig.chars().collect();
        let i = at.index(chars.len());
        if cut { chars.truncate(i) } else { chars[i] = c }
        let mutated: String = chars.into_iter().collect();
        check(&mutated, "alice")?;
        if mutated != sig {
            // A changed signature is never accepted unless it still decodes to
            // the same fields and HMAC (e.g. a padding character changed).
            if let Ok(v) = verifier().verify(&mutated, "alice", NOW) {
                prop_assert_eq!(v.issued_at, NOW - 10);
                prop_assert_eq!(v.expires_at, NOW - 10 + expire);
            }
        }
    }

    #[test]
    fn documents_with_random_fields(
        fields in prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..8),
        extra in prop::collection::btree_map("[a-z.]{1,10}", json_value(), 0..3),
    ) {
        let mut doc = serde_json::Map::new();
        for (k, v) in extra { doc.insert(k, v); }
        for (k, v) in fields { doc.insert((*k).to_owned(), v); }
        let text = Value::Object(doc).to_string();
        check(&wrap(&text), "alice")?;
    }

    #[test]
    fn documents_signed_with_another_key_or_app(expire in 1u64..1_000_000, id in "[a-z]{1,8}") {
        let other_key = UserSigVerifier::new(APP, "another-key".to_owned().into());
        let sig = other_key.generate(&id, expire, NOW);
        prop_assert_eq!(verifier().verify(&sig, &id, NOW).unwrap_err(), UserSigError::SignatureMismatch);
        let other_app = UserSigVerifier::new(APP + 1, "fuzz-secret-key".to_owned().into());
        let sig = other_app.generate(&id, expire, NOW);
        prop_assert_eq!(verifier().verify(&sig, &id, NOW).unwrap_err(), UserSigError::SdkAppIdMismatch);
    }
}

#[test]
fn a_zlib_bomb_and_huge_numbers_are_refused_precisely() {
    let bomb = wrap(&" ".repeat(1_000_000));
    assert!(
        bomb.len() < 4096,
        "the bomb compresses well: {}",
        bomb.len()
    );
    assert_eq!(
        verifier().verify(&bomb, "alice", NOW).unwrap_err(),
        UserSigError::DecompressedTooLarge
    );
    let doc = json!({"TLS.ver": "2.0", "TLS.identifier": "alice", "TLS.sdkappid": APP,
        "TLS.time": "99999999999999999999999", "TLS.expire": 1, "TLS.sig": "AAAA"});
    assert_eq!(
        ApiError::from(
            verifier()
                .verify(&wrap(&doc.to_string()), "alice", NOW)
                .unwrap_err()
        )
        .code,
        ErrorCode::UserSigInvalidFields
    );
}
