//! The summary table: missive's figures beside the raw limits measured in
//! the same run, as ratios.

use serde_json::{json, Value};

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn rate(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| {
        let v = v.round() as i64;
        // Thousands separators: figures are read, not parsed.
        let s = v.abs().to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0 {
            format!("-{out}")
        } else {
            out
        }
    })
}

fn ms(v: &Value) -> String {
    v.as_f64().map_or("–".into(), |v| format!("{v:.1}"))
}

/// Errors, and the sends still unanswered when the run ended.
fn errs(v: &Value) -> String {
    match v["unanswered"].as_u64() {
        Some(n) if n > 0 => format!("{} (+{n} unanswered)", v["errors"]),
        _ => v["errors"].to_string(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}%", 100.0 * a / b),
        _ => "–".into(),
    }
}

/// Describes the machine and its state, for the report's header.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| (kib / 1024.0 / 1024.0).round());
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": model,
        "memory_gib": mem_gib,
        "load_average": load,
        "commit": commit,
        "at_unix_s": missive_core::time::now_secs(),
    })
}

/// The Markdown summary of a suite run. `reports` holds what ran, keyed by
/// scenario (`raw_produce`, `raw_consume`, `raw_copy`, `rebuild`, `steady`,
/// `ramp`, `burst`); missing figures print as "–".
pub fn markdown(reports: &Value, machine_before: &Value, machine_after: &Value) -> String {
    let r = reports;
    let produce = num(&r["raw_produce"]["records_per_s"]);
    let consume = num(&r["raw_consume"]["records_per_s"]);
    let copy_msgs = num(&r["raw_copy"]["messages_per_s"]);
    let copy_rows = num(&r["raw_copy"]["rows_per_s"]);
    let rebuilt = num(&r["rebuild"]["rebuilt_events_per_s"]);
    let projected = num(&r["rebuild"]["projected_events_per_s"]);
    let ramp = &r["ramp"]["result"];
    let best = num(&ramp["max_sustainable_rate"]);
    let best_accepted = num(&ramp["at_max"]["accepted_per_s"]);
    let steady = &r["steady"]["result"];
    let steady_acc = num(&steady["accepted_per_s"]);
    let burst = &r["burst"]["result"];
    // The tighter of the two raw limits on missive's write path.
    let write_limit = match (produce, copy_msgs) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => p.or(c),
    };

    let mut s = String::new();
    s.push_str("# missive-bench summary\n\n");
    s.push_str(&format!(
        "Machine: {} cores ({}), {} GiB; load average {} before, {} after; commit {}.\n\n",
        machine_before["cores"],
        machine_before["cpu"].as_str().unwrap_or("?"),
        machine_before["memory_gib"],
        machine_before["load_average"].as_str().unwrap_or("?"),
        machine_after["load_average"].as_str().unwrap_or("?"),
        machine_before["commit"].as_str().unwrap_or("?"),
    ));
    // Suites since session 14 run each limit more than once and keep the
    // fastest run; the detail lists them all.
    let runs = |key: &str| match r[key]["runs_per_s"].as_array() {
        Some(all) if all.len() > 1 => format!(
            "; the fastest of {} runs: {}",
            all.len(),
            all.iter()
                .map(|v| rate(v.as_f64()))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        _ => String::new(),
    };
    s.push_str("## Raw limits of this box (no missive code)\n\n");
    s.push_str("| limit | rate | detail |\n|---|---|---|\n");
    s.push_str(&format!(
        "| broker produce (rdkafka, `acks=all`, idempotent, lz4) | {} records/s | {} B records (encoded `MessageSent`){} |\n",
        rate(produce),
        r["raw_produce"]["record_bytes_avg"],
        runs("raw_produce")
    ));
    s.push_str(&format!(
        "| broker consume (rdkafka) | {} records/s | the same records{} |\n",
        rate(consume),
        runs("raw_consume")
    ));
    s.push_str(&format!(
        "| PostgreSQL binary COPY into `messages` + `inbox` | {} messages/s | {} rows/s: 1 history + 2 inbox rows per message, {}-message transactions{} |\n\n",
        rate(copy_msgs),
        rate(copy_rows),
        r["raw_copy"]["batch"],
        runs("raw_copy")
    ));

    s.push_str("## missive against those limits\n\n");
    s.push_str("| figure | missive | raw limit | ratio |\n|---|---|---|---|\n");
    let mut row = |name: &str, value: String, limit: String, ratio: String| {
        s.push_str(&format!("| {name} | {value} | {limit} | {ratio} |\n"));
    };
    let loops = |key: &str| match r["rebuild"][key].as_u64() {
        Some(1) => ", 1 loop".to_owned(),
        Some(n) => format!(", {n} loops"),
        None => String::new(),
    };
    // Reports before step 28 carry no replay batch: it was 5000 then.
    let batch = |key: &str, before: &str| {
        r["rebuild"][key]
            .as_u64()
            .map_or_else(|| before.to_owned(), |b| b.to_string())
    };
    row(
        &format!(
            "rebuild (`missive replay`, batch {}{}), events/s",
            batch("rebuilt_batch", "5000"),
            loops("rebuilt_loops")
        ),
        rate(rebuilt),
        format!("COPY {} msg/s", rate(copy_msgs)),
        ratio(rebuilt, copy_msgs),
    );
    row(
        "rebuild, events/s vs broker consume",
        rate(rebuilt),
        format!("consume {} rec/s", rate(consume)),
        ratio(rebuilt, consume),
    );
    row(
        &format!(
            "projected from a backlog (batch {}{}{}), events/s",
            batch("projected_batch", "1000"),
            loops("projected_loops"),
            // Reports before step 30 ran the backlog through a replay loop.
            match r["rebuild"]["projected_catch_up_loops"].as_u64() {
                Some(n) => format!(", {n} catch-up while behind: the service"),
                None => String::new(),
            }
        ),
        rate(projected),
        format!("COPY {} msg/s", rate(copy_msgs)),
        ratio(projected, copy_msgs),
    );
    row(
        &format!(
            "max sustainable send rate (ramp: p99 send→push < {} ms, no growing lag), msg/s",
            num(&r["ramp"]["criteria"]["p99_ms"]).unwrap_or(0.0)
        ),
        rate(best),
        format!("produce {} rec/s", rate(produce)),
        ratio(best, produce),
    );
    row(
        "max sustainable send rate vs the tighter write limit",
        rate(best),
        format!("min(produce, COPY) {}/s", rate(write_limit)),
        ratio(best, write_limit),
    );
    row(
        "accepted msg/s at the max sustainable rate",
        rate(best_accepted),
        format!("produce {} rec/s", rate(produce)),
        ratio(best_accepted, produce),
    );
    row(
        &format!(
            "steady: accepted msg/s with {} offered",
            rate(num(&steady["offered_rate"]))
        ),
        rate(steady_acc),
        format!("produce {} rec/s", rate(produce)),
        ratio(steady_acc, produce),
    );

    s.push_str("\n## Latency and lag\n\n");
    s.push_str(
        "| run | accepted msg/s | errors | send ack p50 / p99 ms | send→push p50 / p90 / p99 / p99.9 ms | projector lag |\n|---|---|---|---|---|---|\n",
    );
    let lat = |label: String,
               acc: Option<f64>,
               errors: String,
               ack: &Value,
               push: &Value,
               lag: String| {
        format!(
            "| {label} | {} | {} | {} / {} | {} / {} / {} / {} | {lag} |\n",
            rate(acc),
            errors,
            ms(&ack["p50_ms"]),
            ms(&ack["p99_ms"]),
            ms(&push["p50_ms"]),
            ms(&push["p90_ms"]),
            ms(&push["p99_ms"]),
            ms(&push["p99_9_ms"]),
        )
    };
    // The reference run at issue #17's rate (1,000/s, `target`), the same
    // with offline push (`target_push`), then the overload run (`steady`).
    for key in ["target", "target_push", "steady"] {
        let run = &r[key]["result"];
        if run.is_null() {
            continue;
        }
        s.push_str(&lat(
            format!(
                "steady {}/s, {} s{}",
                rate(num(&run["offered_rate"])),
                r[key]["phases"][0]["seconds"],
                push_note(&r[key]["options"])
            ),
            num(&run["accepted_per_s"]),
            errs(run),
            &run["send_ack"],
            &run["send_to_push"],
            if run["drained"] == true {
                format!(
                    "max {} events; drained {} s after the last send",
                    rate(num(&run["lag_max"])),
                    ms(&run["drain_s"])
                )
            } else {
                format!(
                    "max {} events; **not drained** {} s after the last send ({} events left)",
                    rate(num(&run["lag_max"])),
                    ms(&run["drain_s"]),
                    rate(num(&r[key]["drain"]["lag_left"]))
                )
            },
        ));
    }
    for step in r["ramp"]["phases"].as_array().into_iter().flatten() {
        s.push_str(&lat(
            format!(
                "ramp {}/s{}",
                rate(num(&step["offered_rate"])),
                if step["sustainable"] == true {
                    ""
                } else {
                    " ✗"
                }
            ),
            num(&step["accepted_per_s"]),
            errs(step),
            &step["send_ack"],
            &step["send_to_push"],
            format!(
                "max {}, slope {}/s",
                rate(num(&step["lag"]["max"])),
                step["lag"]["slope_per_s"]
            ),
        ));
    }
    for p in r["burst"]["phases"].as_array().into_iter().flatten() {
        s.push_str(&lat(
            format!(
                "burst: {} {}/s × {} s",
                p["label"].as_str().unwrap_or("?"),
                rate(num(&p["offered_rate"])),
                p["seconds"]
            ),
            num(&p["accepted_per_s"]),
            errs(p),
            &p["send_ack"],
            &p["send_to_push"],
            format!("max {}", rate(num(&p["lag"]["max"]))),
        ));
    }
    if !burst.is_null() {
        let drain = match num(&burst["drain_s_after_burst"]) {
            Some(d) if burst["drained_under_base_load"] == true => {
                format!("{d:.1} s after the burst, under the base load")
            }
            Some(d) => format!(
                "{d:.1} s after the burst, only once the load stopped ({} s of base load after it)",
                r["burst"]["phases"][2]["seconds"]
            ),
            None => format!(
                "**not drained**: {} events left {} s after the load stopped",
                rate(num(&r["burst"]["drain"]["lag_left"])),
                ms(&r["burst"]["drain"]["seconds"])
            ),
        };
        s.push_str(&format!(
            "\nBurst: {} msg/s for {} s on a base of {} msg/s: peak lag {} events (base alone: {}); drained {drain}.\n",
            rate(num(&burst["burst_rate"])),
            burst["burst_seconds"],
            rate(num(&burst["base_rate"])),
            rate(num(&burst["peak_lag"])),
            rate(num(&burst["lag_before_max"])),
        ));
    }

    // Where the cores went: per process group, cores and CPU milliseconds
    // per accepted message, for each load run that has them.
    let mut cpu_runs: Vec<(String, &Value, &Value)> = Vec::new();
    if ramp["at_max"]["processes"].is_object() {
        cpu_runs.push((
            format!("the max sustainable rate ({}/s)", rate(best)),
            &ramp["at_max"]["processes"],
            &r["ramp"]["options"],
        ));
    }
    for key in ["target", "target_push", "steady"] {
        if r[key]["phases"][0]["processes"].is_object() {
            cpu_runs.push((
                format!(
                    "steady {}/s{}",
                    rate(num(&r[key]["result"]["offered_rate"])),
                    push_note(&r[key]["options"])
                ),
                &r[key]["phases"][0]["processes"],
                &r[key]["options"],
            ));
        }
    }
    for (when, procs, options) in cpu_runs {
        s.push_str(&format!(
            "\n## CPU and memory at {when}\n\n{}\n\n| process | CPU (cores) | CPU ms per message | resident MiB |\n|---|---|---|---|\n",
            services_note(options)
        ));
        for (name, p) in procs.as_object().into_iter().flatten() {
            s.push_str(&format!(
                "| {name} | {} | {} | {} |\n",
                p["cpu_cores"],
                ms3(&p["cpu_ms_per_msg"]),
                p["rss_mib"]
            ));
        }
    }
    if !r["flat"].is_null() {
        s.push_str(&flat_section(&r["flat"]));
    }
    s.push_str(
        "\nCPU is measured over each run's sending window from /proc; PostgreSQL's resident memory is summed over its processes, so shared buffers count once per backend, and its CPU is the run's cluster's (the postmaster, its backends and background processes, and those that ended, through the postmaster's reaped-children time).\n",
    );
    s
}

/// How a run with offline push on says so (`--offline-push`), with the
/// notifications the fake vendor accepted.
fn push_note(options: &Value) -> String {
    if options["offline_push"] == true {
        format!(
            " with offline push ({} notifications)",
            rate(num(&options["push_notifications_accepted"]))
        )
    } else {
        String::new()
    }
}

fn ms3(v: &Value) -> String {
    v.as_f64().map_or("–".into(), |v| format!("{v:.3}"))
}

/// Which mode ran the services (and whether the database held history).
fn services_note(options: &Value) -> String {
    let mode = options["services_mode"]
        .as_str()
        .unwrap_or("services in the bench process, beside the load generator");
    match options["prefill"]["messages"].as_u64() {
        Some(n) if n > 0 => format!(
            "Mode: {mode}; {} messages between {} users stored before the run.",
            rate(Some(n as f64)),
            rate(num(&options["prefill"]["users"]))
        ),
        _ => format!("Mode: {mode}; empty database."),
    }
}

/// The flat-cost comparison: the same steady run, empty, prefilled and
/// empty again (`scenarios::flat`).
fn flat_section(flat: &Value) -> String {
    let res = &flat["result"];
    let (empty, full, again) = (&res["empty"], &res["prefilled"], &res["empty_again"]);
    let ratios = crate::scenarios::flat_ratios(empty, full, again);
    let mut s = format!(
        "\n## Flat cost: {}/s for {} s, empty database vs {} messages stored between {} users\n\n{}\n\n",
        rate(num(&res["rate"])),
        res["seconds"],
        rate(num(&full["prefill"]["messages"])),
        rate(num(&full["prefill"]["users"])),
        services_note(&flat["options"])
            .split(';')
            .next()
            .unwrap_or_default()
    );
    s.push_str(&format!(
        "Run in this order, each on a fresh database. The prefilled run is compared with the mean \
         of the empty runs around it; *empty again / empty* is the box's drift between them, and the \
         last column divides out the drift the {} shows (its work does not depend on what is stored). \
         Issue #17 asks for at most 1.10.\n\n",
        crate::scenarios::FLAT_CONTROL
    ));
    s.push_str(
        "| figure | empty | prefilled | empty again | prefilled / empties | empty again / empty | ÷ control |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let two = |v: &Value| v.as_f64().map_or_else(|| "–".into(), |x| format!("{x:.2}"));
    let row = |label: String, key: String, cells: [String; 3]| {
        let r = &ratios[key.as_str()];
        format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            cells[0],
            cells[1],
            cells[2],
            two(&r["prefilled_over_empties"]),
            two(&r["empty_again_over_empty"]),
            two(&r["over_control"])
        )
    };
    for (label, key) in [("send→push", "send_to_push"), ("send ack", "send_ack")] {
        s.push_str(&row(
            format!("{label} p99 ms"),
            format!("{key} p99"),
            [empty, full, again].map(|r| ms(&r[key]["p99_ms"])),
        ));
    }
    for (group, _) in full["processes"].as_object().into_iter().flatten() {
        s.push_str(&row(
            format!("CPU ms per message: {group}"),
            format!("cpu_per_msg {group}"),
            [empty, full, again].map(|r| ms3(&r["processes"][group]["cpu_ms_per_msg"])),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn ratios_to_the_raw_limits_and_dashes_for_what_did_not_run() {
        let reports = json!({
            "raw_produce": {"records_per_s": 20000.0, "record_bytes_avg": 250},
            "raw_copy": {"messages_per_s": 10000.0, "rows_per_s": 30000.0, "batch": 5000,
                         "runs_per_s": [8000.0, 10000.0]},
            "rebuild": {"rebuilt_events_per_s": 2500.0, "projected_events_per_s": 3000.0},
            "ramp": {"criteria": {"p99_ms": 100.0}, "result": {"max_sustainable_rate": 1000}},
        });
        let md = super::markdown(&reports, &super::machine(), &super::machine());
        assert!(
            md.contains("5000-message transactions; the fastest of 2 runs: 8,000 / 10,000 |"),
            "{md}"
        );
        assert!(md.contains("(encoded `MessageSent`) |"), "{md}");
        assert!(md.contains("| 2,500 | COPY 10,000 msg/s | 25.0% |"), "{md}");
        assert!(
            md.contains("| 1,000 | produce 20,000 rec/s | 5.0% |"),
            "{md}"
        );
        // min(produce, COPY) is the tighter write limit.
        assert!(
            md.contains("| 1,000 | min(produce, COPY) 10,000/s | 10.0% |"),
            "{md}"
        );
        assert!(md.contains("consume – rec/s | – |"), "{md}");
    }

    #[test]
    fn cpu_per_message_and_the_flat_comparison_name_the_mode() {
        let procs = |ms: f64| {
            json!({"postgresql": {"cpu_cores": 0.5, "cpu_ms_per_msg": ms, "rss_mib": 900.0},
                   "missive (services)": {"cpu_cores": 0.4, "cpu_ms_per_msg": 1.0, "rss_mib": 40.0}})
        };
        let options = json!({"services_mode": "services in a `missive dev` child process; load generator apart",
                             "prefill": {"messages": 1000000, "users": 10000}});
        let run = |stored: u64, ms: f64| {
            json!({"prefill": {"messages": stored, "users": 10000},
                   "send_to_push": {"p50_ms": 20.0, "p99_ms": 40.0},
                   "send_ack": {"p50_ms": 5.0, "p99_ms": 10.0},
                   "processes": procs(ms)})
        };
        // The flat runs also measure the load generator, the drift control.
        let flat_run = |stored: u64, ms: f64, generator: f64| {
            let mut r = run(stored, ms);
            r["processes"][crate::scenarios::FLAT_CONTROL] =
                json!({"cpu_cores": 0.1, "cpu_ms_per_msg": generator, "rss_mib": 70.0});
            r
        };
        let reports = json!({
            "target": {"options": options,
                       "result": {"offered_rate": 1000, "accepted_per_s": 998.0, "errors": 0,
                                  "send_ack": {"p50_ms": 4.0, "p99_ms": 9.0},
                                  "send_to_push": {"p50_ms": 6.0, "p90_ms": 12.0, "p99_ms": 31.0, "p99_9_ms": 44.0},
                                  "lag_max": 12, "drained": true, "drain_s": 0.2},
                       "phases": [{"seconds": 60, "processes": procs(0.7)}]},
            "target_push": {"options": {"services_mode": "services in a `missive dev` child process; load generator apart",
                                        "prefill": {"messages": 0}, "offline_push": true,
                                        "push_notifications_accepted": 12000},
                            "result": {"offered_rate": 1000, "accepted_per_s": 999.0, "errors": 0,
                                       "send_ack": {"p50_ms": 4.5, "p99_ms": 9.5},
                                       "send_to_push": {"p50_ms": 7.0, "p90_ms": 13.0, "p99_ms": 35.0, "p99_9_ms": 50.0},
                                       "lag_max": 14, "drained": true, "drain_s": 0.3},
                            "phases": [{"seconds": 60, "processes": procs(0.8)}]},
            "steady": {"options": {"services_mode": "services in the bench process, beside the load generator",
                                   "prefill": {"messages": 0}},
                       "result": {"offered_rate": 400},
                       "phases": [{"seconds": 60, "processes": procs(1.5)}]},
            "flat": {"options": options,
                     "result": {"rate": 400, "seconds": 60, "empty": flat_run(0, 1.4, 0.2),
                                "prefilled": flat_run(1000000, 1.65, 0.22),
                                "empty_again": flat_run(0, 1.6, 0.2)}},
        });
        let md = super::markdown(&reports, &super::machine(), &super::machine());
        assert!(md.contains("## CPU and memory at steady 400/s"), "{md}");
        // The reference run with offline push says so, in both tables.
        assert!(
            md.contains("| steady 1,000/s, 60 s with offline push (12,000 notifications) | 999 | 0 | 4.5 / 9.5 | 7.0 / 13.0 / 35.0 / 50.0 |"),
            "{md}"
        );
        assert!(
            md.contains(
                "## CPU and memory at steady 1,000/s with offline push (12,000 notifications)"
            ),
            "{md}"
        );
        // The reference run at 1,000/s: its latency row and its own CPU table.
        assert!(
            md.contains("| steady 1,000/s, 60 s | 998 | 0 | 4.0 / 9.0 | 6.0 / 12.0 / 31.0 / 44.0 | max 12 events; drained 0.2 s after the last send |"),
            "{md}"
        );
        assert!(md.contains("## CPU and memory at steady 1,000/s"), "{md}");
        assert!(md.contains("| postgresql | 0.5 | 0.700 | 900.0 |"), "{md}");
        assert!(
            md.contains(
                "Mode: services in the bench process, beside the load generator; empty database."
            ),
            "{md}"
        );
        assert!(md.contains("| postgresql | 0.5 | 1.500 | 900.0 |"), "{md}");
        assert!(
            md.contains("empty database vs 1,000,000 messages stored between 10,000 users"),
            "{md}"
        );
        // PostgreSQL: 1.65 over the empties' mean 1.5, the empties drifted
        // 1.6 / 1.4, and the load generator's 1.10 divides out to 1.00.
        assert!(
            md.contains(
                "| CPU ms per message: postgresql | 1.400 | 1.650 | 1.600 | 1.10 | 1.14 | 1.00 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| CPU ms per message: load generator (bench process) | 0.200 | 0.220 | 0.200 | 1.10 | 1.00 | 1.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| send→push p99 ms | 40.0 | 40.0 | 40.0 | 1.00 | 1.00 | 0.91 |"),
            "{md}"
        );
    }
}
