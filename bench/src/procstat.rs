//! CPU time and resident memory of the processes a run involves, from
//! `/proc` (Linux): this process (the load generator, and missive's services
//! when they run in it), missive's services in their own process (a child,
//! or any `missive` process when they run apart), the broker (Apache Kafka's
//! `java` process, or tansu) and every PostgreSQL process, so a report can
//! say where the cores went.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// Per process group: CPU seconds used so far and resident MiB now.
#[derive(Debug, Clone, Default)]
pub struct Sample(BTreeMap<&'static str, (f64, f64)>);

/// Where missive's services run, hence what each process is.
#[derive(Clone, Copy)]
enum Services {
    InProcess,
    Child(u32),
    External,
}

static SERVICES: Mutex<Services> = Mutex::new(Services::InProcess);

/// The services run in the child process `pid`.
pub fn services_in_child(pid: u32) {
    *SERVICES.lock().expect("services") = Services::Child(pid);
}

/// The services run apart, already started: any `missive` process is them.
pub fn services_external() {
    *SERVICES.lock().expect("services") = Services::External;
}

pub const MISSIVE: &str = "missive (services)";
pub const BENCH_WITH_MISSIVE: &str = "missive + load generator (bench process)";
pub const LOAD_GENERATOR: &str = "load generator (bench process)";
pub const BROKER_KAFKA: &str = "broker (Apache Kafka)";
pub const BROKER_TANSU: &str = "broker (tansu)";
pub const POSTGRESQL: &str = "postgresql";

fn group_of(pid: u32, comm: &str) -> Option<&'static str> {
    let services = *SERVICES.lock().expect("services");
    if pid == std::process::id() {
        Some(match services {
            Services::InProcess => BENCH_WITH_MISSIVE,
            _ => LOAD_GENERATOR,
        })
    } else if matches!(services, Services::Child(c) if c == pid)
        || (matches!(services, Services::External) && comm == "missive")
    {
        Some(MISSIVE)
    } else if comm.starts_with("tansu") {
        Some(BROKER_TANSU)
    } else if comm == "java" && is_kafka_broker(pid) {
        Some(BROKER_KAFKA)
    } else if comm.starts_with("postgres") {
        Some(POSTGRESQL)
    } else {
        None
    }
}

/// A JVM running Apache Kafka's broker (main class `kafka.Kafka`).
fn is_kafka_broker(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| runs_kafka(&c))
}

/// Whether a NUL-separated command line names `kafka.Kafka` as an argument.
fn runs_kafka(cmdline: &[u8]) -> bool {
    cmdline.split(|b| *b == 0).any(|arg| arg == b"kafka.Kafka")
}

/// (cpu seconds, resident MiB) of one process, if it is still there.
fn read(pid: u32) -> Option<(String, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm is in parentheses and may hold spaces: split after the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line (11 and 12 here).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Some((comm, ticks / TICKS_PER_SEC, rss_kib / 1024.0))
}

impl Sample {
    pub fn now() -> Self {
        let mut groups: BTreeMap<&'static str, (f64, f64)> = BTreeMap::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Self(groups);
        };
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((comm, cpu, rss)) = read(pid) else {
                continue;
            };
            if let Some(g) = group_of(pid, &comm) {
                let e = groups.entry(g).or_default();
                e.0 += cpu;
                e.1 += rss;
            }
        }
        Self(groups)
    }

    /// CPU used between `start` and `self` (seconds, and cores over
    /// `seconds`) and the resident memory at `self`, per group.
    pub fn since(&self, start: &Sample, seconds: f64) -> Value {
        let mut out = serde_json::Map::new();
        for (g, (cpu, rss)) in &self.0 {
            let before = start.0.get(g).map_or(0.0, |s| s.0);
            out.insert(
                (*g).to_owned(),
                json!({
                    "cpu_seconds": ((cpu - before) * 100.0).round() / 100.0,
                    "cpu_cores": ((cpu - before) / seconds.max(1e-3) * 100.0).round() / 100.0,
                    "rss_mib": rss.round(),
                }),
            );
        }
        Value::Object(out)
    }
}

/// Adds each group's CPU milliseconds per message (`cpu_ms_per_msg`) to a
/// phase's `processes`, for `messages` messages accepted in the phase.
pub fn per_message(processes: &Value, messages: u64) -> Value {
    let mut out = processes.clone();
    if let Some(groups) = out.as_object_mut() {
        for p in groups.values_mut() {
            let secs = p["cpu_seconds"].as_f64().unwrap_or(0.0);
            p["cpu_ms_per_msg"] = if messages > 0 {
                json!((secs * 1000.0 / messages as f64 * 1000.0).round() / 1000.0)
            } else {
                Value::Null
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::runs_kafka;

    #[test]
    fn a_jvm_is_the_broker_only_when_it_runs_kafka_kafka() {
        let broker =
            b"java\0-Xmx1G\0-cp\0/opt/kafka/libs/*\0kafka.Kafka\0config/server.properties\0";
        assert!(runs_kafka(broker));
        let other = b"java\0-cp\0/opt/kafka/libs/*\0kafka.tools.ConsoleConsumer\0";
        assert!(!runs_kafka(other));
        assert!(!runs_kafka(b""));
    }
}
