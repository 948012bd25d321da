//! Fuzzing the Avro decoders of events and commands (proptest; stable Rust).
//!
//! Hostile records are random bytes, and valid records (the golden vectors
//! of every released version, and commands of every kind) with bytes
//! flipped, cut, inserted, or replaced by huge varints. For each: no panic,
//! a precise `DecodeError` or an envelope that re-encodes to a record that
//! decodes to the same envelope, and no allocation larger than a bound
//! proportional to the record's size (a counting allocator watches).
//!
//! `cargo test -p missive-schemas --test fuzz_avro` runs a few hundred
//! cases per property; `make fuzz` runs many more (`PROPTEST_CASES`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use missive_schemas::commands::{
    Action, BatchSend, BlockPair, Command, CommandCodec, FriendPair, SendMessage,
    SendSystemNotification,
};
use missive_schemas::EventCodec;
use proptest::prelude::*;

/// Records the largest single allocation made by a thread that asked for it.
struct Watching;

thread_local! {
    static WATCH: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

fn note(size: usize) {
    // try_with: the thread-locals may be gone while a thread exits.
    let _ = WATCH.try_with(|w| {
        if w.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

/// Runs `f` and returns its result with the largest allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    WATCH.with(|w| w.set(true));
    let out = f();
    WATCH.with(|w| w.set(false));
    (out, LARGEST.with(|l| l.get()))
}

/// What decoding a record of `len` bytes may allocate at once: fixed
/// overhead (error messages, the schema's name table) plus a few hundred
/// bytes per input byte (a `Value` per item at worst).
fn allocation_bound(len: usize) -> usize {
    64 * 1024 + 256 * len
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Hostile inputs are cheap; do not stop early on rejects.
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// Every released version's golden records (v1 records take the resolver path).
fn golden_events() -> &'static [Vec<u8>] {
    static GOLDEN: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    GOLDEN.get_or_init(read_golden_events)
}

fn read_golden_events() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut out = Vec::new();
    for version in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(version.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some("bin") {
                out.push(std::fs::read(path).unwrap());
            }
        }
    }
    assert!(out.len() >= 10, "golden vectors found: {}", out.len());
    out
}

fn sample_commands() -> &'static [Vec<u8>] {
    static SAMPLES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(encode_sample_commands)
}

fn encode_sample_commands() -> Vec<Vec<u8>> {
    let command = |action| Command {
        command_id: "cmd-1".into(),
        issued_at: 1_700_000_000_000,
        issuer: "backend".into(),
        action,
    };
    let actions = vec![
        Action::SendMessage(SendMessage::text("alice", "bob", "hello")),
        Action::SendSystemNotification(SendSystemNotification {
            from_account: None,
            to_account: "bob".into(),
            kind: "shop.order".into(),
            text: "shipped".into(),
            data: "{\"id\":1}".into(),
            lifetime_seconds: 60,
            offline_push_info: Some("{}".into()),
        }),
        Action::BatchSend(BatchSend {
            from_account: "alice".into(),
            to_accounts: vec!["bob".into(), "carol".into(), "dave".into()],
            msg_body: "[]".into(),
            cloud_custom_data: String::new(),
            sync_other_machine: true,
            lifetime_seconds: 0,
            offline_push_info: None,
        }),
        Action::FriendAdd(FriendPair {
            user_id: "alice".into(),
            friend_id: "bob".into(),
            both: true,
        }),
        Action::BlockAdd(BlockPair {
            user_id: "alice".into(),
            blocked_id: "bob".into(),
        }),
    ];
    actions
        .into_iter()
        .map(|a| CommandCodec::get().encode(&command(a)))
        .collect()
}

/// A zigzag varint of `n`.
fn varint(n: i64) -> Vec<u8> {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bits: u8,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Overwrites with a huge (or negative) length/count varint.
    HugeVarint {
        at: usize,
        n: i64,
    },
    Remove {
        at: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (
            any::<usize>(),
            prop_oneof![
                Just(i64::MAX),
                Just(i64::MIN),
                Just(-1i64),
                1_000_000i64..100_000_000,
                Just(8 * 1024 * 1024),
                Just(512 * 1024 * 1024),
            ]
        )
            .prop_map(|(at, n)| Mutation::HugeVarint { at, n }),
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match m {
            Mutation::Flip { at, bits } => bytes[at % n] ^= bits,
            Mutation::Truncate { at } => bytes.truncate(at % n),
            Mutation::Insert { at, bytes: b } => {
                let at = at % (n + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::HugeVarint { at, n: v } => {
                // After the 10-byte header, where lengths and counts live.
                let at = 10 + at % n.saturating_sub(10).max(1);
                let at = at.min(n);
                let v = varint(*v);
                let end = (at + v.len()).min(n);
                bytes.splice(at..end, v);
            }
            Mutation::Remove { at, len } => {
                let at = at % n;
                let end = (at + len).min(n);
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

fn check_event(bytes: &[u8]) -> Result<(), TestCaseError> {
    let codec = EventCodec::get();
    let (decoded, largest) = largest_allocation(|| codec.decode(bytes));
    prop_assert!(
        largest <= allocation_bound(bytes.len()),
        "decoding {} bytes allocated {largest} bytes at once",
        bytes.len()
    );
    if let Ok(envelope) = decoded {
        // What decodes is a well-formed envelope: it re-encodes, and the
        // re-encoding decodes to the same envelope (compared as bytes, so a
        // NaN decoded from a flipped double compares equal to itself).
        let encoded = codec.encode(&envelope);
        let again = codec
            .decode(&encoded)
            .expect("a re-encoded envelope decodes");
        prop_assert_eq!(codec.encode(&again), encoded);
    }
    Ok(())
}

fn check_command(bytes: &[u8]) -> Result<(), TestCaseError> {
    let codec = CommandCodec::get();
    let (decoded, largest) = largest_allocation(|| codec.decode(bytes));
    prop_assert!(
        largest <= allocation_bound(bytes.len()),
        "decoding {} bytes allocated {largest} bytes at once",
        bytes.len()
    );
    if let Ok(command) = decoded {
        let encoded = codec.encode(&command);
        let again = codec
            .decode(&encoded)
            .expect("a re-encoded command decodes");
        prop_assert_eq!(codec.encode(&again), encoded);
    }
    Ok(())
}

/// Random bytes behind a valid header: the body decoder sees garbage.
fn with_header(header: [u8; 10], body: Vec<u8>) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend(body);
    out
}

fn event_header() -> [u8; 10] {
    let mut h = [0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
    h[2..].copy_from_slice(&EventCodec::get().fingerprint());
    h
}

fn command_header() -> [u8; 10] {
    let mut h = [0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
    h[2..].copy_from_slice(&CommandCodec::get().fingerprint());
    h
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn random_bytes_never_panic_nor_allocate_unboundedly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_event(&bytes)?;
        check_command(&bytes)?;
    }

    #[test]
    fn random_bodies_behind_valid_headers(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_event(&with_header(event_header(), body.clone()))?;
        check_command(&with_header(command_header(), body))?;
    }

    #[test]
    fn mutated_golden_events(pick in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let golden = golden_events();
        let record = golden[pick.index(golden.len())].clone();
        check_event(&apply(record, &mutations))?;
    }

    #[test]
    fn mutated_commands(pick in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let samples = sample_commands();
        let record = samples[pick.index(samples.len())].clone();
        check_command(&apply(record, &mutations))?;
    }
}

#[test]
fn a_huge_length_prefix_anywhere_is_refused_without_allocating_it() {
    // Every position of every golden record, overwritten with a length or
    // count of 512 MiB, 8 Mi or i64::MAX: nothing of that size is allocated.
    let mut refused = 0;
    for golden in golden_events() {
        for at in 10..golden.len() {
            for n in [512 * 1024 * 1024_i64, 8 * 1024 * 1024, i64::MAX] {
                let mut record = golden.clone();
                let v = varint(n);
                let end = (at + v.len()).min(record.len());
                record.splice(at..end, v);
                let (result, largest) = largest_allocation(|| EventCodec::get().decode(&record));
                assert!(
                    largest <= allocation_bound(record.len()),
                    "allocated {largest} bytes for {n} at byte {at}"
                );
                if let Err(e) = result {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    assert!(refused > 0);
}

#[test]
fn the_golden_vectors_themselves_decode() {
    for record in golden_events() {
        EventCodec::get().decode(record).expect("golden decodes");
    }
    for record in sample_commands() {
        CommandCodec::get().decode(record).expect("sample decodes");
    }
}

#[test]
fn the_allocation_watch_sees_what_the_preflight_prevents() {
    // The global bound set as the services set it (8 MiB per length).
    let _ = EventCodec::get();
    let schema = apache_avro::Schema::parse_str(r#"{"type":"array","items":"long"}"#).unwrap();
    let body = varint(8_000_000); // a block of 8 million items, and no items
                                  // apache-avro alone reserves the whole block before reading an item...
    let (result, largest) =
        largest_allocation(|| apache_avro::from_avro_datum(&schema, &mut &body[..], None));
    assert!(result.is_err());
    assert!(
        largest > 64 * 1024 * 1024,
        "apache-avro reserved only {largest} bytes"
    );
    // ...which the pass before it refuses without allocating.
    let (checked, largest) =
        largest_allocation(|| missive_schemas::preflight::check(&schema, &body));
    assert!(checked.unwrap_err().contains("a block of 8000000 items"));
    assert!(largest < 64 * 1024, "{largest}");
}
