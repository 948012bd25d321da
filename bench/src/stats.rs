//! Latency histograms (microseconds) and how they are summarised.

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Microseconds up to ten minutes, at `sigfig` significant digits: 2 for
/// the per-second histograms (1% resolution, 20 KiB each), so a long run's
/// hundreds of them stay small.
pub fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, sigfig).expect("valid bounds")
}

fn ms(v: u64) -> f64 {
    (v as f64 / 10.0).round() / 100.0
}

pub fn summary(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    let q = |q: f64| ms(h.value_at_quantile(q));
    json!({
        "count": h.len(),
        "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "p99_9_ms": q(0.999),
        "max_ms": ms(h.max()),
    })
}

/// [percentile, ms] points from p0 to p99.99, evenly spaced in "nines"
/// (-log10(1 - q)), then the maximum: the latency distribution plot.
pub fn percentile_curve(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!([]);
    }
    let mut pts: Vec<Value> = (0..=40)
        .map(|k| {
            let q = 1.0 - 10f64.powf(-(k as f64) / 10.0);
            json!([q * 100.0, ms(h.value_at_quantile(q))])
        })
        .collect();
    pts.push(json!([100.0, ms(h.max())]));
    Value::Array(pts)
}
