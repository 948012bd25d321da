//! `missive export` against the real broker: every event kind (some written
//! by the v1 schema) exported as Avro and read back by a reader that is not
//! ours (Python's fastavro), as JSON lines with filters, by time bounds, and
//! resumed from its checkpoint after an interruption.
//!
//! fastavro comes from `infra/up.sh` (a venv in `.data/pyenv`); set
//! `MISSIVE_TEST_PYTHON` to use another interpreter. A missing reader fails
//! the test: it is never skipped.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use missive_core::Config;
use missive_schemas::{samples, Envelope, EventCodec};
use missive_tools::export::{export, AvroCodec, Bound, ExportOptions, Filter, Format};
use support::unique_name;

/// A config of its own: a unique topic prefix, no database needed.
async fn config() -> Config {
    let mut c = Config::load().expect("configuration");
    c.kafka.topic_prefix = unique_name("missive_export");
    missive_core::kafka::ensure_topics(&c, &[c.events_topic()])
        .await
        .expect("topics");
    c
}

/// Appends raw records keyed like ingest does, with the broker timestamp at
/// the event's time (as ingest's appends have, give or take milliseconds).
async fn append(c: &Config, records: &[(Envelope, Vec<u8>)]) {
    let p: FutureProducer = missive_core::kafka::producer(c).unwrap();
    for (env, bytes) in records {
        let key = env.event.key();
        p.send(
            FutureRecord::to(&c.events_topic())
                .key(&key)
                .payload(bytes)
                .timestamp(env.occurred_at),
            Duration::from_secs(10),
        )
        .await
        .expect("appended");
    }
}

/// Every sample, encoded now (v2), plus the v1 golden vectors as an older
/// release wrote them: the export resolves those onto the current schema.
fn log_records() -> Vec<(Envelope, Vec<u8>)> {
    let codec = EventCodec::get();
    let mut out: Vec<(Envelope, Vec<u8>)> = samples::golden()
        .into_iter()
        .map(|(_, env)| {
            let bytes = codec.encode(&env);
            (env, bytes)
        })
        .collect();
    let v1 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/golden/v1");
    let mut files: Vec<_> = std::fs::read_dir(v1)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        assert_ne!(bytes[2..10], codec.fingerprint(), "a v1 vector");
        out.push((codec.decode(&bytes).unwrap(), bytes));
    }
    out
}

fn options(out: &Path, format: Format) -> ExportOptions {
    ExportOptions {
        from: None,
        to: None,
        format,
        codec: AvroCodec::Deflate,
        out: out.to_owned(),
        filter: Filter::default(),
        part_events: 4,
        schema_ids: Default::default(),
    }
}

/// The Avro JSON of an envelope, as a generic reader shows it.
fn avro_json(env: &Envelope) -> Value {
    env.to_value().try_into().unwrap()
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|j| j.to_string());
    v
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MISSIVE_TEST_PYTHON") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".data/pyenv/bin/python3")
}

/// Every record of every `.avro` file in `dir`, read by fastavro, as JSON
/// (timestamps as epoch milliseconds, UUIDs as strings, like Avro's JSON).
fn read_with_fastavro(dir: &Path) -> Vec<Value> {
    const SCRIPT: &str = r#"
import datetime, glob, json, os, sys, uuid
import fastavro
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def plain(v):
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.avro")))
assert files, "no .avro files"
for path in files:
    with open(path, "rb") as f:
        reader = fastavro.reader(f)
        assert reader.metadata["avro.codec"] == "deflate", reader.metadata
        for record in reader:
            print(json.dumps(plain(record)))
"#;
    let py = python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(SCRIPT)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run infra/up.sh, which installs fastavro, or set MISSIVE_TEST_PYTHON",
                py.display()
            )
        });
    assert!(
        out.status.success(),
        "fastavro could not read the export ({}): {}",
        py.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn jsonl(dir: &Path) -> Vec<Envelope> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Envelope>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avro_export_is_read_back_by_fastavro_event_for_event() {
    let c = config().await;
    let records = log_records();
    append(&c, &records).await;
    let dir = std::env::temp_dir().join(unique_name("export_avro"));

    // Through the binary, as an operator runs it.
    let run = Command::new(env!("CARGO_BIN_EXE_missive"))
        .args(["export", "--format", "avro", "--part-events", "4", "--out"])
        .arg(&dir)
        .env("MISSIVE_TOPIC_PREFIX", &c.kafka.topic_prefix)
        .env("MISSIVE_PROGRESS", "0")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        said.contains(&format!("exported {} events", records.len())),
        "{said}"
    );

    let read = read_with_fastavro(&dir);
    assert_eq!(read.len(), records.len());
    let expected: Vec<Value> = records.iter().map(|(env, _)| avro_json(env)).collect();
    assert_eq!(
        sorted(read),
        sorted(expected),
        "every event, field by field"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_exports_filter_by_kind_user_conversation_and_time() {
    let c = config().await;
    let records = log_records();
    append(&c, &records).await;
    let envs: Vec<&Envelope> = records.iter().map(|(e, _)| e).collect();
    let run = |filter: Filter, from: Option<&str>, to: Option<&str>| {
        let c = c.clone();
        let dir = std::env::temp_dir().join(unique_name("export_jsonl"));
        let mut opts = options(&dir, Format::Jsonl);
        opts.filter = filter;
        opts.from = from.map(|s| s.parse::<Bound>().unwrap());
        opts.to = to.map(|s| s.parse::<Bound>().unwrap());
        async move {
            let report = tokio::task::spawn_blocking(move || export(&c, &opts))
                .await
                .unwrap()
                .unwrap();
            let got = jsonl(&dir);
            assert_eq!(got.len() as u64, report.exported);
            let _ = std::fs::remove_dir_all(&dir);
            got
        }
    };
    let same = |mut got: Vec<Envelope>, want: Vec<&Envelope>| {
        let mut want: Vec<Envelope> = want.into_iter().cloned().collect();
        got.sort_by_key(|e| serde_json::to_string(e).unwrap());
        want.sort_by_key(|e| serde_json::to_string(e).unwrap());
        assert_eq!(got, want);
    };
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();

    // Everything, as JSON that deserializes back to the same envelopes.
    same(run(Filter::default(), None, None).await, envs.clone());
    // One kind about one user.
    let filter = Filter {
        kinds: set(&["MessageSent"]),
        users: set(&["bob"]),
        ..Filter::default()
    };
    let want: Vec<&Envelope> = envs
        .iter()
        .copied()
        .filter(|e| e.event.kind() == "MessageSent" && e.event.users().contains(&"bob"))
        .collect();
    assert!(!want.is_empty());
    same(run(filter, None, None).await, want);
    // One conversation.
    let filter = Filter {
        conversations: set(&["bob:mallory"]),
        ..Filter::default()
    };
    let want: Vec<&Envelope> = envs
        .iter()
        .copied()
        .filter(|e| e.event.conversation().as_deref() == Some("bob:mallory"))
        .collect();
    assert_eq!(want.len(), 4, "block added/removed, v2 and v1");
    same(run(filter, None, None).await, want);
    // A time window: the relationship samples happened in the second after
    // 2023-11-14T22:13:21Z, the messages before it, the push tokens after.
    let want: Vec<&Envelope> = envs
        .iter()
        .copied()
        .filter(|e| (1_700_000_001_000..1_700_000_002_000).contains(&e.occurred_at))
        .collect();
    assert!(want.len() >= 8);
    same(
        run(
            Filter::default(),
            Some("2023-11-14T22:13:21Z"),
            Some("2023-11-14T22:13:22Z"),
        )
        .await,
        want,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_export_resumes_from_its_checkpoint() {
    let c = config().await;
    let records = log_records();
    append(&c, &records).await;
    let dir = std::env::temp_dir().join(unique_name("export_resume"));
    let opts = options(&dir, Format::Avro);
    let first = {
        let (c, opts) = (c.clone(), opts.clone());
        tokio::task::spawn_blocking(move || export(&c, &opts))
            .await
            .unwrap()
            .unwrap()
    };
    assert!(!first.resumed);
    let complete = read_with_fastavro(&dir);
    assert_eq!(complete.len(), records.len());

    // Simulate a crash in the middle of the last part of the busiest
    // partition: that part is unfinished (a .partial file) and the
    // checkpoint does not count it.
    let path = dir.join("checkpoint.json");
    let mut cp: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let parts = cp["parts"].as_array_mut().unwrap();
    let last = parts.pop().unwrap();
    let file = dir.join(last["file"].as_str().unwrap());
    std::fs::rename(
        &file,
        dir.join(format!("{}.partial", last["file"].as_str().unwrap())),
    )
    .unwrap();
    let p = last["partition"].to_string();
    cp["partitions"][&p]["next"] = last["first_offset"].clone();
    std::fs::write(&path, serde_json::to_string(&cp).unwrap()).unwrap();
    let events_in_last = last["events"].as_u64().unwrap();

    // The same command again finishes it.
    let again = {
        let (c, opts) = (c.clone(), opts.clone());
        tokio::task::spawn_blocking(move || export(&c, &opts))
            .await
            .unwrap()
            .unwrap()
    };
    assert!(again.resumed);
    assert_eq!(again.exported, events_in_last);
    assert!(file.exists(), "the unfinished part is written again");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(sorted(read_with_fastavro(&dir)), sorted(complete));

    // Other settings in the same directory are refused, not mixed in.
    let mut other = opts.clone();
    other.format = Format::Jsonl;
    let refused = tokio::task::spawn_blocking(move || export(&c, &other))
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.to_string().contains("format"), "{refused}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The log is the source of truth: its topic is created to be kept forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_topic_is_created_to_keep_the_log_forever() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let c = config().await;
    let admin: AdminClient<DefaultClientContext> = missive_core::kafka::base_config(&c, "test")
        .create()
        .unwrap();
    let topic = c.events_topic();
    let described = admin
        .describe_configs(
            &[ResourceSpecifier::Topic(&topic)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    let resource = described[0].as_ref().expect("topic described");
    let retention = resource
        .get("retention.ms")
        .and_then(|e| e.value.clone())
        .expect("retention.ms is set");
    assert_eq!(retention, "-1");
    // Only the events topic: the others keep the broker's default.
    let dlq = c.events_dlq_topic();
    missive_core::kafka::ensure_topics(&c, std::slice::from_ref(&dlq))
        .await
        .unwrap();
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic(&dlq)], &AdminOptions::new())
        .await
        .unwrap();
    let other = described[0]
        .as_ref()
        .unwrap()
        .get("retention.ms")
        .and_then(|e| e.value.clone());
    assert_ne!(other.as_deref(), Some("-1"), "{other:?}");
}

/// The documented recipe (docs/schemas.md) with fastavro alone: every
/// golden vector and a record encoded now are decoded by their header, and
/// fastavro's own fingerprint of `events.avsc` is the one records carry.
#[test]
fn a_foreign_reader_decodes_log_records_by_their_header() {
    const SCRIPT: &str = r#"
import fastavro, glob, io, json, os, sys
root = sys.argv[1]
avro = os.path.join(root, "schemas/avro")
table = json.load(open(os.path.join(avro, "fingerprints.json")))["events"]
writers = {fp: fastavro.parse_schema(json.load(open(os.path.join(avro, f)))) for fp, f in table.items()}
raw = json.load(open(os.path.join(avro, "events.avsc")))
reader = fastavro.parse_schema(raw)
print(fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(raw), "CRC-64-AVRO"))
def decode(value):
    assert value[:2] == b"\xc3\x01"
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), writers[value[2:10].hex()], reader)
for path in sys.argv[2:]:
    print(json.dumps(decode(open(path, "rb").read()), default=str))
"#;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ["v1", "v2"]
        .iter()
        .flat_map(|v| std::fs::read_dir(root.join("schemas/golden").join(v)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    let fresh = std::env::temp_dir()
        .join(unique_name("fresh"))
        .with_extension("bin");
    std::fs::write(&fresh, EventCodec::get().encode(&samples::every_element())).unwrap();
    files.push(fresh.clone());
    let py = python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&root)
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): run infra/up.sh", py.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let theirs = lines.next().unwrap();
    let ours: String = EventCodec::get()
        .fingerprint()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        theirs, ours,
        "fastavro computes the fingerprint records carry"
    );
    let decoded: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(decoded.len(), files.len());
    for (path, json) in files.iter().zip(&decoded) {
        let env = EventCodec::get()
            .decode(&std::fs::read(path).unwrap())
            .unwrap();
        assert_eq!(
            json["event_id"],
            env.event_id.to_string(),
            "{}",
            path.display()
        );
    }
    let _ = std::fs::remove_file(fresh);
}
