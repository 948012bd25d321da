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

/// The same steady run on an empty database and on one prefilled with
/// `prefill_messages` messages between `prefill_users` users: a message's
/// cost (CPU per message per process, latency) must not depend on what is
/// stored (issue #17: within 10%).
pub async fn flat(
    base: &Config,
    opts: Options,
    rate: u64,
    seconds: u64,
    prefill_messages: u64,
    prefill_users: u64,
) -> anyhow::Result<Value> {
    let mut runs = Vec::new();
    for prefill in [0, prefill_messages] {
        let mut o = opts.clone();
        o.prefill_messages = prefill;
        o.prefill_users = prefill_users;
        eprintln!("flat: {rate}/s for {seconds} s, {prefill} messages stored before");
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
    let (empty, full) = (figures(&runs[0]), figures(&runs[1]));
    // Prefilled over empty, per process group (CPU per message) and for p99.
    let mut ratio = serde_json::Map::new();
    for (group, p) in full["processes"].as_object().into_iter().flatten() {
        let before = empty["processes"][group]["cpu_ms_per_msg"].as_f64();
        if let (Some(b), Some(a)) = (before, p["cpu_ms_per_msg"].as_f64()) {
            if b > 0.0 {
                ratio.insert(
                    format!("cpu_per_msg {group}"),
                    json!((a / b * 1000.0).round() / 1000.0),
                );
            }
        }
    }
    for (name, lat) in [
        ("send_to_push p99", "send_to_push"),
        ("send_ack p99", "send_ack"),
    ] {
        if let (Some(b), Some(a)) = (empty[lat]["p99_ms"].as_f64(), full[lat]["p99_ms"].as_f64()) {
            if b > 0.0 {
                ratio.insert(name.into(), json!((a / b * 1000.0).round() / 1000.0));
            }
        }
    }
    Ok(json!({
        "scenario": "flat",
        "options": runs[1]["options"],
        "result": {"rate": rate, "seconds": seconds, "empty": empty, "prefilled": full,
                   "prefilled_over_empty": ratio},
        "runs": runs,
    }))
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
