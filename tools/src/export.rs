//! `missive export`: the events topic, or a slice of it, as Avro object
//! container files (schema = the current events schema; readable by
//! fastavro, Spark, DuckDB, ...) or JSON lines, for analytics teams.
//!
//! The slice is fixed when an export starts: per partition, a start and an
//! end offset resolved from `--from`/`--to` (a time, an offset, or
//! `partition:offset` pairs); records are then filtered by kind, user and
//! conversation and, for time bounds, by `occurred_at` in `[from, to)`.
//! A time start skips ahead through the broker's time index, less a
//! minute of slack; a time end reads to the log's end as of the start.
//!
//! Files are written per partition in parts of `part_events` scanned
//! records, each as `*.partial` renamed when complete; `checkpoint.json` in
//! the output directory records the plan and each finished part. A run that
//! stops (crash, Ctrl-C) is resumed by running the same command again: it
//! deletes unfinished parts and goes on from the checkpoint, so every event
//! ends up in exactly one file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use apache_avro::{Codec, Writer};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;
use serde::{Deserialize, Serialize};

use missive_core::progress::{Progress, Summary};
use missive_core::Config;
use missive_schemas::framing::SchemaIds;
use missive_schemas::{Envelope, Event, EventCodec};

pub const CHECKPOINT_FILE: &str = "checkpoint.json";
const PARTIAL_SUFFIX: &str = ".partial";
/// Time bounds are resolved to offsets by broker timestamps, which may differ
/// from `occurred_at` by the producer's delay: read this much wider, then
/// filter on `occurred_at` exactly.
const TIME_SLACK_MS: i64 = 60_000;
const KAFKA_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Avro: {0}")]
    Avro(String),
    #[error("{0}")]
    Options(String),
    #[error("{dir} holds an export with other settings ({what}); use another directory, or the same settings to resume it")]
    Mismatch { dir: PathBuf, what: String },
    #[error("{0} is not empty and has no checkpoint.json: refusing to write into it")]
    NotEmpty(PathBuf),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("partition {partition}: the log ends at offset {high}, before the planned end {end} (was the topic truncated?)")]
    Truncated { partition: i32, high: i64, end: i64 },
    #[error("partition {partition}: offset {offset} is no longer on the log (retention?); the earliest is {low}")]
    Gone {
        partition: i32,
        offset: i64,
        low: i64,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Avro,
    Jsonl,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "avro" => Ok(Self::Avro),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(format!("format `{other}` must be avro or jsonl")),
        }
    }
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Avro => "avro",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Compression of the Avro blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AvroCodec {
    Null,
    Deflate,
}

impl FromStr for AvroCodec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "null" => Ok(Self::Null),
            "deflate" => Ok(Self::Deflate),
            other => Err(format!("codec `{other}` must be null or deflate")),
        }
    }
}

/// `--from` / `--to`: an RFC 3339 time, one offset for every partition, or
/// `partition:offset` pairs (`0:1200,3:88`; partitions not named keep the
/// log's start or end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// Milliseconds since the Unix epoch.
    Time(i64),
    Offset(i64),
    Offsets(BTreeMap<i32, i64>),
}

impl FromStr for Bound {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(o) = s.parse::<i64>() {
            return if o >= 0 {
                Ok(Bound::Offset(o))
            } else {
                Err(format!("offset {o} is negative"))
            };
        }
        if s.contains(':') && !s.contains('T') && !s.contains('t') {
            let mut map = BTreeMap::new();
            for pair in s.split(',') {
                let (p, o) = pair
                    .split_once(':')
                    .ok_or_else(|| format!("`{pair}` is not partition:offset"))?;
                let p: i32 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{p}` in `{pair}` is not a partition number"))?;
                let o: i64 = o
                    .trim()
                    .parse()
                    .ok()
                    .filter(|o| *o >= 0)
                    .ok_or_else(|| format!("`{o}` in `{pair}` is not an offset"))?;
                if map.insert(p, o).is_some() {
                    return Err(format!("partition {p} is given twice"));
                }
            }
            return Ok(Bound::Offsets(map));
        }
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                format!("`{s}` is neither an offset, partition:offset pairs, nor an RFC 3339 time ({e})")
            })?;
        Ok(Bound::Time((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Time(ms) => write!(f, "time:{ms}"),
            Bound::Offset(o) => write!(f, "offset:{o}"),
            Bound::Offsets(m) => {
                let pairs: Vec<String> = m.iter().map(|(p, o)| format!("{p}:{o}")).collect();
                write!(f, "offsets:{}", pairs.join(","))
            }
        }
    }
}

/// Which events to keep: each non-empty set must match (kind AND user AND conversation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub kinds: BTreeSet<String>,
    /// Events about any of these users.
    pub users: BTreeSet<String>,
    /// Events between the two users of any of these conversations (`alice:bob`).
    pub conversations: BTreeSet<String>,
}

impl Filter {
    fn check(&self) -> Result<(), ExportError> {
        for k in &self.kinds {
            if !Event::KINDS.contains(&k.as_str()) {
                return Err(ExportError::Options(format!(
                    "unknown event kind `{k}`; kinds are {}",
                    Event::KINDS.join(", ")
                )));
            }
        }
        for c in &self.conversations {
            match c.split_once(':') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() && a <= b && !b.contains(':') => {}
                _ => {
                    return Err(ExportError::Options(format!(
                        "conversation `{c}` must be two user ids, sorted, joined by `:`"
                    )))
                }
            }
        }
        Ok(())
    }

    fn keeps(&self, event: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(event.kind()))
            && (self.users.is_empty() || event.users().iter().any(|u| self.users.contains(*u)))
            && (self.conversations.is_empty()
                || event
                    .conversation()
                    .is_some_and(|c| self.conversations.contains(&c)))
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub format: Format,
    pub codec: AvroCodec,
    pub out: PathBuf,
    pub filter: Filter,
    /// Scanned records per part file (and between checkpoints).
    pub part_events: u64,
    /// Registry ids of the released schemas, to read Confluent-framed records.
    pub schema_ids: SchemaIds,
}

/// What an export run did.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// Records read from the log in this run (bytes = their payload sizes).
    pub scanned: Summary,
    /// Events written, in this run.
    pub exported: u64,
    /// Records that did not decode (skipped; the projector dead-letters them).
    pub undecodable: u64,
    /// Bytes of the files finished in this run.
    pub file_bytes: u64,
    /// Every file of the export, in partition and offset order.
    pub files: Vec<PathBuf>,
    /// True when this run continued an earlier one.
    pub resumed: bool,
}

/// The plan and state of an export, saved after every finished part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    topic: String,
    format: Format,
    codec: AvroCodec,
    from: Option<String>,
    to: Option<String>,
    filter: Filter,
    part_events: u64,
    schema_fingerprint: String,
    partitions: BTreeMap<i32, PartitionState>,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PartitionState {
    start: i64,
    /// Exclusive.
    end: i64,
    /// The next offset to read.
    next: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Part {
    file: String,
    partition: i32,
    first_offset: i64,
    last_offset: i64,
    events: u64,
    bytes: u64,
}

impl Checkpoint {
    fn settings_differ(&self, other: &Checkpoint) -> Option<String> {
        let pairs = [
            ("topic", self.topic != other.topic),
            ("format", self.format != other.format),
            ("codec", self.codec != other.codec),
            ("--from", self.from != other.from),
            ("--to", self.to != other.to),
            ("filters", self.filter != other.filter),
            ("part size", self.part_events != other.part_events),
            (
                "schema",
                self.schema_fingerprint != other.schema_fingerprint,
            ),
        ];
        let differ: Vec<&str> = pairs.iter().filter(|(_, d)| *d).map(|(n, _)| *n).collect();
        (!differ.is_empty()).then(|| differ.join(", "))
    }

    fn save(&self, dir: &Path) -> Result<(), ExportError> {
        let path = dir.join(CHECKPOINT_FILE);
        let tmp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).expect("a checkpoint serializes");
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    fn load(dir: &Path) -> Result<Option<Self>, ExportError> {
        let path = dir.join(CHECKPOINT_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| ExportError::Checkpoint {
                        path,
                        reason: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// Runs (or resumes) an export. Blocking: call it from a blocking thread.
pub fn export(config: &Config, opts: &ExportOptions) -> Result<ExportReport, ExportError> {
    opts.filter.check()?;
    if opts.part_events == 0 {
        return Err(ExportError::Options(
            "--part-events must be at least 1".into(),
        ));
    }
    let topic = config.events_topic();
    let codec = EventCodec::get();
    let consumer: BaseConsumer = missive_core::kafka::base_config(config, "export")
        .set("group.id", format!("{}.export", config.kafka.topic_prefix))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // Bulk reading: fewer, larger fetches (one partition is read at a time).
        .set("max.partition.fetch.bytes", "16777216")
        .set("fetch.max.bytes", "67108864")
        .set("queued.max.messages.kbytes", "262144")
        .create()?;

    fs::create_dir_all(&opts.out).map_err(io(&opts.out))?;
    let fresh = Checkpoint {
        version: 1,
        topic: topic.clone(),
        format: opts.format,
        codec: opts.codec,
        from: opts.from.as_ref().map(ToString::to_string),
        to: opts.to.as_ref().map(ToString::to_string),
        filter: opts.filter.clone(),
        part_events: opts.part_events,
        schema_fingerprint: hex(&codec.fingerprint()),
        partitions: BTreeMap::new(),
        parts: Vec::new(),
    };
    let (mut checkpoint, resumed) = match Checkpoint::load(&opts.out)? {
        Some(saved) => {
            if let Some(what) = saved.settings_differ(&fresh) {
                return Err(ExportError::Mismatch {
                    dir: opts.out.clone(),
                    what,
                });
            }
            remove_partials(&opts.out)?;
            (saved, true)
        }
        None => {
            if fs::read_dir(&opts.out)
                .map_err(io(&opts.out))?
                .next()
                .is_some()
            {
                return Err(ExportError::NotEmpty(opts.out.clone()));
            }
            let mut c = fresh;
            c.partitions = plan(&consumer, &topic, opts)?;
            c.save(&opts.out)?;
            (c, false)
        }
    };

    let total: i64 = checkpoint
        .partitions
        .values()
        .map(|p| p.end - p.start)
        .sum();
    let done: i64 = checkpoint
        .partitions
        .values()
        .map(|p| p.next - p.start)
        .sum();
    let progress = Progress::new("events", total.max(0) as u64);
    progress.resume_at(done.max(0) as u64);
    if resumed {
        progress.println(format!(
            "resuming: {done} of {total} records already exported in {} files",
            checkpoint.parts.len()
        ));
    }

    let time_from = match &opts.from {
        Some(Bound::Time(t)) => Some(*t),
        _ => None,
    };
    let time_to = match &opts.to {
        Some(Bound::Time(t)) => Some(*t),
        _ => None,
    };
    let mut exported = 0;
    let mut undecodable = 0;
    let mut file_bytes = 0;
    let partitions: Vec<i32> = checkpoint.partitions.keys().copied().collect();
    for partition in partitions {
        let state = checkpoint.partitions[&partition].clone();
        if state.next >= state.end {
            continue;
        }
        let (low, high) = consumer.fetch_watermarks(&topic, partition, KAFKA_TIMEOUT)?;
        if high < state.end {
            return Err(ExportError::Truncated {
                partition,
                high,
                end: state.end,
            });
        }
        if low > state.next {
            return Err(ExportError::Gone {
                partition,
                offset: state.next,
                low,
            });
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, partition, Offset::Offset(state.next))?;
        consumer.assign(&tpl)?;

        let mut next = state.next;
        while next < state.end {
            let part_end = (next + opts.part_events as i64).min(state.end);
            let mut part = PartFile::new(&opts.out, opts, &topic, partition, next);
            while next < part_end {
                let Some(msg) = consumer.poll(KAFKA_TIMEOUT) else {
                    // Nothing for a long while below a known end: say where we are.
                    tracing::warn!(partition, next, end = state.end, "waiting for records");
                    continue;
                };
                let msg = msg?;
                if msg.partition() != partition || msg.offset() < next {
                    continue;
                }
                // Offsets may skip (transaction markers, compaction).
                next = msg.offset() + 1;
                let payload = msg.payload().unwrap_or_default();
                progress.advance(1, payload.len() as u64);
                let env = match codec.decode_framed(payload, &opts.schema_ids) {
                    Ok(env) => env,
                    Err(e) => {
                        undecodable += 1;
                        tracing::warn!(partition, offset = msg.offset(), error = %e, "skipping an undecodable record");
                        continue;
                    }
                };
                if time_from.is_some_and(|t| env.occurred_at < t)
                    || time_to.is_some_and(|t| env.occurred_at >= t)
                    || !opts.filter.keeps(&env.event)
                {
                    continue;
                }
                part.write(&env)?;
                exported += 1;
            }
            if let Some(done) = part.finish(next - 1)? {
                file_bytes += done.bytes;
                checkpoint.parts.push(done);
            }
            checkpoint
                .partitions
                .get_mut(&partition)
                .expect("planned partition")
                .next = next;
            checkpoint.save(&opts.out)?;
        }
    }
    consumer.unassign()?;
    let scanned = progress.finish();
    Ok(ExportReport {
        scanned,
        exported,
        undecodable,
        file_bytes,
        files: checkpoint
            .parts
            .iter()
            .map(|p| opts.out.join(&p.file))
            .collect(),
        resumed,
    })
}

/// Per partition: `[start, end)` offsets from the bounds and the watermarks.
fn plan(
    consumer: &BaseConsumer,
    topic: &str,
    opts: &ExportOptions,
) -> Result<BTreeMap<i32, PartitionState>, ExportError> {
    let md = consumer.fetch_metadata(Some(topic), KAFKA_TIMEOUT)?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| ExportError::Options(format!("topic {topic} does not exist")))?;
    let mut out = BTreeMap::new();
    let ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    for bound in [&opts.from, &opts.to].into_iter().flatten() {
        if let Bound::Offsets(m) = bound {
            if let Some(p) = m.keys().find(|p| !ids.contains(p)) {
                return Err(ExportError::Options(format!(
                    "partition {p} is not a partition of {topic} ({ids:?})"
                )));
            }
        }
    }
    // A time start is looked up in the broker's time index (to skip what
    // precedes it); a time end is not: record timestamps are producer
    // clocks, so the index can only bound the end loosely, and reading to
    // the log's end is always right. Either way `occurred_at` decides exactly.
    let starts = times(consumer, topic, &ids, &opts.from, -TIME_SLACK_MS)?;
    for p in ids {
        let (low, high) = consumer.fetch_watermarks(topic, p, KAFKA_TIMEOUT)?;
        let clamp = |o: i64| o.clamp(low, high);
        let start = match &opts.from {
            None => low,
            Some(Bound::Offset(o)) => clamp(*o),
            Some(Bound::Offsets(m)) => m.get(&p).map_or(low, |o| clamp(*o)),
            Some(Bound::Time(_)) => starts.get(&p).copied().map_or(low, clamp),
        };
        let end = match &opts.to {
            None => high,
            Some(Bound::Offset(o)) => clamp(*o),
            Some(Bound::Offsets(m)) => m.get(&p).map_or(high, |o| clamp(*o)),
            Some(Bound::Time(_)) => high,
        };
        let end = end.max(start);
        out.insert(
            p,
            PartitionState {
                start,
                end,
                next: start,
            },
        );
    }
    Ok(out)
}

/// The first offset at or after a time bound (moved by `slack`), per
/// partition; absent where the broker has none (the log's start applies).
fn times(
    consumer: &BaseConsumer,
    topic: &str,
    ids: &[i32],
    bound: &Option<Bound>,
    slack: i64,
) -> Result<BTreeMap<i32, i64>, ExportError> {
    let Some(Bound::Time(t)) = bound else {
        return Ok(BTreeMap::new());
    };
    let mut tpl = TopicPartitionList::new();
    for p in ids {
        tpl.add_partition_offset(topic, *p, Offset::Offset((t + slack).max(0)))?;
    }
    let found = consumer.offsets_for_times(tpl, KAFKA_TIMEOUT)?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

fn remove_partials(dir: &Path) -> Result<(), ExportError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(PARTIAL_SUFFIX))
        {
            fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One part being written: opened at its first event, so a part whose
/// records are all filtered out leaves no file.
struct PartFile<'a> {
    dir: &'a Path,
    opts: &'a ExportOptions,
    topic: &'a str,
    partition: i32,
    first_offset: i64,
    events: u64,
    /// Where it is written until complete.
    partial: PathBuf,
    sink: Option<Sink>,
}

enum Sink {
    Avro(Box<Writer<'static, BufWriter<File>>>),
    Jsonl(BufWriter<File>),
}

impl<'a> PartFile<'a> {
    fn new(
        dir: &'a Path,
        opts: &'a ExportOptions,
        topic: &'a str,
        partition: i32,
        first_offset: i64,
    ) -> Self {
        let mut part = Self {
            dir,
            opts,
            topic,
            partition,
            first_offset,
            events: 0,
            partial: PathBuf::new(),
            sink: None,
        };
        part.partial = dir.join(format!("{}{PARTIAL_SUFFIX}", part.name()));
        part
    }

    fn name(&self) -> String {
        format!(
            "events-p{:03}-{:020}.{}",
            self.partition,
            self.first_offset,
            self.opts.format.extension()
        )
    }

    fn write(&mut self, env: &Envelope) -> Result<(), ExportError> {
        if self.sink.is_none() {
            let path = &self.partial;
            let file = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io(path))?);
            self.sink = Some(match self.opts.format {
                Format::Avro => {
                    let codec = match self.opts.codec {
                        AvroCodec::Null => Codec::Null,
                        AvroCodec::Deflate => Codec::Deflate(Default::default()),
                    };
                    let mut w = Writer::with_codec(EventCodec::get().schema(), file, codec);
                    // Provenance, for whoever finds the file later.
                    for (k, v) in [
                        ("missive.topic", self.topic.to_owned()),
                        ("missive.partition", self.partition.to_string()),
                        ("missive.first_offset", self.first_offset.to_string()),
                    ] {
                        w.add_user_metadata(k.to_owned(), v)
                            .map_err(|e| ExportError::Avro(e.to_string()))?;
                    }
                    Sink::Avro(Box::new(w))
                }
                Format::Jsonl => Sink::Jsonl(file),
            });
        }
        let path = &self.partial;
        match self.sink.as_mut().expect("opened above") {
            Sink::Avro(w) => {
                w.append_value_ref(&env.to_value())
                    .map_err(|e| ExportError::Avro(e.to_string()))?;
            }
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, env)
                    .map_err(|e| io(path)(std::io::Error::other(e)))?;
                w.write_all(b"\n").map_err(io(path))?;
            }
        }
        self.events += 1;
        Ok(())
    }

    /// Completes the file (flush, fsync, rename); `None` if it had no events.
    fn finish(self, last_offset: i64) -> Result<Option<Part>, ExportError> {
        let partial = self.partial.clone();
        let name = self.name();
        let file = match self.sink {
            None => return Ok(None),
            Some(Sink::Avro(w)) => w
                .into_inner()
                .map_err(|e| ExportError::Avro(e.to_string()))?,
            Some(Sink::Jsonl(w)) => w,
        };
        let file = file
            .into_inner()
            .map_err(|e| io(&partial)(e.into_error()))?;
        file.sync_all().map_err(io(&partial))?;
        let bytes = file.metadata().map_err(io(&partial))?.len();
        let done = self.dir.join(&name);
        fs::rename(&partial, &done).map_err(io(&done))?;
        Ok(Some(Part {
            file: name,
            partition: self.partition,
            first_offset: self.first_offset,
            last_offset,
            events: self.events,
            bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_precisely() {
        assert_eq!("42".parse::<Bound>().unwrap(), Bound::Offset(42));
        assert_eq!(
            "0:10, 3:7".parse::<Bound>().unwrap(),
            Bound::Offsets(BTreeMap::from([(0, 10), (3, 7)]))
        );
        assert_eq!(
            "2023-11-14T22:13:20Z".parse::<Bound>().unwrap(),
            Bound::Time(1_700_000_000_000)
        );
        assert_eq!(
            "2023-11-15T06:13:20.5+08:00".parse::<Bound>().unwrap(),
            Bound::Time(1_700_000_000_500)
        );
        for bad in ["-1", "0:x", "0:1,0:2", "yesterday", "2023-13-01T00:00:00Z"] {
            assert!(bad.parse::<Bound>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_need_every_given_set_to_match() {
        let env = missive_schemas::samples::text_message();
        let f = |kinds: &[&str], users: &[&str], convs: &[&str]| Filter {
            kinds: kinds.iter().map(|s| s.to_string()).collect(),
            users: users.iter().map(|s| s.to_string()).collect(),
            conversations: convs.iter().map(|s| s.to_string()).collect(),
        };
        assert!(f(&[], &[], &[]).keeps(&env.event));
        assert!(f(&["MessageSent"], &["bob"], &["alice:bob"]).keeps(&env.event));
        assert!(!f(&["FriendAdded"], &[], &[]).keeps(&env.event));
        assert!(!f(&[], &["carol"], &[]).keeps(&env.event));
        assert!(!f(&[], &[], &["bob:carol"]).keeps(&env.event));
        assert!(f(&["Nope"], &[], &[]).check().is_err());
        assert!(f(&[], &[], &["bob:alice"]).check().is_err());
    }
}
