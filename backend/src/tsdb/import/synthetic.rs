//! A deterministic synthetic dataset in OpenMetrics text, for the
//! differential test against Prometheus (`tests/differential.rs`) and the
//! query latency benchmark (`benches/query_compare.rs`), which both import
//! it into Vigil and, with promtool, into Prometheus. Not used by the server.
//!
//! Families, over `job` × `instance` and more dimensions:
//! - `http_requests_total{job,instance,method,status}`: counters with
//!   occasional resets and a rare NaN;
//! - `http_request_duration_seconds` `_bucket{le}`/`_sum`/`_count`
//!   `{job,instance,method}`: a classic histogram, resets together;
//! - `rpc_latency_seconds{quantile}` with `_sum`/`_count`: a summary;
//! - `node_memory_usage_bytes{job,instance}` and
//!   `cpu_temperature_celsius{job,instance,core}`: gauges (with NaNs);
//! - `service_up{job,instance}`: 0 or 1.
//!
//! Every series misses some samples and some have gaps longer than the
//! 5-minute lookback. Values are unrounded floats, so `topk`/`bottomk`
//! never meet ties (whose winner is an implementation detail).
//!
//! Counters start, and restart after a reset, at many scrapes' worth of
//! increase, never near zero: Prometheus 2.x and 3.x extrapolate `rate`
//! differently at the start of a window when the counter's zero point is
//! between half a scrape interval and 1.1 intervals before its first sample
//! (3.x caps the start at half an interval before clamping at zero; 2.x
//! clamps at zero first), and a counter that starts high keeps clear of it. Sample timestamps are `start + k·interval + offset`
//! with a per-series odd `offset` in {1, 3, 5, 7, 9, 11} seconds: with a
//! `start` on a whole minute and a 15 s interval, no sample falls on a time
//! ≡ 13 (mod 15) s, so queries evaluated at such times, with ranges,
//! offsets and steps in whole multiples of 15 s, never have a sample on a
//! window boundary, where Prometheus 2.x (closed windows) and 3.x
//! (left-open) disagree.

use std::io::{self, Write};

/// 2026-01-01T00:00:00Z, in seconds.
pub const EPOCH_2026: i64 = 1_767_225_600;

/// The upper bounds of the histogram's buckets, as written in `le`.
pub const BUCKETS: [&str; 8] = ["0.005", "0.025", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

/// The shape of a dataset.
#[derive(Debug, Clone)]
pub struct Spec {
    /// First scrape, in seconds; a whole minute.
    pub start_s: i64,
    pub duration_s: i64,
    pub interval_s: i64,
    pub jobs: usize,
    /// Instances per job.
    pub instances: usize,
    pub seed: u64,
}

impl Spec {
    /// The differential test's: 2 jobs × 3 instances, 90 minutes at 15 s,
    /// 378 series and about 130,000 samples.
    pub fn small() -> Spec {
        Spec { start_s: EPOCH_2026, duration_s: 90 * 60, interval_s: 15, jobs: 2, instances: 3, seed: 42 }
    }

    /// The last sample time any series may have, in seconds.
    pub fn end_s(&self) -> i64 {
        self.start_s + self.duration_s + 11
    }

    /// Series the dataset holds (every one has samples).
    pub fn series(&self) -> usize {
        let hosts = self.jobs * self.instances;
        hosts * (METHODS.len() * STATUSES.len() + METHODS.len() * (BUCKETS.len() + 2) + 5 + 1 + CORES + 1)
    }
}

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const STATUSES: [&str; 3] = ["200", "404", "500"];
const JOBS: [&str; 4] = ["api", "worker", "gateway", "batch"];
const QUANTILES: [&str; 3] = ["0.5", "0.9", "0.99"];
const CORES: usize = 4;

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub series: usize,
    pub samples: usize,
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: &[u64]) -> Rng {
        let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
        for &s in stream {
            rng.0 ^= s.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            rng.next();
        }
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Which scrapes of a series are present: single misses and runs of
/// missing scrapes, some longer than the 5-minute lookback.
fn presence(rng: &mut Rng, steps: usize) -> Vec<bool> {
    let mut present = vec![true; steps];
    let mut i = 0;
    while i < steps {
        if rng.chance(0.004) {
            let len = 4 + (rng.next() % 36) as usize;
            for p in present.iter_mut().skip(i).take(len) {
                *p = false;
            }
            i += len;
        } else {
            if rng.chance(0.01) {
                present[i] = false;
            }
            i += 1;
        }
    }
    present
}

struct Out<'a, W: Write> {
    out: &'a mut W,
    written: Written,
    line: String,
}

impl<W: Write> Out<'_, W> {
    /// Writes one series: `values[k]` at scrape `k` where present.
    fn series(&mut self, spec: &Spec, series: &str, offset: i64, present: &[bool], values: &[f64]) -> io::Result<()> {
        use std::fmt::Write as _;
        self.written.series += 1;
        for (k, (&here, &value)) in present.iter().zip(values).enumerate() {
            if !here {
                continue;
            }
            let t = spec.start_s + k as i64 * spec.interval_s + offset;
            self.line.clear();
            if value.is_nan() {
                let _ = writeln!(self.line, "{series} NaN {t}");
            } else {
                let _ = writeln!(self.line, "{series} {value} {t}");
            }
            self.out.write_all(self.line.as_bytes())?;
            self.written.samples += 1;
        }
        Ok(())
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) -> io::Result<()> {
        writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}")
    }
}

/// Writes the whole dataset, ending with `# EOF`.
pub fn write_openmetrics<W: Write>(spec: &Spec, out: &mut W) -> io::Result<Written> {
    let steps = (spec.duration_s / spec.interval_s) as usize + 1;
    let mut o = Out { out, written: Written::default(), line: String::with_capacity(256) };
    let hosts: Vec<(usize, String, String)> = (0..spec.jobs)
        .flat_map(|j| {
            let job = if j < JOBS.len() { JOBS[j].to_owned() } else { format!("{}{}", JOBS[j % JOBS.len()], j) };
            (0..spec.instances).map(move |i| (j * spec.instances + i, job.clone(), format!("10.0.{j}.{i}:9100")))
        })
        .collect();
    // Odd second offsets, never 13 (see the module documentation).
    let offset_of = |n: usize| 1 + 2 * (n % 6) as i64;
    let mut n = 0usize;

    o.family("http_requests", "counter", "Requests served.")?;
    for (h, job, instance) in &hosts {
        for (m, method) in METHODS.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let mut rng = Rng::new(spec.seed, &[1, *h as u64, m as u64, s as u64]);
                let rate = [20.0, 2.0, 0.5][s] * (0.2 + rng.unit()) / (1 + m) as f64;
                let present = presence(&mut rng, steps);
                let scrape = rate * spec.interval_s as f64;
                let mut total = 1000.0 + (scrape * 60.0 * (1.0 + rng.unit())).floor();
                let values: Vec<f64> = (0..steps)
                    .map(|_| {
                        if rng.chance(0.003) {
                            total = total.min(1.0 + (scrape * (8.0 + 8.0 * rng.unit())).floor());
                        } else {
                            total += (rate * spec.interval_s as f64 * (0.5 + rng.unit())).floor();
                        }
                        if rng.chance(0.001) { f64::NAN } else { total }
                    })
                    .collect();
                let series = format!(
                    "http_requests_total{{job=\"{job}\",instance=\"{instance}\",method=\"{method}\",status=\"{status}\"}}"
                );
                o.series(spec, &series, offset_of(n), &present, &values)?;
                n += 1;
            }
        }
    }

    o.family("http_request_duration_seconds", "histogram", "Request latency.")?;
    for (h, job, instance) in &hosts {
        for (m, method) in METHODS.iter().enumerate() {
            let mut rng = Rng::new(spec.seed, &[2, *h as u64, m as u64]);
            let rate = 5.0 * (0.2 + rng.unit());
            let scale = 0.05 + rng.unit() * 0.5;
            let present = presence(&mut rng, steps);
            let fraction = |b: usize, scale: f64| match BUCKETS[b].parse::<f64>() {
                Ok(le) if le.is_finite() => 1.0 - (-le / scale).exp(),
                _ => 1.0,
            };
            let scrape = rate * spec.interval_s as f64;
            let history = 60.0 * (1.0 + rng.unit());
            let mut cumulative: [f64; BUCKETS.len()] =
                std::array::from_fn(|b| (scrape * history * fraction(b, scale)).floor());
            let mut sum = cumulative[BUCKETS.len() - 1] * scale;
            let mut columns: Vec<Vec<f64>> = vec![Vec::with_capacity(steps); BUCKETS.len() + 2];
            for _ in 0..steps {
                if rng.chance(0.003) {
                    let history = 8.0 + 8.0 * rng.unit();
                    for (b, c) in cumulative.iter_mut().enumerate() {
                        *c = c.min((scrape * history * fraction(b, scale)).floor());
                    }
                    sum = sum.min(cumulative[BUCKETS.len() - 1] * scale);
                }
                let observed = (scrape * (0.5 + rng.unit())).floor();
                // Slow and fast periods move the quantiles.
                let scale = scale * (0.5 + rng.unit());
                for (b, c) in cumulative.iter_mut().enumerate() {
                    *c += (observed * fraction(b, scale)).floor();
                    columns[b].push(*c);
                }
                sum += observed * scale;
                columns[BUCKETS.len()].push(sum);
                columns[BUCKETS.len() + 1].push(cumulative[BUCKETS.len() - 1]);
            }
            let offset = offset_of(n);
            n += 1;
            let labels = format!("job=\"{job}\",instance=\"{instance}\",method=\"{method}\"");
            for (b, le) in BUCKETS.iter().enumerate() {
                let series = format!("http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}");
                o.series(spec, &series, offset, &present, &columns[b])?;
            }
            let series = format!("http_request_duration_seconds_sum{{{labels}}}");
            o.series(spec, &series, offset, &present, &columns[BUCKETS.len()])?;
            let series = format!("http_request_duration_seconds_count{{{labels}}}");
            o.series(spec, &series, offset, &present, &columns[BUCKETS.len() + 1])?;
        }
    }

    o.family("rpc_latency_seconds", "summary", "RPC latency.")?;
    for (h, job, instance) in &hosts {
        let mut rng = Rng::new(spec.seed, &[3, *h as u64]);
        let present = presence(&mut rng, steps);
        let offset = offset_of(n);
        n += 1;
        let base = 0.01 + rng.unit() * 0.1;
        let mut quantiles: Vec<Vec<f64>> = vec![Vec::with_capacity(steps); QUANTILES.len()];
        let (mut sum, mut count) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
        let mut c = 5000.0 + (rng.unit() * 1000.0).floor();
        let mut s = c * base;
        for _ in 0..steps {
            let level = base * (0.5 + rng.unit());
            for (q, column) in quantiles.iter_mut().enumerate() {
                column.push(level * [1.0, 2.5, 6.0][q]);
            }
            let observed = (30.0 * rng.unit()).floor();
            c += observed;
            s += observed * level;
            sum.push(s);
            count.push(c);
        }
        let labels = format!("job=\"{job}\",instance=\"{instance}\"");
        for (q, quantile) in QUANTILES.iter().enumerate() {
            let series = format!("rpc_latency_seconds{{{labels},quantile=\"{quantile}\"}}");
            o.series(spec, &series, offset, &present, &quantiles[q])?;
        }
        o.series(spec, &format!("rpc_latency_seconds_sum{{{labels}}}"), offset, &present, &sum)?;
        o.series(spec, &format!("rpc_latency_seconds_count{{{labels}}}"), offset, &present, &count)?;
    }

    o.family("node_memory_usage_bytes", "gauge", "Memory in use.")?;
    for (h, job, instance) in &hosts {
        let mut rng = Rng::new(spec.seed, &[4, *h as u64]);
        let present = presence(&mut rng, steps);
        let mut level = 1e9 * (0.5 + rng.unit());
        let values: Vec<f64> = (0..steps)
            .map(|_| {
                level = (level + (rng.unit() - 0.5) * 4e7).max(1e8).floor();
                if rng.chance(0.005) { f64::NAN } else { level }
            })
            .collect();
        let series = format!("node_memory_usage_bytes{{job=\"{job}\",instance=\"{instance}\"}}");
        o.series(spec, &series, offset_of(n), &present, &values)?;
        n += 1;
    }

    o.family("cpu_temperature_celsius", "gauge", "CPU core temperature.")?;
    for (h, job, instance) in &hosts {
        for core in 0..CORES {
            let mut rng = Rng::new(spec.seed, &[5, *h as u64, core as u64]);
            let present = presence(&mut rng, steps);
            let phase = rng.unit() * std::f64::consts::TAU;
            let values: Vec<f64> = (0..steps)
                .map(|k| {
                    let t = (k as i64 * spec.interval_s) as f64;
                    let v = 55.0 + 12.0 * (t / 900.0 + phase).sin() + (rng.unit() - 0.5) * 4.0;
                    if rng.chance(0.003) { f64::NAN } else { v }
                })
                .collect();
            let series = format!("cpu_temperature_celsius{{job=\"{job}\",instance=\"{instance}\",core=\"{core}\"}}");
            o.series(spec, &series, offset_of(n), &present, &values)?;
            n += 1;
        }
    }

    o.family("service_up", "gauge", "Whether the service answers.")?;
    for (h, job, instance) in &hosts {
        let mut rng = Rng::new(spec.seed, &[6, *h as u64]);
        let present = presence(&mut rng, steps);
        let mut up = 1.0;
        let values: Vec<f64> = (0..steps)
            .map(|_| {
                if rng.chance(0.02) {
                    up = 1.0 - up;
                }
                up
            })
            .collect();
        let series = format!("service_up{{job=\"{job}\",instance=\"{instance}\"}}");
        o.series(spec, &series, offset_of(n), &present, &values)?;
        n += 1;
    }
    writeln!(o.out, "# EOF")?;
    Ok(o.written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_parseable_with_no_sample_on_a_query_boundary() {
        let spec = Spec { duration_s: 20 * 60, ..Spec::small() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let written = write_openmetrics(&spec, &mut a).unwrap();
        write_openmetrics(&spec, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(written.series, spec.series());
        let text = String::from_utf8(a).unwrap();
        assert!(text.ends_with("# EOF\n"));
        let parsed = crate::scrape::exposition::parse(&text, crate::scrape::exposition::Format::OpenMetrics).unwrap();
        assert_eq!(parsed.samples.len(), written.samples);
        for sample in &parsed.samples {
            let t = sample.timestamp_ms.unwrap() / 1000;
            assert_ne!(t.rem_euclid(15), 13, "{sample:?}");
            assert!(t >= spec.start_s && t <= spec.end_s());
        }
        assert!(parsed.samples.iter().any(|s| s.value.is_nan()));
    }
}
