//! A Prometheus summary: count, sum and quantiles over a sliding window.
//!
//! prometheus-client has no summary type, yet dashboards built for
//! Prometheus read `prometheus_engine_query_duration_seconds{quantile=…}`,
//! so Vigil keeps the observations of the last [`MAX_AGE`] (Prometheus's
//! default `MaxAge`) and computes exact quantiles from them at scrape time,
//! which is within any of Prometheus's CKMS error objectives. One
//! observation is one query, so the lock taken per observation is never on
//! a per-sample path.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long an observation counts towards the quantiles.
pub const MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// At most this many observations are kept; past it the oldest go first,
/// so a flood of queries shortens the window rather than growing memory.
const MAX_KEPT: usize = 16_384;

/// The quantiles Prometheus's engine summary exposes.
pub const ENGINE_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// One summary series.
#[derive(Debug, Default)]
pub struct Summary {
    count: AtomicU64,
    /// The sum in nanoseconds-as-f64 bits would need a CAS loop; whole
    /// nanoseconds add atomically and are exact.
    sum_nanos: AtomicU64,
    window: Mutex<VecDeque<(Instant, f64)>>,
}

impl Summary {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        self.observe_at(Instant::now(), d);
    }

    fn observe_at(&self, now: Instant, d: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        // A poisoned lock only means another observer panicked mid-push;
        // the deque is still a valid window.
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.len() >= MAX_KEPT {
            window.pop_front();
        }
        window.push_back((now, d.as_secs_f64()));
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of all observations in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Each of `qs` over the observations younger than [`MAX_AGE`] at
    /// `now`; NaN when there are none, as Prometheus reports.
    pub fn quantiles_at(&self, now: Instant, qs: &[f64]) -> Vec<f64> {
        let mut values: Vec<f64> = {
            let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
            while window.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > MAX_AGE) {
                window.pop_front();
            }
            window.iter().map(|(_, v)| *v).collect()
        };
        values.sort_by(f64::total_cmp);
        qs.iter()
            .map(|q| {
                if values.is_empty() {
                    return f64::NAN;
                }
                // Nearest rank: the smallest value with at least q of the
                // observations at or below it.
                let rank = (q * values.len() as f64).ceil() as usize;
                values[rank.clamp(1, values.len()) - 1]
            })
            .collect()
    }
}

/// Writes one summary family in OpenMetrics text: each series is
/// `(label name, label value, summary)`.
pub fn encode_family(
    out: &mut String,
    name: &str,
    help: &str,
    series: &[(&str, &str, &Summary)],
    quantiles: &[f64],
) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}.")?;
    writeln!(out, "# TYPE {name} summary")?;
    let now = Instant::now();
    for (label, value, summary) in series {
        for (q, v) in quantiles.iter().zip(summary.quantiles_at(now, quantiles)) {
            writeln!(out, "{name}{{{label}=\"{value}\",quantile=\"{q}\"}} {}", float(v))?;
        }
        writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", float(summary.sum_seconds()))?;
        writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", summary.count())?;
    }
    Ok(())
}

/// OpenMetrics spells NaN `NaN`; Rust's `{}` already does, and writes
/// finite floats so that they parse back exactly.
fn float(v: f64) -> String {
    if v.is_nan() { "NaN".to_owned() } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_count_and_sum_over_the_window() {
        let cases: &[(&[u64], [f64; 3])] = &[
            (&[], [f64::NAN, f64::NAN, f64::NAN]),
            (&[7], [0.007, 0.007, 0.007]),
            // 1..=100 ms: nearest rank gives 50, 90 and 99 ms.
            (&(1..=100).collect::<Vec<u64>>(), [0.05, 0.09, 0.099]),
            (&[40, 10, 30, 20], [0.02, 0.04, 0.04]),
        ];
        for (millis, want) in cases {
            let s = Summary::default();
            let now = Instant::now();
            for ms in *millis {
                s.observe_at(now, Duration::from_millis(*ms));
            }
            let got = s.quantiles_at(now, &ENGINE_QUANTILES);
            for (g, w) in got.iter().zip(want) {
                assert!(g == w || (g.is_nan() && w.is_nan()), "{millis:?}: got {got:?}, want {want:?}");
            }
            assert_eq!(s.count(), millis.len() as u64);
            let sum: u64 = millis.iter().sum();
            assert!((s.sum_seconds() - sum as f64 / 1000.0).abs() < 1e-9, "{}", s.sum_seconds());
        }
    }

    #[test]
    fn old_observations_leave_the_quantiles_but_not_the_count() {
        let s = Summary::default();
        let start = Instant::now();
        s.observe_at(start, Duration::from_secs(9));
        s.observe_at(start + Duration::from_secs(60), Duration::from_secs(1));
        assert_eq!(s.quantiles_at(start + Duration::from_secs(60), &[0.99]), vec![9.0]);
        let later = start + MAX_AGE + Duration::from_secs(1);
        assert_eq!(s.quantiles_at(later, &[0.99]), vec![1.0]);
        assert_eq!(s.count(), 2);
    }

    #[test]
    fn encodes_openmetrics_summary_lines() {
        let s = Summary::default();
        s.observe(Duration::from_millis(250));
        let mut out = String::new();
        encode_family(&mut out, "x_seconds", "Timings", &[("slice", "a", &s)], &[0.5]).unwrap();
        assert_eq!(
            out,
            "# HELP x_seconds Timings.\n# TYPE x_seconds summary\nx_seconds{slice=\"a\",quantile=\"0.5\"} 0.25\n\
             x_seconds_sum{slice=\"a\"} 0.25\nx_seconds_count{slice=\"a\"} 1\n"
        );
    }
}
