//! CPU time and resident memory of the processes a run involves, from
//! `/proc` (Linux): this process (the load generator, and missive's services
//! when they run in it), missive's services in their own process (a child,
//! or any `missive` process when they run apart), the broker (Apache Kafka's
//! `java` process, or tansu) and the PostgreSQL cluster the run uses, so a
//! report can say where the cores went.
//!
//! Counted per process: a process that ends between two samples takes its
//! CPU with it (a sum per group would then shrink, even below zero), so a
//! phase adds each process's own growth, and PostgreSQL's backends that
//! ended are counted through the postmaster's reaped-children time.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// Per process: its group, CPU seconds used so far and resident MiB now.
/// PostgreSQL's postmaster counts its own time plus its ended children's.
#[derive(Debug, Clone, Default)]
pub struct Sample(BTreeMap<u32, (&'static str, f64, f64)>);

/// Where missive's services run, hence what each process is.
#[derive(Clone, Copy)]
enum Services {
    InProcess,
    Child(u32),
    External,
}

static SERVICES: Mutex<Services> = Mutex::new(Services::InProcess);

/// The postmaster of the run's PostgreSQL cluster, once known: only it and
/// its children count, not another cluster on the box (a test suite's).
static POSTMASTER: Mutex<Option<u32>> = Mutex::new(None);

/// Counts only the cluster whose data directory is `data_directory` (the
/// server's `data_directory` setting; its `postmaster.pid` names the
/// postmaster). Without it, or if that file cannot be read, every
/// PostgreSQL process on the box counts.
pub fn postgresql_cluster(data_directory: &str) {
    let pid = std::fs::read_to_string(std::path::Path::new(data_directory).join("postmaster.pid"))
        .ok()
        .and_then(|f| f.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
    *POSTMASTER.lock().expect("postmaster") = pid;
}

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

fn group_of(pid: u32, ppid: u32, comm: &str) -> Option<&'static str> {
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
        match *POSTMASTER.lock().expect("postmaster") {
            Some(postmaster) if pid != postmaster && ppid != postmaster => None,
            _ => Some(POSTGRESQL),
        }
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

/// (comm, parent, own cpu seconds, reaped children's cpu seconds, resident
/// MiB) of one process, if it is still there.
fn read(pid: u32) -> Option<(String, u32, f64, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm is in parentheses and may hold spaces: split after the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // ppid is field 4 of the full line (1 here); utime and stime 14 and 15,
    // cutime and cstime (children waited for) 16 and 17.
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let ppid = fields.get(1)?.parse::<u32>().ok()?;
    let ticks = field(11)? + field(12)?;
    let reaped = field(13)? + field(14)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Some((
        comm,
        ppid,
        ticks / TICKS_PER_SEC,
        reaped / TICKS_PER_SEC,
        rss_kib / 1024.0,
    ))
}

impl Sample {
    pub fn now() -> Self {
        let mut processes = BTreeMap::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Self(processes);
        };
        let postmaster = *POSTMASTER.lock().expect("postmaster");
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((comm, ppid, cpu, reaped, rss)) = read(pid) else {
                continue;
            };
            if let Some(g) = group_of(pid, ppid, &comm) {
                // Backends that ended were reaped by the postmaster.
                let cpu = if Some(pid) == postmaster {
                    cpu + reaped
                } else {
                    cpu
                };
                processes.insert(pid, (g, cpu, rss));
            }
        }
        Self(processes)
    }

    /// CPU used between `start` and `self` (seconds, and cores over
    /// `seconds`) and the resident memory at `self`, per group.
    pub fn since(&self, start: &Sample, seconds: f64) -> Value {
        // Per group: the CPU each process used since `start` (all of it for a
        // process started since), and the memory of those alive now.
        let mut groups: BTreeMap<&'static str, (f64, f64)> = BTreeMap::new();
        for (pid, (g, cpu, rss)) in &self.0 {
            let before = start.0.get(pid).map_or(0.0, |s| s.1);
            let e = groups.entry(g).or_default();
            e.0 += (cpu - before).max(0.0);
            e.1 += rss;
        }
        let mut out = serde_json::Map::new();
        for (g, (used, rss)) in groups {
            out.insert(
                g.to_owned(),
                json!({
                    "cpu_seconds": (used * 100.0).round() / 100.0,
                    "cpu_cores": (used / seconds.max(1e-3) * 100.0).round() / 100.0,
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
    use super::{runs_kafka, Sample, POSTGRESQL};

    #[test]
    fn a_process_that_ends_or_starts_mid_phase_never_shrinks_its_group() {
        // Backend 2 ends during the phase, backend 3 starts: the group used
        // 2 s (backend 1) + 1 s (backend 3). A sum per group would say
        // (12 + 1) - (10 + 5) = -2 s.
        let start = Sample([(1, (POSTGRESQL, 10.0, 50.0)), (2, (POSTGRESQL, 5.0, 50.0))].into());
        let end = Sample([(1, (POSTGRESQL, 12.0, 60.0)), (3, (POSTGRESQL, 1.0, 40.0))].into());
        let used = end.since(&start, 10.0);
        assert_eq!(used[POSTGRESQL]["cpu_seconds"], 3.0);
        assert_eq!(used[POSTGRESQL]["cpu_cores"], 0.3);
        assert_eq!(used[POSTGRESQL]["rss_mib"], 100.0);
    }

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
