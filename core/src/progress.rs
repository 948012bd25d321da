//! A progress display for long operator tools (`missive export`,
//! `missive replay`): records done of the total, bytes, rates and ETA on
//! stderr, redrawn a few times a second; hidden when stderr is not a
//! terminal (CI, pipes) or with `MISSIVE_PROGRESS=0`. The counters are kept
//! either way, so the tool can print a summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Progress over a known number of records (an upper bound is fine: the
/// bar ends where the work ends).
pub struct Progress {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
    records: AtomicU64,
    started: Instant,
}

/// What a finished run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records, {} in {:.1}s ({:.0} records/s, {}/s)",
            self.records,
            HumanBytes(self.bytes),
            self.elapsed.as_secs_f64(),
            self.records_per_sec(),
            HumanBytes(self.bytes_per_sec() as u64)
        )
    }
}

impl Progress {
    /// `what` names the records (e.g. "events"); `total` is how many there are.
    pub fn new(what: &str, total: u64) -> Self {
        let hidden = std::env::var("MISSIVE_PROGRESS").is_ok_and(|v| v == "0");
        let target = if hidden {
            ProgressDrawTarget::hidden()
        } else {
            // indicatif hides itself when stderr is not a terminal.
            ProgressDrawTarget::stderr_with_hz(4)
        };
        let bytes = Arc::new(AtomicU64::new(0));
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let (b1, b2) = (bytes.clone(), bytes.clone());
        let template = format!(
            "{{elapsed_precise}} [{{bar:30}}] {{human_pos}}/{{human_len}} {what} ({{per_sec}}) · {{bytes_done}} ({{bytes_rate}}) · ETA {{eta}}"
        );
        let style = ProgressStyle::with_template(&template)
            .expect("a valid template")
            .progress_chars("=> ")
            .with_key(
                "bytes_done",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", HumanBytes(b1.load(Ordering::Relaxed)));
                },
            )
            .with_key(
                "bytes_rate",
                move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let secs = s.elapsed().as_secs_f64().max(1e-3);
                    let rate = b2.load(Ordering::Relaxed) as f64 / secs;
                    let _ = write!(w, "{}/s", HumanBytes(rate as u64));
                },
            )
            .with_key(
                "per_sec",
                |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", s.per_sec());
                },
            );
        bar.set_style(style);
        Self {
            bar,
            bytes,
            records: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Starts from work already done (a resumed run): it counts toward the
    /// bar, not toward this run's rates.
    pub fn resume_at(&self, records: u64) {
        self.bar.set_position(records);
        self.bar.reset_eta();
    }

    /// `records` more done, `bytes` more written (or read).
    pub fn advance(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.bar.inc(records);
    }

    /// A line above the bar (it stays visible).
    pub fn println(&self, line: impl AsRef<str>) {
        self.bar.println(line);
    }

    /// Ends the display and returns this run's counters.
    pub fn finish(&self) -> Summary {
        self.bar.finish_and_clear();
        Summary {
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_without_a_terminal() {
        let p = Progress::new("events", 10);
        p.resume_at(2);
        p.advance(3, 300);
        p.advance(5, 700);
        let s = p.finish();
        assert_eq!((s.records, s.bytes), (8, 1000));
        assert!(s.to_string().starts_with("8 records, 1000 B"), "{s}");
    }
}
