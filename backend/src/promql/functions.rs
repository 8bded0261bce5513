//! The numeric kernels of PromQL's functions and aggregations, as pure
//! functions over float samples.
//!
//! Every kernel reproduces Prometheus's float semantics bit for bit where
//! that is practical: the same order of floating-point operations, Kahan
//! (Neumaier) compensated sums where Prometheus uses them, Go's `math.Max` /
//! `math.Min` NaN propagation, Go's `time` calendar for the date functions,
//! and the same special cases (NaN, ±Inf, empty and single-point inputs).
//! The reference is Prometheus's `promql/functions.go`, `promql/quantile.go`,
//! `promql/engine.go` (aggregations) and `util/kahansum`.
//!
//! The module knows nothing of labels, selectors or annotations: the engine
//! selects the points, decides whether a result is emitted, and turns the
//! flags returned here (for example [`BucketQuantile::forced_monotonicity`])
//! into Prometheus's annotations.
//!
//! Conventions shared by the range-vector kernels:
//! * `points` are the float samples of one series inside the range window,
//!   sorted by time, with staleness markers already removed. Histogram
//!   samples are the engine's business (Prometheus ignores them, with an
//!   info annotation, in a mixed range for most of these functions).
//! * Where Prometheus emits no sample (too few points), the kernel returns
//!   `None`. Kernels that return a bare `f64` are only called by Prometheus
//!   for a non-empty window; for an empty one they return a documented
//!   placeholder and the engine must emit nothing.

use std::cmp::Ordering;

use crate::tsdb::{Sample, is_stale_marker};

// ---------------------------------------------------------------------------
// Compensated summation
// ---------------------------------------------------------------------------

/// One step of Prometheus's Kahan–Neumaier compensated summation
/// (`kahansum.Inc`): adds `inc` to the running `sum` with compensation `c`
/// and returns `(new_sum, new_compensation)`.
///
/// The final value of a sum is `sum + c`. When the running sum becomes
/// infinite the compensation is reset to zero, so an overflowing sum stays
/// ±Inf rather than turning into NaN.
pub fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        // Neumaier's improvement: compensate with the smaller operand.
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// A compensated sum, as the `sum` aggregation computes it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SumState {
    sum: f64,
    c: f64,
    count: u64,
}

impl SumState {
    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        if self.count == 0 {
            // The aggregation seeds the group with the first value.
            self.sum = v;
            self.c = 0.0;
        } else {
            (self.sum, self.c) = kahan_sum_inc(v, self.sum, self.c);
        }
        self.count += 1;
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum (`floatValue + floatKahanC`); 0 when nothing was added.
    pub fn sum(&self) -> f64 {
        self.sum + self.c
    }
}

/// The arithmetic mean as Prometheus's `avg` aggregation and `avg_over_time`
/// compute it: a Kahan-compensated direct sum divided by the count, switching
/// to an incremental (Kahan-compensated) mean from the first value whose
/// addition would overflow the running sum to ±Inf.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanState {
    sum: f64,
    mean: f64,
    c: f64,
    count: f64,
    incremental: bool,
}

impl MeanState {
    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        if self.count == 0.0 {
            self.sum = v;
            self.mean = v;
            self.c = 0.0;
            self.count = 1.0;
            return;
        }
        self.count += 1.0;
        if !self.incremental {
            let (new_sum, new_c) = kahan_sum_inc(v, self.sum, self.c);
            if !new_sum.is_infinite() {
                self.sum = new_sum;
                self.c = new_c;
                return;
            }
            // The direct sum would overflow: continue with the incremental mean.
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.c) = kahan_sum_inc(v / self.count, q * self.mean, q * self.c);
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.count as u64
    }

    /// The mean; NaN when nothing was added.
    pub fn mean(&self) -> f64 {
        if self.count == 0.0 {
            return f64::NAN;
        }
        if self.incremental { self.mean + self.c } else { self.sum / self.count + self.c / self.count }
    }
}

/// Population variance as Prometheus's `stddev` / `stdvar` aggregations
/// compute it: Welford's algorithm without compensation, where a first value
/// of NaN or ±Inf makes the result NaN.
///
/// (`stddev_over_time` / `stdvar_over_time` use a Kahan-compensated variant:
/// see [`stdvar_over_time`].)
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VarianceState {
    mean: f64,
    m2: f64,
    count: f64,
}

impl VarianceState {
    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        if self.count == 0.0 {
            self.count = 1.0;
            self.mean = v;
            self.m2 = if v.is_nan() || v.is_infinite() { f64::NAN } else { 0.0 };
            return;
        }
        self.count += 1.0;
        let delta = v - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (v - self.mean);
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.count as u64
    }

    /// The population variance (`stdvar`); NaN when nothing was added.
    pub fn variance(&self) -> f64 {
        if self.count == 0.0 {
            return f64::NAN;
        }
        self.m2 / self.count
    }

    /// The population standard deviation (`stddev`); NaN when nothing was added.
    pub fn stddev(&self) -> f64 {
        self.variance().sqrt()
    }
}

// ---------------------------------------------------------------------------
// rate, increase, delta, irate, idelta, changes, resets
// ---------------------------------------------------------------------------

/// A millisecond duration in seconds, computed the way Go's
/// `time.Duration.Seconds` does (whole seconds plus the fraction separately),
/// which can differ from `ms / 1000.0` in the last bit.
fn duration_seconds(ms: i64) -> f64 {
    (ms / 1000) as f64 + ((ms % 1000) * 1_000_000) as f64 / 1e9
}

/// `rate` (`is_counter`, `is_rate`), `increase` (`is_counter`) and `delta`
/// (neither): Prometheus's `extrapolatedRate` for float samples.
///
/// `points` are the samples in the left-open window
/// `(range_start_ms, range_end_ms]`, where `range_end_ms` is the evaluation
/// time minus the selector's offset (or its `@` time) and
/// `range_start_ms = range_end_ms - range`.
///
/// * Counter resets (a value lower than its predecessor) add the value
///   before the reset to the increase.
/// * The result is extrapolated to the window's boundaries when the first /
///   last sample lies within 1.1 average sample intervals of them, and by
///   half an average interval otherwise.
/// * For counters, extrapolation towards the start stops where the counter
///   would reach zero.
/// * `rate` divides by the range in seconds.
///
/// Returns `None` (no output sample) for fewer than two points. Start
/// timestamps (created timestamps) and the `anchored` / `smoothed` selector
/// modifiers are not handled here.
pub fn extrapolated_rate(
    points: &[Sample],
    range_start_ms: i64,
    range_end_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let first = points[0];
    let last = points[points.len() - 1];
    let mut result = last.value - first.value;
    if is_counter {
        for pair in points.windows(2) {
            if pair[1].value < pair[0].value {
                result += pair[0].value;
            }
        }
    }

    let mut duration_to_start = (first.timestamp_ms - range_start_ms) as f64 / 1000.0;
    let mut duration_to_end = (range_end_ms - last.timestamp_ms) as f64 / 1000.0;
    let sampled_interval = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let average_duration_between_samples = sampled_interval / (points.len() - 1) as f64;
    let extrapolation_threshold = average_duration_between_samples * 1.1;

    if duration_to_start >= extrapolation_threshold {
        duration_to_start = average_duration_between_samples / 2.0;
    }
    if is_counter {
        // A counter cannot go below zero: if it would reach zero before the
        // start of the extrapolated interval, start there instead.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.value >= 0.0 {
            duration_to_zero = sampled_interval * (first.value / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= extrapolation_threshold {
        duration_to_end = average_duration_between_samples / 2.0;
    }

    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= duration_seconds(range_end_ms - range_start_ms);
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) and `idelta`: from the last two points only.
///
/// For `irate`, a decrease between the two points is a counter reset and the
/// increase is the last value itself. Returns `None` for fewer than two
/// points, or when the two share a timestamp.
pub fn instant_value(points: &[Sample], is_rate: bool) -> Option<f64> {
    let [.., previous, last] = points else {
        return None;
    };
    let sampled_interval_ms = last.timestamp_ms - previous.timestamp_ms;
    if sampled_interval_ms == 0 {
        return None;
    }
    let mut result = last.value;
    // A NaN in either point falls through to the subtraction (NaN result).
    if !is_rate || last.value >= previous.value || last.value.is_nan() || previous.value.is_nan() {
        result = last.value - previous.value;
    }
    if is_rate {
        result /= sampled_interval_ms as f64 / 1000.0;
    }
    Some(result)
}

/// `changes`: how often the value changed between consecutive points. Two
/// NaNs in a row do not count as a change; NaN next to a number does.
/// 0 for an empty window (where Prometheus emits nothing).
pub fn changes(points: &[Sample]) -> f64 {
    points
        .windows(2)
        .filter(|pair| {
            let (prev, cur) = (pair[0].value, pair[1].value);
            cur != prev && !(cur.is_nan() && prev.is_nan())
        })
        .count() as f64
}

/// `resets`: how often the value decreased between consecutive points.
/// Comparisons with NaN are false, so NaN never counts as a reset.
/// 0 for an empty window (where Prometheus emits nothing).
pub fn resets(points: &[Sample]) -> f64 {
    points.windows(2).filter(|pair| pair[1].value < pair[0].value).count() as f64
}

// ---------------------------------------------------------------------------
// deriv, predict_linear, double_exponential_smoothing
// ---------------------------------------------------------------------------

/// Prometheus's `linearRegression`: the least-squares slope (per second) and
/// the intercept at `intercept_time_ms`, with Kahan-compensated sums and x
/// measured in seconds from `intercept_time_ms`. A constant series gives
/// slope 0 and its value as intercept, or NaN for both if that constant is
/// ±Inf. `points` must not be empty.
fn linear_regression(points: &[Sample], intercept_time_ms: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let init_y = points[0].value;
    let mut const_y = true;
    for (i, p) in points.iter().enumerate() {
        // `!=` is true for NaN, so a NaN makes the series non-constant.
        if const_y && i > 0 && p.value != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.timestamp_ms - intercept_time_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(p.value, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * p.value, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv`: the per-second slope of the least-squares line through the
/// points (x measured from the first point's time, to keep precision).
/// `None` for fewer than two points; NaN if a point is ±Inf.
pub fn deriv(points: &[Sample]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    Some(linear_regression(points, points[0].timestamp_ms).0)
}

/// `predict_linear(v, duration_seconds)`: the least-squares line through the
/// points, evaluated `duration_seconds` after `eval_time_ms`.
///
/// `eval_time_ms` is the evaluation timestamp itself (Prometheus's
/// `enh.Ts`), *not* shifted by the selector's offset or `@` modifier: with
/// `v[55m] @ 3000` evaluated at 10m, the prediction is for 10m + duration.
/// `None` for fewer than two points.
pub fn predict_linear(points: &[Sample], eval_time_ms: i64, duration_seconds: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(points, eval_time_ms);
    Some(slope * duration_seconds + intercept)
}

/// Formats like Go's `%f` verb (six decimals; `NaN`, `+Inf`, `-Inf`).
fn go_format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v:.6}")
    }
}

/// `double_exponential_smoothing(v, sf, tf)` (formerly `holt_winters`).
///
/// The factors are validated first, as Prometheus does before looking at the
/// data: a factor outside the open interval (0, 1) fails the whole query with
/// Prometheus's message, e.g. `invalid smoothing factor. Expected: 0 < sf < 1,
/// got: 1.000000` or `invalid trend factor. Expected: 0 < tf < 1, got:
/// 0.000000`. A NaN factor passes the check (all comparisons are false) and
/// yields NaN. `Ok(None)` for fewer than two points.
pub fn double_exponential_smoothing(points: &[Sample], smoothing: f64, trend: f64) -> Result<Option<f64>, String> {
    if smoothing <= 0.0 || smoothing >= 1.0 {
        return Err(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {}", go_format_f(smoothing)));
    }
    if trend <= 0.0 || trend >= 1.0 {
        return Err(format!("invalid trend factor. Expected: 0 < tf < 1, got: {}", go_format_f(trend)));
    }
    if points.len() < 2 {
        return Ok(None);
    }
    let (sf, tf) = (smoothing, trend);
    let mut s0 = 0.0;
    let mut s1 = points[0].value;
    let mut b = points[1].value - points[0].value;
    for (i, p) in points.iter().enumerate().skip(1) {
        // Scale the raw value against the smoothing factor.
        let x = sf * p.value;
        // The trend value at i - 1 (Prometheus's calcTrendValue): the
        // initial trend for the first step.
        if i - 1 != 0 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

// ---------------------------------------------------------------------------
// *_over_time
// ---------------------------------------------------------------------------

/// `avg_over_time`: see [`MeanState`] (direct Kahan mean, incremental on
/// overflow). NaN for an empty window (Prometheus emits nothing).
pub fn avg_over_time(points: &[Sample]) -> f64 {
    let mut state = MeanState::default();
    for p in points {
        state.add(p.value);
    }
    state.mean()
}

/// `sum_over_time`: Kahan-compensated sum. 0 for an empty window
/// (Prometheus emits nothing).
pub fn sum_over_time(points: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for p in points {
        (sum, c) = kahan_sum_inc(p.value, sum, c);
    }
    if sum.is_infinite() {
        return sum;
    }
    sum + c
}

/// The first value, replaced by any later value for which `better(value,
/// current)` holds, and by any value at all while the current one is NaN —
/// so NaN only wins when every value is NaN. Returns the value and the
/// timestamp of the point it came from. `points` must not be empty.
fn compare_over_time(points: &[Sample], better: impl Fn(f64, f64) -> bool) -> (f64, i64) {
    let mut best = points[0].value;
    let mut best_t = points[0].timestamp_ms;
    for p in points {
        if better(p.value, best) || best.is_nan() {
            best = p.value;
            best_t = p.timestamp_ms;
        }
    }
    (best, best_t)
}

/// `min_over_time`: NaN values are ignored unless all values are NaN.
/// NaN for an empty window (Prometheus emits nothing).
pub fn min_over_time(points: &[Sample]) -> f64 {
    if points.is_empty() {
        return f64::NAN;
    }
    compare_over_time(points, |cur, best| cur < best).0
}

/// `max_over_time`: NaN values are ignored unless all values are NaN.
/// NaN for an empty window (Prometheus emits nothing).
pub fn max_over_time(points: &[Sample]) -> f64 {
    if points.is_empty() {
        return f64::NAN;
    }
    compare_over_time(points, |cur, best| cur > best).0
}

/// `ts_of_min_over_time`: the timestamp (in seconds) of the *last* point
/// holding the minimum (ties go to the later point); NaN values are ignored
/// unless all are NaN, in which case it is the last point's time. NaN for an
/// empty window (Prometheus emits nothing).
pub fn ts_of_min_over_time(points: &[Sample]) -> f64 {
    if points.is_empty() {
        return f64::NAN;
    }
    compare_over_time(points, |cur, best| cur <= best).1 as f64 / 1000.0
}

/// `ts_of_max_over_time`: the timestamp (in seconds) of the *last* point
/// holding the maximum; see [`ts_of_min_over_time`].
pub fn ts_of_max_over_time(points: &[Sample]) -> f64 {
    if points.is_empty() {
        return f64::NAN;
    }
    compare_over_time(points, |cur, best| cur >= best).1 as f64 / 1000.0
}

/// `stdvar_over_time`: population variance by Welford's algorithm with
/// Kahan-compensated mean and sum of squares. NaN for an empty window
/// (Prometheus emits nothing).
pub fn stdvar_over_time(points: &[Sample]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.value - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.value - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `stddev_over_time`: the square root of [`stdvar_over_time`].
pub fn stddev_over_time(points: &[Sample]) -> f64 {
    stdvar_over_time(points).sqrt()
}

/// `mad_over_time`: the median of the absolute deviations from the median
/// (medians as `quantile(0.5, …)`). Any NaN value makes the result NaN.
/// NaN for an empty window (Prometheus emits nothing).
pub fn mad_over_time(points: &[Sample]) -> f64 {
    if points.iter().any(|p| p.value.is_nan()) {
        return f64::NAN;
    }
    let mut values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let median = quantile(0.5, &mut values);
    for v in &mut values {
        *v = (*v - median).abs();
    }
    quantile(0.5, &mut values)
}

/// `quantile_over_time(q, v)`: [`quantile`] of the window's values. NaN for
/// an empty window (Prometheus emits nothing). The engine adds Prometheus's
/// "quantile value should be between 0 and 1" warning for q outside [0, 1]
/// or NaN.
pub fn quantile_over_time(q: f64, points: &[Sample]) -> f64 {
    let mut values: Vec<f64> = points.iter().map(|p| p.value).collect();
    quantile(q, &mut values)
}

// ---------------------------------------------------------------------------
// Quantiles
// ---------------------------------------------------------------------------

/// The order Prometheus sorts values in for quantiles: NaN first (as the
/// smallest value), then ascending.
fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// The φ-quantile of `values` as Prometheus's `quantile` aggregation and
/// `quantile_over_time` compute it: `values` are sorted in place (NaN counts
/// as the smallest value) and the result interpolates linearly between the
/// two values around rank `q * (n - 1)`.
///
/// NaN for no values or a NaN `q`; -Inf for `q < 0`; +Inf for `q > 1`.
/// The interpolation is computed as `lower * (1 - w) + upper * w`, so an
/// infinite neighbour with a zero weight still gives NaN, as in Prometheus.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first);

    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower_index = f64::max(0.0, rank.floor());
    let upper_index = f64::min(n - 1.0, lower_index + 1.0);
    let weight = rank - rank.floor();
    values[lower_index as usize] * (1.0 - weight) + values[upper_index as usize] * weight
}

/// Relative deltas between consecutive classic-histogram buckets below this
/// are treated as floating-point noise by `histogram_quantile`.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The smallest positive normal f64.
const MIN_NORMAL: f64 = f64::MIN_POSITIVE;

/// Prometheus's `almost.Equal`: equal, both NaN (staleness markers only
/// equal each other), or a relative difference below `epsilon`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_marker(a) || is_stale_marker(b) {
        return is_stale_marker(a) && is_stale_marker(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The result of [`bucket_quantile`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketQuantile {
    /// The quantile.
    pub value: f64,
    /// A bucket count was lower than a lower bucket's and had to be raised
    /// (beyond floating-point noise). The engine emits Prometheus's info
    /// annotation "input to histogram_quantile needed to be fixed for
    /// monotonicity …, from buckets {min_bucket} to {max_bucket}, with a max
    /// diff of {max_diff} …".
    pub forced_monotonicity: bool,
    /// Differences between consecutive bucket counts below a relative 1e-12
    /// were ignored as floating-point noise (silently, no annotation).
    pub fixed_precision: bool,
    /// The lowest upper bound of a bucket whose count was raised (+Inf when
    /// none; 0 when `q` was out of range and the buckets were not examined).
    pub min_bucket: f64,
    /// The highest upper bound of a bucket whose count was raised (-Inf when
    /// none; 0 when the buckets were not examined).
    pub max_bucket: f64,
    /// The largest amount a count was raised by (0 when none).
    pub max_diff: f64,
}

/// Sorts classic-histogram buckets by upper bound (Prometheus does not expect
/// NaN bounds; here they sort last, so such a histogram has no +Inf bucket).
fn sort_buckets(buckets: &mut [(f64, f64)]) {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
}

/// Merges sorted buckets with the same upper bound, summing their counts in
/// order, as Prometheus's `coalesceBuckets`.
fn coalesce_buckets(buckets: &mut Vec<(f64, f64)>) {
    buckets.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            kept.1 += later.1;
            true
        } else {
            false
        }
    });
}

/// Prometheus's `ensureMonotonicAndIgnoreSmallDeltas`: first ignores
/// numerically insignificant differences between consecutive counts (either
/// direction), then raises any count lower than its predecessor.
/// Returns (forced, fixed_precision, min_bucket, max_bucket, max_diff).
fn ensure_monotonic(buckets: &mut [(f64, f64)], tolerance: f64) -> (bool, bool, f64, f64, f64) {
    let (mut forced, mut fixed) = (false, false);
    let (mut min_bucket, mut max_bucket, mut max_diff) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    let mut prev = buckets[0].1;
    for bucket in buckets.iter_mut().skip(1) {
        let curr = bucket.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, tolerance) {
            // Floating-point noise: level it, keep `prev`.
            bucket.1 = prev;
            fixed = true;
            continue;
        }
        if curr < prev {
            bucket.1 = prev;
            forced = true;
            if bucket.0 < min_bucket {
                min_bucket = bucket.0;
            }
            if bucket.0 > max_bucket {
                max_bucket = bucket.0;
            }
            let diff = prev - curr;
            if diff > max_diff {
                max_diff = diff;
            }
            continue;
        }
        prev = curr;
    }
    (forced, fixed, min_bucket, max_bucket, max_diff)
}

/// Go's `sort.Search(n, pred)`: the smallest index in `[0, n)` for which
/// `pred` holds, assuming it is monotone, or `n`. Reproduced exactly so that
/// non-monotone predicates (NaN ranks) give Prometheus's answer.
fn go_search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = (i + j) / 2;
        if !pred(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// `histogram_quantile` over one classic histogram: `buckets` are
/// `(upper bound from "le", cumulative count)` pairs in any order. They are
/// sorted, coalesced (duplicate bounds summed; the vector is truncated) and
/// made monotonic in place, as Prometheus's `BucketQuantile` does.
///
/// * NaN `q` → NaN, `q < 0` → -Inf, `q > 1` → +Inf (before looking at the
///   buckets).
/// * No +Inf bucket, fewer than two buckets after coalescing, or zero
///   observations → NaN.
/// * Within a bucket the result is interpolated linearly; the lowest bucket
///   starts at 0 if its upper bound is positive, and otherwise its upper
///   bound is returned. A quantile in the +Inf bucket returns the
///   second-highest upper bound.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> BucketQuantile {
    let mut result = BucketQuantile {
        value: f64::NAN,
        forced_monotonicity: false,
        fixed_precision: false,
        min_bucket: 0.0,
        max_bucket: 0.0,
        max_diff: 0.0,
    };
    if q.is_nan() {
        return result;
    }
    if q < 0.0 {
        result.value = f64::NEG_INFINITY;
        return result;
    }
    if q > 1.0 {
        result.value = f64::INFINITY;
        return result;
    }
    if buckets.is_empty() {
        return result;
    }
    sort_buckets(buckets);
    if buckets[buckets.len() - 1].0 != f64::INFINITY {
        return result;
    }
    coalesce_buckets(buckets);
    let (forced, fixed, min_bucket, max_bucket, max_diff) = ensure_monotonic(buckets, SMALL_DELTA_TOLERANCE);
    result.forced_monotonicity = forced;
    result.fixed_precision = fixed;
    result.min_bucket = min_bucket;
    result.max_bucket = max_bucket;
    result.max_diff = max_diff;

    let n = buckets.len();
    if n < 2 {
        return result;
    }
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return result;
    }
    let mut rank = q * observations;
    let b = go_search(n - 1, |i| buckets[i].1 >= rank);

    result.value = if b == n - 1 {
        buckets[n - 2].0
    } else if b == 0 && buckets[0].0 <= 0.0 {
        buckets[0].0
    } else {
        let mut bucket_start = 0.0;
        let bucket_end = buckets[b].0;
        let mut count = buckets[b].1;
        if b > 0 {
            bucket_start = buckets[b - 1].0;
            count -= buckets[b - 1].1;
            rank -= buckets[b - 1].1;
        }
        bucket_start + (bucket_end - bucket_start) * (rank / count)
    };
    result
}

/// `histogram_fraction(lower, upper, …)` over one classic histogram
/// (Prometheus's `BucketFraction`): the estimated fraction of observations
/// between `lower` and `upper`, interpolating linearly within buckets.
/// `buckets` are sorted and coalesced in place (not made monotonic).
///
/// NaN without a +Inf bucket, with zero observations, or for a NaN bound;
/// 0 when `lower >= upper`. The lowest bucket is taken to start at 0 if its
/// upper bound is positive, else at -Inf (and is then not interpolated).
pub fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if buckets.is_empty() {
        return f64::NAN;
    }
    sort_buckets(buckets);
    if buckets[buckets.len() - 1].0 != f64::INFINITY {
        return f64::NAN;
    }
    coalesce_buckets(buckets);

    let count = buckets[buckets.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }

    let mut rank = 0.0;
    let (mut lower_rank, mut upper_rank) = (0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].0 <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, &(upper_bound, bucket_count)) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].0;
        }
        let interpolate_linearly = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                return bucket_count;
            }
            rank + (bucket_count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate_linearly(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate_linearly(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bucket_count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

// ---------------------------------------------------------------------------
// Date functions
// ---------------------------------------------------------------------------

/// Which calendar field a date function extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    /// `minute()`: 0–59.
    Minute,
    /// `hour()`: 0–23.
    Hour,
    /// `day_of_week()`: 0 (Sunday) – 6.
    DayOfWeek,
    /// `day_of_month()`: 1–31.
    DayOfMonth,
    /// `day_of_year()`: 1–366.
    DayOfYear,
    /// `days_in_month()`: 28–31.
    DaysInMonth,
    /// `month()`: 1 (January) – 12.
    Month,
    /// `year()`.
    Year,
}

// Go's `time` package represents instants as seconds since an "absolute zero
// instant", March 1 of year -292277022400, in a wrapping uint64, and derives
// calendar fields with Neri–Schneider's Euclidean affine functions. The
// constants and the wrapping arithmetic below are Go's, so that every int64
// second count — even those far outside any sensible range — gives the same
// fields as Prometheus.
const SECONDS_PER_DAY: u64 = 86_400;
const ABSOLUTE_YEARS: u64 = 292_277_022_400;
const MARCH_THRU_DECEMBER: u32 = 306;
const ABSOLUTE_TO_INTERNAL: i64 = -(((ABSOLUTE_YEARS / 400 * 146_097) as i64 + MARCH_THRU_DECEMBER as i64) * 86_400);
const UNIX_TO_INTERNAL: i64 = (1969 * 365 + 1969 / 4 - 1969 / 100 + 1969 / 400) * 86_400;
const UNIX_TO_ABSOLUTE: i64 = UNIX_TO_INTERNAL - ABSOLUTE_TO_INTERNAL;

/// Go's `int64(f)` conversion on amd64 (Prometheus's reference platform):
/// truncation toward zero, and `math.MinInt64` for NaN and out-of-range
/// values (including ±Inf).
fn go_f64_to_i64(v: f64) -> i64 {
    if v.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// Splits absolute days into (century, year in century, March-based day of
/// year), as Go's `absDays.split`.
fn split_days(days: u64) -> (u64, u32, u32) {
    let d = days.wrapping_mul(4).wrapping_add(3);
    let century = d / 146_097;
    let cd = (d % 146_097) as u32 | 3;
    let product = 2_939_745u64 * u64::from(cd);
    let cyear = (product >> 32) as u32;
    let ayday = (product as u32) / 2_939_745 / 4;
    (century, cyear, ayday)
}

/// Splits a March-based day of year into (March-based month 3–14, day of
/// month 1–31), as Go's `absYday.split`.
fn split_ayday(ayday: u32) -> (u32, u32) {
    let d = 2141u32.wrapping_mul(ayday).wrapping_add(197_913);
    (d >> 16, 1 + (d & 0xFFFF) / 2141)
}

/// The standard year of (century, cyear, janFeb), as Go's `absCentury.year`.
fn go_year(century: u64, cyear: u32, jan_feb: u32) -> i64 {
    (century.wrapping_mul(100).wrapping_sub(ABSOLUTE_YEARS) as i64)
        .wrapping_add(i64::from(cyear))
        .wrapping_add(i64::from(jan_feb))
}

/// Absolute days of a standard date, as Go's `dateToAbsDays` (day may be out
/// of range).
fn date_to_abs_days(year: i64, month: u32, day: i64) -> u64 {
    let jan_feb = u32::from(month < 3);
    let amonth = month + 12 * jan_feb;
    let y = (year as u64).wrapping_sub(u64::from(jan_feb)).wrapping_add(ABSOLUTE_YEARS);
    let ayday = (979 * amonth - 2919) >> 5;
    let century = y / 100;
    let cyear = (y % 100) as u32;
    let cday = 1461 * cyear / 4;
    let century_days = 146_097u64.wrapping_mul(century) / 4;
    century_days.wrapping_add((i64::from(cday + ayday).wrapping_add(day).wrapping_sub(1)) as u64)
}

/// The date functions (`minute`, `hour`, `day_of_week`, `day_of_month`,
/// `day_of_year`, `days_in_month`, `month`, `year`) of a Unix timestamp in
/// seconds, in UTC.
///
/// As in Prometheus, the value is first truncated to whole seconds with Go's
/// `int64()` conversion, so fractions are dropped (toward zero) and NaN,
/// ±Inf and values beyond ±2⁶³ become `math.MinInt64`: the result is then a
/// garbage-but-deterministic calendar field of that instant, never NaN. The
/// calendar is Go's proleptic Gregorian one, bit-compatible for every int64.
///
/// Without an argument, Prometheus uses the evaluation time: pass
/// `(eval_ms / 1000) as f64` (integer division, truncating toward zero).
pub fn date_part(part: DatePart, timestamp_seconds: f64) -> f64 {
    let seconds = go_f64_to_i64(timestamp_seconds);
    let abs = seconds.wrapping_add(UNIX_TO_ABSOLUTE) as u64;
    let days = abs / SECONDS_PER_DAY;
    let (century, cyear, ayday) = split_days(days);
    let jan_feb = u32::from(ayday >= MARCH_THRU_DECEMBER);
    let value: i64 = match part {
        DatePart::Minute => ((abs % 3600) / 60) as i64,
        DatePart::Hour => ((abs % SECONDS_PER_DAY) / 3600) as i64,
        DatePart::DayOfWeek => (days.wrapping_add(3) % 7) as i64, // March 1 of the absolute year was a Wednesday.
        DatePart::DayOfMonth => i64::from(split_ayday(ayday).1),
        DatePart::Month => i64::from(split_ayday(ayday).0) - 12 * i64::from(jan_feb),
        DatePart::Year => go_year(century, cyear, jan_feb),
        DatePart::DayOfYear => {
            let leap = u32::from(cyear % 4 == 0) & (u32::from(cyear != 0) | u32::from(century % 4 == 0));
            i64::from(ayday) + (1 + 31 + 28) + i64::from(leap & !jan_feb & 1) - 365 * i64::from(jan_feb)
        }
        DatePart::DaysInMonth => {
            // Prometheus: 32 - time.Date(year, month, 32, 0, 0, 0, 0, UTC).Day().
            let year = go_year(century, cyear, jan_feb);
            let month = split_ayday(ayday).0 - 12 * jan_feb;
            let day_32 = date_to_abs_days(year, month, 32);
            let abs_32 = (day_32 as i64).wrapping_mul(SECONDS_PER_DAY as i64) as u64;
            let (_, _, ayday_32) = split_days(abs_32 / SECONDS_PER_DAY);
            32 - i64::from(split_ayday(ayday_32).1)
        }
    };
    value as f64
}

// ---------------------------------------------------------------------------
// Elementwise functions with a twist
// ---------------------------------------------------------------------------

/// `round(v, to_nearest)`: `floor(v * (1 / to_nearest) + 0.5) / (1 /
/// to_nearest)`, so ties round up (towards +Inf: `round(-2.5)` is -2).
/// `round(v)` is `round_to(v, 1.0)`.
pub fn round_to(v: f64, to_nearest: f64) -> f64 {
    // Prometheus inverts first: it causes fewer precision issues.
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

/// Go's `math.Max`: NaN if either argument is NaN (unlike [`f64::max`]),
/// +Inf if either is +Inf, and +0 over -0.
pub fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && a == b {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN if either argument is NaN (unlike [`f64::min`]),
/// -Inf if either is -Inf, and -0 over +0.
pub fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && a == b {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// `clamp(v, min, max)` for one value: `go_max(min, go_min(max, v))`, so a
/// NaN bound makes every result NaN. `None` when `max < min`: Prometheus then
/// returns an empty vector (for every element). `clamp_min(v, m)` is
/// `clamp(v, m, +Inf)`, `clamp_max(v, m)` is `clamp(v, -Inf, m)`.
pub fn clamp(v: f64, min: f64, max: f64) -> Option<f64> {
    if max < min {
        return None;
    }
    Some(go_max(min, go_min(max, v)))
}

/// `sgn`: -1 for negative, 1 for positive, and the value itself otherwise
/// (so 0, -0 and NaN are returned unchanged).
pub fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// `deg`: evaluated as Prometheus does, `v * 180 / π` (which can differ in
/// the last bit from [`f64::to_degrees`]).
pub fn deg(v: f64) -> f64 {
    v * 180.0 / std::f64::consts::PI
}

/// `rad`: evaluated as Prometheus does, `v * π / 180` (which can differ in
/// the last bit from [`f64::to_radians`]).
pub fn rad(v: f64) -> f64 {
    v * std::f64::consts::PI / 180.0
}
