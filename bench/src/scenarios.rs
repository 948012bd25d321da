//! `steady`, `ramp` and `burst`: phases of the load harness, and what each
//! concludes from them.

use serde_json::{json, Value};

use missive_core::Config;

use crate::load::{lag_samples, lag_stats, Harness, Options};

/// Seconds of a run's unjudged warm-up.
const WARM_UP_SECONDS: u64 = 5;

/// Fresh connections, prepared statements, caches and partitions make a
/// run's first seconds slower than the rest (a fresh stack's first second of
/// 1,000 msg/s had a push p99 of 105 ms, the next ones 25-38 ms): load at
/// `rate` that no figure counts, drained before the judged phases start.
async fn warm_up(h: &mut Harness, rate: u64, seconds: u64) -> anyhow::Result<()> {
    h.phase("warm-up", rate, seconds).await?;
    h.drain().await;
    Ok(())
}

/// A fixed rate for a while: latency, accepted rate and lag at that rate,
/// after a warm-up at the same rate.
pub async fn steady(
    base: &Config,
    opts: Options,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Value> {
    let mut h = Harness::start(base, opts).await?;
    warm_up(&mut h, rate, WARM_UP_SECONDS.min(seconds)).await?;
    h.phase("steady", rate, seconds).await?;
    let drain = h.drain().await;
    let phase = h.phase_stats(&h.phases.last().expect("phase").clone());
    let report = json!({
        "scenario": "steady",
        "options": h.options(),
        "result": {
            "offered_rate": rate,
            "accepted_per_s": phase["accepted_per_s"],
            "errors": phase["errors"],
            "unanswered": phase["unanswered"],
            "send_ack": phase["send_ack"],
            "send_to_push": phase["send_to_push"],
            "lag_max": phase["lag"]["max"],
            "drain_s": drain.seconds,
            "drained": drain.drained,
        },
        "phases": [phase],
        "drain": drain,
        "timeline": h.timeline(),
    });
    h.finish().await?;
    Ok(report)
}

/// The process group whose work per message does not depend on what is
/// stored: its prefilled / empty ratio is the box's own drift between runs.
pub const FLAT_CONTROL: &str = "load generator (bench process)";

/// The same steady run on an empty database, on one prefilled with
/// `prefill_messages` messages between `prefill_users` users, and on an
/// empty one again: a message's cost (CPU per message per process, latency)
/// must not depend on what is stored (issue #17: within 10%).
///
/// One pair cannot tell 10% on a shared VM: single runs drifted by up to 20%
/// within minutes, the load generator's and broker's cost with them (their
/// work does not depend on the database). So the prefilled run is compared
/// with the mean of the empty runs on either side of it (which cancels a
/// steady drift; their own ratio shows what was left), and each ratio is
/// also given divided by the load generator's (the drift the box added).
pub async fn flat(
    base: &Config,
    opts: Options,
    rate: u64,
    seconds: u64,
    prefill_messages: u64,
    prefill_users: u64,
) -> anyhow::Result<Value> {
    let mut runs = Vec::new();
    for (n, prefill) in [0, prefill_messages, 0].into_iter().enumerate() {
        let mut o = opts.clone();
        o.prefill_messages = prefill;
        o.prefill_users = prefill_users;
        eprintln!(
            "flat ({}/3): {rate}/s for {seconds} s, {prefill} messages stored before",
            n + 1
        );
        runs.push(steady(base, o, rate, seconds).await?);
    }
    let figures = |r: &Value| {
        let phase = &r["phases"][0];
        json!({
            "prefill": r["options"]["prefill"],
            "accepted_per_s": phase["accepted_per_s"],
            "errors": phase["errors"],
            "send_ack": phase["send_ack"],
            "send_to_push": phase["send_to_push"],
            "lag_max": phase["lag"]["max"],
            "processes": phase["processes"],
        })
    };
    let (empty, full, again) = (figures(&runs[0]), figures(&runs[1]), figures(&runs[2]));
    Ok(json!({
        "scenario": "flat",
        "options": runs[1]["options"],
        "result": {"rate": rate, "seconds": seconds, "empty": empty, "prefilled": full,
                   "empty_again": again,
                   "ratios": flat_ratios(&empty, &full, &again)},
        "runs": runs,
    }))
}

/// Per figure (CPU per message per process group, p99s): the prefilled run
/// over the mean of the two empty ones, the second empty run over the first
/// (the drift the mean cancelled), and the first divided by the control
/// group's (`FLAT_CONTROL`) own prefilled / empty ratio.
pub fn flat_ratios(empty: &Value, full: &Value, again: &Value) -> Value {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let mut figures: Vec<(String, [Option<f64>; 3])> = Vec::new();
    for (group, p) in full["processes"].as_object().into_iter().flatten() {
        let at = |r: &Value| r["processes"][group]["cpu_ms_per_msg"].as_f64();
        figures.push((
            format!("cpu_per_msg {group}"),
            [at(empty), p["cpu_ms_per_msg"].as_f64(), at(again)],
        ));
    }
    for (name, lat) in [
        ("send_to_push p99", "send_to_push"),
        ("send_ack p99", "send_ack"),
    ] {
        let at = |r: &Value| r[lat]["p99_ms"].as_f64();
        figures.push((name.into(), [at(empty), at(full), at(again)]));
    }
    let over_empties = |[a, b, c]: [Option<f64>; 3]| match (a, b, c) {
        (Some(a), Some(b), Some(c)) if a + c > 0.0 => Some(b / ((a + c) / 2.0)),
        _ => None,
    };
    let control = figures
        .iter()
        .find(|(name, _)| name == &format!("cpu_per_msg {FLAT_CONTROL}"))
        .and_then(|(_, f)| over_empties(*f))
        .filter(|c| *c > 0.0);
    let mut out = serde_json::Map::new();
    for (name, f) in figures {
        let Some(ratio) = over_empties(f) else {
            continue;
        };
        let drift = match f {
            [Some(a), _, Some(c)] if a > 0.0 => Some(round(c / a)),
            _ => None,
        };
        out.insert(
            name,
            json!({
                "prefilled_over_empties": round(ratio),
                "empty_again_over_empty": drift,
                "over_control": control.map(|c| round(ratio / c)),
            }),
        );
    }
    Value::Object(out)
}

/// Why a step of the ramp is not sustainable (empty: it is).
fn unsustainable(step: &Value, drained: bool, p99_ms: f64) -> Vec<String> {
    let rate = step["offered_rate"].as_f64().unwrap_or(0.0);
    let mut why = Vec::new();
    if step["error_share"].as_f64().unwrap_or(1.0) > 0.001 {
        why.push(format!(
            "errors {} (+{} unanswered)",
            step["errors"], step["unanswered"]
        ));
    }
    let accepted = step["accepted_per_s"].as_f64().unwrap_or(0.0);
    if accepted < 0.95 * rate {
        why.push(format!("accepted {accepted:.0}/s"));
    }
    // End to end when anything was pushed, else the send ack.
    let latency = if step["send_to_push"]["count"].as_u64().unwrap_or(0) > 0 {
        &step["send_to_push"]
    } else {
        &step["send_ack"]
    };
    let p99 = latency["p99_ms"].as_f64().unwrap_or(f64::INFINITY);
    if p99 > p99_ms {
        why.push(format!("p99 {p99:.0} ms"));
    }
    // A sustainable rate leaves the lag flat; a slope that is a real share
    // of the rate means the projector falls further behind every second.
    let slope = step["lag"]["slope_per_s"].as_f64().unwrap_or(0.0);
    if slope > (0.05 * rate).max(20.0) {
        why.push(format!("lag growing {slope:.0} events/s"));
    }
    if !drained {
        why.push("backlog not drained".into());
    }
    why
}

/// Steps the rate up, draining between steps, until a step is not
/// sustainable: the highest sustainable rate is missive's throughput.
pub async fn ramp(
    base: &Config,
    opts: Options,
    rates: &[u64],
    step_seconds: u64,
    p99_ms: f64,
) -> anyhow::Result<Value> {
    let mut h = Harness::start(base, opts).await?;
    if let Some(&first) = rates.first() {
        warm_up(&mut h, first, step_seconds.min(WARM_UP_SECONDS)).await?;
    }
    let (mut steps, mut best, mut best_step) = (Vec::new(), 0u64, Value::Null);
    for &rate in rates {
        h.phase(&format!("{rate}/s"), rate, step_seconds).await?;
        let drain = h.drain().await;
        let mut step = h.phase_stats(&h.phases.last().expect("phase").clone());
        let why = unsustainable(&step, drain.drained, p99_ms);
        step["drain"] = json!(drain);
        step["sustainable"] = json!(why.is_empty());
        step["why_not"] = json!(why);
        eprintln!(
            "  {rate}/s: accepted {:.0}/s, push p99 {} ms, lag max {}: {}",
            step["accepted_per_s"].as_f64().unwrap_or(0.0),
            step["send_to_push"]["p99_ms"],
            step["lag"]["max"],
            if why.is_empty() {
                "sustainable".to_owned()
            } else {
                why.join(", ")
            }
        );
        let ok = why.is_empty();
        if ok {
            best = rate;
            best_step = step.clone();
        }
        steps.push(step);
        if !ok {
            break;
        }
    }
    let report = json!({
        "scenario": "ramp",
        "options": h.options(),
        "criteria": {"p99_ms": p99_ms, "max_error_share": 0.001, "min_accepted_share": 0.95,
                     "max_lag_slope": "5% of the rate (at least 20 events/s)"},
        "result": {
            "max_sustainable_rate": best,
            "at_max": {
                "accepted_per_s": best_step["accepted_per_s"],
                "send_ack": best_step["send_ack"],
                "send_to_push": best_step["send_to_push"],
                "lag_max": best_step["lag"]["max"],
                "processes": best_step["processes"],
            },
            "first_unsustainable": steps.last().filter(|s| s["sustainable"] == false)
                .map(|s| json!({"rate": s["offered_rate"], "why": s["why_not"]})),
        },
        "phases": steps,
        "timeline": h.timeline(),
    });
    h.finish().await?;
    Ok(report)
}

/// A base rate, `factor` times it for `burst_seconds`, then the base rate
/// again: the peak lag and how long the backlog took to drain.
pub async fn burst(
    base: &Config,
    opts: Options,
    base_rate: u64,
    factor: u64,
    burst_seconds: u64,
    base_seconds: u64,
    after_seconds: u64,
) -> anyhow::Result<Value> {
    let mut h = Harness::start(base, opts).await?;
    h.phase("before", base_rate, base_seconds).await?;
    h.phase("burst", base_rate * factor, burst_seconds).await?;
    h.phase("after", base_rate, after_seconds).await?;
    let drain = h.drain().await;
    let phases: Vec<Value> = h.phases.clone().iter().map(|m| h.phase_stats(m)).collect();
    let timeline = h.timeline();
    let lag = lag_samples(&timeline);
    let (before, burst_at, after_at) = (&h.phases[0], h.phases[1].start_s, h.phases[2].start_s);
    let (pre_max, _, _) = lag_stats(&lag, before.start_s as f64, burst_at as f64);
    let end = lag.last().map_or(0.0, |l| l.0);
    let (peak, _, _) = lag_stats(&lag, burst_at as f64, end);
    // Drained: the lag is back within what the base rate alone left (the
    // samples go on through the final drain, after the load stopped).
    let threshold = pre_max.max(1);
    let back = lag
        .iter()
        .find(|(t, l)| *t >= after_at as f64 && *l <= threshold)
        .map(|(t, _)| t - after_at as f64);
    let drain_s = match back {
        Some(s) => json!((s * 10.0).round() / 10.0),
        None => Value::Null,
    };
    let under_load = back.is_some_and(|s| s <= after_seconds as f64);
    let report = json!({
        "scenario": "burst",
        "options": h.options(),
        "result": {
            "base_rate": base_rate,
            "burst_rate": base_rate * factor,
            "burst_seconds": burst_seconds,
            "burst_messages": base_rate * factor * burst_seconds,
            "burst_accepted": phases[1]["accepted"],
            "errors": phases.iter().map(|p| p["errors"].as_u64().unwrap_or(0)).sum::<u64>(),
            "unanswered": phases.iter().map(|p| p["unanswered"].as_u64().unwrap_or(0)).sum::<u64>(),
            "lag_before_max": pre_max,
            "peak_lag": peak,
            "drain_s_after_burst": drain_s,
            "drained_under_base_load": under_load,
            "send_to_push_burst": phases[1]["send_to_push"],
            "send_to_push_after": phases[2]["send_to_push"],
        },
        "phases": phases,
        "drain": drain,
        "timeline": timeline,
    });
    h.finish().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::unsustainable;
    use serde_json::json;

    fn step(p99: f64, accepted: f64, slope: f64) -> serde_json::Value {
        json!({"offered_rate": 1000, "errors": 0, "error_share": 0.0,
               "accepted_per_s": accepted, "send_ack": {"count": 10, "p99_ms": 5.0},
               "send_to_push": {"count": 10, "p99_ms": p99},
               "lag": {"slope_per_s": slope}})
    }

    #[test]
    fn a_step_is_sustainable_only_under_every_criterion() {
        assert!(unsustainable(&step(80.0, 1000.0, 3.0), true, 100.0).is_empty());
        assert_eq!(
            unsustainable(&step(120.0, 1000.0, 3.0), true, 100.0).len(),
            1
        );
        assert_eq!(unsustainable(&step(80.0, 900.0, 3.0), true, 100.0).len(), 1);
        assert_eq!(
            unsustainable(&step(80.0, 1000.0, 400.0), true, 100.0).len(),
            1
        );
        assert_eq!(
            unsustainable(&step(80.0, 1000.0, 3.0), false, 100.0).len(),
            1
        );
    }
}
