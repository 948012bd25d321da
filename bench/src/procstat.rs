//! CPU time and resident memory of the processes a run involves, from
//! `/proc` (Linux): this process (missive's services run in it), tansu and
//! every PostgreSQL process, so a report can say where the cores went.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// Per process group: CPU seconds used so far and resident MiB now.
#[derive(Debug, Clone, Default)]
pub struct Sample(BTreeMap<&'static str, (f64, f64)>);

fn group_of(pid: u32, comm: &str) -> Option<&'static str> {
    if pid == std::process::id() {
        Some("missive (bench process)")
    } else if comm.starts_with("tansu") {
        Some("tansu")
    } else if comm.starts_with("postgres") {
        Some("postgresql")
    } else {
        None
    }
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

    /// CPU used between `start` and `self` (in cores, over `seconds`) and
    /// the resident memory at `self`, per group.
    pub fn since(&self, start: &Sample, seconds: f64) -> Value {
        let mut out = serde_json::Map::new();
        for (g, (cpu, rss)) in &self.0 {
            let before = start.0.get(g).map_or(0.0, |s| s.0);
            out.insert(
                (*g).to_owned(),
                json!({
                    "cpu_cores": ((cpu - before) / seconds.max(1e-3) * 100.0).round() / 100.0,
                    "rss_mib": rss.round(),
                }),
            );
        }
        Value::Object(out)
    }
}
