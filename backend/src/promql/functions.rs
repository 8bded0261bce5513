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
//!
//! Elementwise functions: `abs`, `ceil`, `floor` and `sqrt` are exact and map
//! onto the `f64` methods. The ones with a twist are here: [`round_to`],
//! [`clamp`] (NaN bounds, `max < min`), [`sgn`], [`deg`] / [`rad`] (operation
//! order), [`go_max`] / [`go_min`] (`max_of` / `min_of`, NaN-propagating),
//! and [`ln`] / [`log2`] / [`log10`], which reproduce Go's amd64 `math`
//! (different in the last bit from the `f64` methods for many inputs, and
//! wildly for subnormals in `ln` / `log10`). `exp` and the trigonometric and hyperbolic
//! functions are left to the `f64` methods: Go's own implementations (`exp`
//! in assembly with a CPU-dependent FMA path, the rest Cephes-derived) can
//! differ from them in the last bit, which promqltest's tolerance absorbs.

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
    extrapolate(points, result, range_start_ms, range_end_ms, is_counter, is_rate)
}

/// The counter resets of a whole series, found once, so that `rate` and
/// `increase` over a range query's many overlapping windows do not rescan
/// every window: [`CounterResets::increase`] gives exactly the value
/// [`extrapolated_rate`] starts from (the same additions in the same order).
#[derive(Debug)]
pub struct CounterResets {
    /// Indices `j` with `samples[j + 1] < samples[j]`, ascending.
    at: Vec<usize>,
    cursor: usize,
}

impl CounterResets {
    pub fn new(samples: &[Sample]) -> CounterResets {
        let at = (0..samples.len().saturating_sub(1)).filter(|&j| samples[j + 1].value < samples[j].value).collect();
        CounterResets { at, cursor: 0 }
    }

    /// `last - first` plus the value before each reset, over
    /// `samples[start..end]` (at least two samples). Successive calls must
    /// not move `start` backwards.
    pub fn increase(&mut self, samples: &[Sample], start: usize, end: usize) -> f64 {
        while self.at.get(self.cursor).is_some_and(|&j| j < start) {
            self.cursor += 1;
        }
        let mut result = samples[end - 1].value - samples[start].value;
        for &j in self.at[self.cursor..].iter().take_while(|&&j| j + 1 < end) {
            result += samples[j].value;
        }
        result
    }
}

/// The extrapolation half of [`extrapolated_rate`], given the window's
/// points (at least two) and their raw increase.
pub fn extrapolate(
    points: &[Sample],
    result: f64,
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
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
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

/// Go's `math.Frexp`: `v = frac * 2^exp` with `|frac|` in [0.5, 1);
/// ±0, ±Inf and NaN are returned unchanged with exponent 0.
fn go_frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || v.is_infinite() || v.is_nan() {
        return (v, 0);
    }
    let (mut v, mut exp) = (v, 0);
    if v.abs() < f64::MIN_POSITIVE {
        // Normalize subnormals.
        v *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = v.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's `math.Log` as compiled for amd64 (`log_amd64.s`): FreeBSD's
/// `e_log.c` polynomial, which differs from the platform `log` (and so from
/// [`f64::ln`]) in the last bit for some inputs, e.g. `ln(0.625)`.
/// Subnormal inputs are not normalized first, exactly as in that assembly
/// (golang/go#56600), so their logarithms are off by up to ~35.
fn go_log(x: f64) -> f64 {
    // Go's constants, by their bit patterns (as in log_amd64.s's comments).
    const HALF_SQRT2: f64 = std::f64::consts::FRAC_1_SQRT_2; // 0x3fe6a09e667f3bcd
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const L1: f64 = f64::from_bits(0x3fe5_5555_5555_5593);
    const L2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04);
    const L3: f64 = f64::from_bits(0x3fd2_4924_9422_9359);
    const L4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af);
    const L5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de);
    const L6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f);
    const L7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244);

    let bits = x.to_bits();
    if bits & !(1 << 63) == 0 {
        return f64::NEG_INFINITY; // ±0
    }
    if (bits as i64) < 0 {
        return f64::NAN; // negative (including -Inf)
    }
    if bits >= f64::INFINITY.to_bits() {
        return x; // +Inf or NaN
    }
    // f1, k := Frexp(x), straight from the bits.
    let mut f1 = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0.5f64.to_bits());
    let mut k = (((bits >> 52) & 0x7ff) as i32 - 0x3fe) as f64;
    if f1 <= HALF_SQRT2 {
        k -= 1.0;
        f1 *= 2.0;
    }
    let f = f1 - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
    let t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// `ln`: Go's `math.Log` on amd64 (see the module notes): NaN below zero,
/// -Inf at ±0.
pub fn ln(v: f64) -> f64 {
    go_log(v)
}

/// `log2`: as Go's `math.Log2`, exact for powers of two, otherwise
/// `ln(frac) / ln(2) + exp` from the binary decomposition.
pub fn log2(v: f64) -> f64 {
    let (frac, exp) = go_frexp(v);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    go_log(frac) * std::f64::consts::LOG2_E + f64::from(exp)
}

/// `log10`: as Go's `math.Log10`, `ln(v) * (1 / ln(10))`, which is *not*
/// always [`f64::log10`] (e.g. for some powers of ten).
pub fn log10(v: f64) -> f64 {
    go_log(v) * std::f64::consts::LOG10_E
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

#[cfg(test)]
mod tests {
    //! Expected values come from Prometheus's promqltest scripts
    //! (`functions.test`, `aggregators.test`, `histograms.test`), recomputed
    //! here through the kernels with the same data, and from edge cases in
    //! Prometheus's code. Literals and expressions are kept as the scripts
    //! write them (hence the allowed lints), and cases are tuples in tables.
    #![allow(clippy::type_complexity, clippy::excessive_precision, clippy::neg_multiply, clippy::approx_constant)]

    use super::*;

    const S: i64 = 1000;
    const M: i64 = 60 * S;

    /// Compares like promqltest: NaN matches NaN, otherwise a relative
    /// difference below 1e-6 (and, against 0, practically exact).
    fn close(got: f64, want: f64) -> bool {
        almost_equal(got, want, 1e-6)
    }

    #[test]
    fn counter_resets_give_the_same_rate_as_rescanning_every_window() {
        let values = [5.0, 7.0, 2.0, f64::NAN, 4.0, 9.0, 1.0, 1.0, 8.0, 3.0, 3.5, 0.0, 6.0, f64::NAN, f64::NAN, 2.0];
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, &value)| Sample { timestamp_ms: 15_000 * i as i64 + 7_000, value })
            .collect();
        for width in 2..=samples.len() {
            let mut resets = CounterResets::new(&samples);
            for start in 0..=samples.len() - width {
                let window = &samples[start..start + width];
                let (lo, hi) = (window[0].timestamp_ms - 20_000, window[width - 1].timestamp_ms + 4_000);
                let result = resets.increase(&samples, start, start + width);
                for is_rate in [false, true] {
                    let want = extrapolated_rate(window, lo, hi, true, is_rate);
                    let got = extrapolate(window, result, lo, hi, true, is_rate);
                    assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "window {start}+{width}");
                }
            }
        }
    }

    #[track_caller]
    fn assert_close(got: f64, want: f64, what: &str) {
        assert!(close(got, want), "{what}: got {got:?}, want {want:?}");
    }

    #[track_caller]
    fn assert_close_opt(got: Option<f64>, want: Option<f64>, what: &str) {
        match (got, want) {
            (Some(g), Some(w)) => assert_close(g, w, what),
            (None, None) => {}
            _ => panic!("{what}: got {got:?}, want {want:?}"),
        }
    }

    /// Parses one number of the promqltest series notation.
    fn number(s: &str) -> f64 {
        s.parse().unwrap_or_else(|_| panic!("bad number {s:?}"))
    }

    /// Expands promqltest's series notation (`1 2 _ 0+10x3 5-1x2 7x2 _x3
    /// stale NaN Inf`) into samples at `0, step, 2*step, …`, leaving out
    /// omitted values and staleness markers. Expansions add the increment
    /// repeatedly, as Prometheus's parser does.
    fn series(step_ms: i64, spec: &str) -> Vec<Sample> {
        let mut values: Vec<Option<f64>> = Vec::new();
        for token in spec.split_whitespace() {
            if token == "_" || token == "stale" {
                values.push(None);
            } else if let Some(n) = token.strip_prefix("_x") {
                values.extend(std::iter::repeat_n(None, n.parse().unwrap()));
            } else if let Some((body, n)) = token.split_once('x') {
                let n: usize = n.parse().unwrap();
                let bytes = body.as_bytes();
                let op = (1..bytes.len())
                    .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
                let (mut v, inc) = match op {
                    Some(i) => {
                        let inc = number(&body[i + 1..]);
                        (number(&body[..i]), if bytes[i] == b'-' { -inc } else { inc })
                    }
                    None => (number(body), 0.0),
                };
                for _ in 0..=n {
                    values.push(Some(v));
                    v += inc;
                }
            } else {
                values.push(Some(number(token)));
            }
        }
        values
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|value| Sample { timestamp_ms: i as i64 * step_ms, value }))
            .collect()
    }

    /// The points of a range selector `[range]` evaluated at `end_ms`
    /// (already shifted by any offset): the left-open window.
    fn window(samples: &[Sample], end_ms: i64, range_ms: i64) -> Vec<Sample> {
        samples.iter().copied().filter(|s| s.timestamp_ms > end_ms - range_ms && s.timestamp_ms <= end_ms).collect()
    }

    fn values(spec: &str) -> Vec<Sample> {
        series(10 * S, spec)
    }

    #[test]
    fn series_notation() {
        let got: Vec<(i64, f64)> =
            series(5, "1 _ 0+2x2 3-1x1 7x1 _x2 4").iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(
            got,
            vec![(0, 1.0), (10, 0.0), (15, 2.0), (20, 4.0), (25, 3.0), (30, 2.0), (35, 7.0), (40, 7.0), (55, 4.0)]
        );
        assert_eq!(series(1, "9.988465674311579e+307 1.78264E+50")[1].value, 1.78264e50);
    }

    #[test]
    fn kahan_sum_inc_cases() {
        let cases: &[(&[f64], f64)] = &[
            (&[1.0, 1e100, 1.0, -1e100], 2.0),
            (&[1e100, 1.0, -1e100, 1.0], 2.0),
            (&[0.1; 10], 1.0),
            (&[f64::INFINITY, 1.0], f64::INFINITY),
            (&[f64::INFINITY, f64::NEG_INFINITY], f64::NAN),
            (&[f64::MAX, f64::MAX], f64::INFINITY),
            (&[f64::NAN, 1.0], f64::NAN),
        ];
        for (inputs, want) in cases {
            let (mut sum, mut c) = (0.0, 0.0);
            for v in *inputs {
                (sum, c) = kahan_sum_inc(*v, sum, c);
            }
            let got = sum + c;
            assert!(got == *want || (got.is_nan() && want.is_nan()), "{inputs:?}: got {got}, want {want}");
        }
        // An overflowing sum resets the compensation.
        assert_eq!(kahan_sum_inc(f64::MAX, f64::MAX, 5.0), (f64::INFINITY, 0.0));
    }

    #[derive(Clone, Copy, Debug)]
    enum RateKind {
        Rate,
        Increase,
        Delta,
    }

    #[test]
    fn extrapolated_rate_promqltest_cases() {
        use RateKind::*;
        // (kind, step, series, eval time, range, offset, expected)
        let cases: &[(RateKind, i64, &str, i64, i64, i64, Option<f64>)] = &[
            (Increase, 5 * M, "0+10x10", 50 * M, 50 * M, 0, Some(100.0)),
            (Increase, 5 * M, "0+18x5 0+18x5", 50 * M, 50 * M, 0, Some(160.0)),
            (Increase, 5 * M, "10+10x10", 50 * M, 50 * M, 0, Some(100.0)),
            (Increase, 5 * M, "1+10x10", 50 * M, 50 * M, 0, Some(100.0)),
            (Increase, 5 * M, "0+10x10", 50 * M, 100 * M, 0, Some(100.0)),
            (Increase, 5 * M, "0+18x5 0+18x5", 50 * M, 100 * M, 0, Some(162.0)),
            (Increase, 5 * M, "10+10x10", 50 * M, 100 * M, 0, Some(105.0)),
            (Increase, 5 * M, "1+10x10", 50 * M, 100 * M, 0, Some(101.0)),
            (Increase, 5 * M, "0 1 2 3 2 3 4", 30 * M, 30 * M, 0, Some(7.0)),
            (Rate, 5 * M, "0+27x4 0+27x5", 50 * M, 50 * M, 0, Some(0.08)),
            (Rate, 5 * M, "0+10x9 0 10", 50 * M, 5 * M, 0, None),
            (Rate, 5 * M, "0+10x9 0 10", 50 * M, 6 * M, 0, Some(0.0)),
            (Rate, 5 * M, "0+80x10", 50 * M, 50 * M, 0, Some(0.26666666666666666)),
            (Rate, 5 * M, "0+10x10", 50 * M, 10 * M, 5 * M, Some(0.03333333333333333)),
            (Rate, 5 * M, "0+20x10", 50 * M, 10 * M, 5 * M, Some(0.06666666666666667)),
            (Rate, 4 * M, "0+240x10", 10 * M, 20 * M, 0, Some(0.5)),
            (Rate, 4 * M, "60+240x10", 10 * M, 20 * M, 0, Some(0.55)),
            (Rate, 4 * M, "120+240x10", 10 * M, 20 * M, 0, Some(0.6)),
            (Rate, 4 * M, "180+240x10", 10 * M, 20 * M, 0, Some(0.6)),
            (Rate, 4 * M, "240+240x10", 10 * M, 20 * M, 0, Some(0.6)),
            (Rate, 4 * M, "300+240x10", 10 * M, 20 * M, 0, Some(0.6)),
            (Rate, 4 * M, "0+240x10", 50 * M, 20 * M, 0, Some(0.6)),
            (Rate, 4 * M, "300+240x10", 50 * M, 20 * M, 0, Some(0.6)),
            (Delta, 5 * M, "0 50 100 150 200", 20 * M, 20 * M, 0, Some(200.0)),
            (Delta, 5 * M, "200 150 100 50 0", 20 * M, 20 * M, 0, Some(-200.0)),
            // deriv "should return the same as rate in simple cases".
            (Rate, 5 * M, "0+80x10", 50 * M, 50 * M, 0, Some(0.26666666666666666)),
            // Histograms: rate of classic buckets (histograms.test), then quantiles below.
            (Rate, 5 * M, "0+0x10", 5 * M, 5 * M, 0, None),
            (Rate, M, "1 1 1 1 1", 5 * M, 5 * M, 0, Some(0.0)),
        ];
        for (i, &(kind, step, spec, eval, range, offset, want)) in cases.iter().enumerate() {
            let end = eval - offset;
            let points = window(&series(step, spec), end, range);
            let (is_counter, is_rate) = match kind {
                Rate => (true, true),
                Increase => (true, false),
                Delta => (false, false),
            };
            let got = extrapolated_rate(&points, end - range, end, is_counter, is_rate);
            assert_close_opt(got, want, &format!("case {i}: {kind:?}({spec}[{range}ms]) at {eval}ms"));
        }
    }

    #[test]
    fn extrapolated_rate_edge_cases() {
        let p = |t: i64, v: f64| Sample { timestamp_ms: t, value: v };
        // Fewer than two points: no result.
        assert_eq!(extrapolated_rate(&[], 0, 60_000, true, true), None);
        assert_eq!(extrapolated_rate(&[p(30_000, 5.0)], 0, 60_000, true, true), None);
        // Points exactly on both boundaries: no extrapolation needed at the end,
        // the start is 1 interval away (< 1.1) so it extrapolates fully but the
        // counter would go below zero, so it stops at zero.
        let got = extrapolated_rate(&[p(10_000, 10.0), p(60_000, 60.0)], 0, 60_000, true, false).unwrap();
        assert_close(got, 60.0, "zero cutoff");
        // As a gauge (delta) there is no zero cutoff.
        let got = extrapolated_rate(&[p(10_000, 10.0), p(60_000, 60.0)], 0, 60_000, false, false).unwrap();
        assert_close(got, 60.0, "gauge full extrapolation");
        // Sparse samples far from both boundaries extrapolate by half an interval.
        let got = extrapolated_rate(&[p(40_000, 0.0), p(50_000, 10.0)], 0, 100_000, false, false).unwrap();
        assert_close(got, 20.0, "half interval");
        // A counter reset adds the value before the reset.
        let got =
            extrapolated_rate(&[p(0, 5.0), p(10_000, 8.0), p(20_000, 2.0), p(30_000, 4.0)], -1, 30_000, true, false)
                .unwrap();
        assert_close(got, (4.0 - 5.0 + 8.0) * (30.001 / 30.0), "reset");
        // Deltas may go negative and are not reset-corrected.
        let got = extrapolated_rate(&[p(10_000, 8.0), p(20_000, 2.0)], 10_000 - 1, 20_000, false, false).unwrap();
        assert_close(got, -6.0 * 10.001 / 10.0, "negative delta");
        // Identical timestamps: sampled interval 0, factor 1 (then /range for rate).
        let got = extrapolated_rate(&[p(10_000, 1.0), p(10_000, 3.0)], 0, 20_000, false, true).unwrap();
        assert_close(got, 2.0 / 20.0, "zero interval");
        // NaN propagates.
        assert!(extrapolated_rate(&[p(10_000, f64::NAN), p(20_000, 3.0)], 0, 20_000, true, true).unwrap().is_nan());
        // The per-second division uses Go's Duration.Seconds().
        assert_eq!(duration_seconds(1001), 1.0 + 0.001);
        assert_eq!(duration_seconds(300_000), 300.0);
    }

    #[test]
    fn instant_value_cases() {
        let nan = f64::NAN;
        // (series, eval, range, is_rate, expected)
        let cases: &[(&str, i64, i64, bool, Option<f64>)] = &[
            ("0+10x10", 50 * M, 50 * M, true, Some(0.03333333333333333)),
            ("0+10x5 0+10x5", 50 * M, 50 * M, true, Some(0.03333333333333333)),
            ("0+10x10", 30 * M, 50 * M, true, Some(0.03333333333333333)),
            ("0+10x5 0+10x5", 30 * M, 50 * M, true, Some(0.0)),
            ("1 NaN NaN 5 11", 0, 15 * M + S, true, None),
            ("1 NaN NaN 5 11", 5 * M, 15 * M + S, true, Some(nan)),
            ("1 NaN NaN 5 11", 10 * M, 15 * M + S, true, Some(nan)),
            ("1 NaN NaN 5 11", 15 * M, 15 * M + S, true, Some(nan)),
            ("1 NaN NaN 5 11", 20 * M, 15 * M + S, true, Some(0.02)),
            ("0 50 100 150", 20 * M, 20 * M, false, Some(50.0)),
            ("0 50 100 50", 20 * M, 20 * M, false, Some(-50.0)),
            ("1 NaN NaN 5 11", 5 * M, 15 * M + S, false, Some(nan)),
            ("1 NaN NaN 5 11", 15 * M, 15 * M + S, false, Some(nan)),
            ("1 NaN NaN 5 11", 20 * M, 15 * M + S, false, Some(6.0)),
            ("5", 0, M, false, None),
        ];
        for (i, &(spec, eval, range, is_rate, want)) in cases.iter().enumerate() {
            let points = window(&series(5 * M, spec), eval, range);
            assert_close_opt(instant_value(&points, is_rate), want, &format!("case {i}: {spec} at {eval}"));
        }
        let p = |t: i64, v: f64| Sample { timestamp_ms: t, value: v };
        assert_eq!(instant_value(&[p(5, 1.0), p(5, 2.0)], true), None, "same timestamp");
        assert_eq!(instant_value(&[p(0, 10.0), p(2000, 4.0)], true), Some(2.0), "irate reset");
        assert_eq!(instant_value(&[p(0, 10.0), p(2000, 4.0)], false), Some(-6.0), "idelta decrease");
    }

    #[test]
    fn changes_and_resets() {
        let foo = "1 2 3 0 1 0 0 1 2 0";
        let bar = "1 2 3 4 5 1 2 3 4 5";
        let biz = "0 0 0 0 0 1 1 1 1 1";
        // (series, range, changes, resets) at 50m, load 5m.
        let cases: &[(&str, i64, f64, f64)] = &[
            (foo, 10 * M, 0.0, 0.0),
            (bar, 10 * M, 0.0, 0.0),
            (foo, 20 * M, 2.0, 1.0),
            (bar, 20 * M, 2.0, 0.0),
            (biz, 20 * M, 0.0, 0.0),
            (foo, 30 * M, 3.0, 1.0),
            (bar, 30 * M, 4.0, 0.0),
            (foo, 32 * M, 4.0, 2.0),
            (bar, 32 * M, 5.0, 1.0),
            (foo, 50 * M, 7.0, 3.0),
            (bar, 50 * M, 8.0, 1.0),
            (biz, 50 * M, 1.0, 0.0),
            (foo, 6 * M, 0.0, 0.0),
        ];
        for &(spec, range, want_changes, want_resets) in cases {
            let points = window(&series(5 * M, spec), 50 * M, range);
            assert_eq!(changes(&points), want_changes, "changes({spec}[{range}])");
            assert_eq!(resets(&points), want_resets, "resets({spec}[{range}])");
        }
        // NaN next to NaN is no change; NaN next to a number is (both ways).
        assert_eq!(changes(&window(&series(5 * M, "NaN NaN NaN"), 15 * M, 20 * M)), 0.0);
        assert_eq!(changes(&window(&series(5 * M, "0 NaN 0"), 15 * M, 20 * M)), 2.0);
        assert_eq!(resets(&series(5 * M, "1 NaN 0 NaN 2")), 0.0);
        assert_eq!(changes(&[]), 0.0);
        assert_eq!(resets(&[]), 0.0);
    }

    #[test]
    fn deriv_and_predict_linear() {
        let reset_middle = series(5 * M, "0+10x4 0+10x5");
        let inf = series(5 * M, "-Inf 0+80x10 Inf");
        let total = series(5 * M, "0+80x10");
        // (points, expected deriv)
        let derivs: &[(&[Sample], Option<f64>)] = &[
            (&window(&total, 50 * M, 50 * M), Some(0.26666666666666666)),
            (&window(&reset_middle, 50 * M, 100 * M), Some(0.010606060606060607)),
            (&window(&inf, 100 * M, 100 * M), Some(f64::NAN)),
            (&window(&total, 0, M), None),
        ];
        for (i, (points, want)) in derivs.iter().enumerate() {
            assert_close_opt(deriv(points), *want, &format!("deriv case {i}"));
        }
        // (points, eval time, duration, expected)
        let at_3000 = window(&reset_middle, 3000 * S, 55 * M);
        let predictions: &[(&[Sample], i64, f64, Option<f64>)] = &[
            (&window(&reset_middle, 50 * M, 50 * M), 50 * M, 3600.0, Some(70.0)),
            (&at_3000, 50 * M, 3600.0, Some(76.81818181818181)),
            (&at_3000, 10 * M, 3600.0, Some(51.36363636363637)),
            (&at_3000, 70 * M, 3600.0, Some(89.54545454545455)),
            (&window(&inf, 100 * M, 100 * M), 100 * M, 6000.0, Some(f64::NAN)),
            (&window(&total, 0, M), 0, 60.0, None),
        ];
        for (i, (points, eval, duration, want)) in predictions.iter().enumerate() {
            assert_close_opt(predict_linear(points, *eval, *duration), *want, &format!("predict_linear case {i}"));
        }
        // predict_linear(x[50m], 3600) == x + deriv(x[50m]) * 3600 when the
        // last sample is at the evaluation time.
        let w = window(&total, 50 * M, 50 * M);
        let emulated = 800.0 + deriv(&w).unwrap() * 3600.0;
        assert_close(predict_linear(&w, 50 * M, 3600.0).unwrap(), emulated, "emulated");
        // Constant series: slope 0, intercept the constant; constant ±Inf: NaN.
        let constant = series(M, "5 5 5");
        assert_eq!(deriv(&constant), Some(0.0));
        assert_eq!(predict_linear(&constant, 10 * M, 100.0), Some(5.0));
        assert!(deriv(&series(M, "Inf Inf")).unwrap().is_nan());
        assert!(predict_linear(&series(M, "-Inf -Inf"), 0, 1.0).unwrap().is_nan());
        // A NaN makes everything NaN.
        assert!(deriv(&series(M, "NaN NaN")).unwrap().is_nan());
    }

    #[test]
    fn double_exponential_smoothing_promqltest_cases() {
        // (series at 10s, eval, expected) with [1m], sf 0.01, tf 0.1.
        let cases: &[(&str, i64, f64)] = &[
            ("0+10x1000 100+30x1000", 8000 * S, 8000.0),
            ("0+20x1000 200+30x1000", 8000 * S, 16000.0),
            ("0+30x1000 300+80x1000", 8000 * S, 24000.0),
            ("0+40x2000", 8000 * S, 32000.0),
            ("0+10x1000 100+30x1000", 20010 * S, 30100.0),
            ("0+20x1000 200+30x1000", 20010 * S, 30200.0),
            ("0+30x1000 300+80x1000", 20010 * S, 80300.0),
            ("0+40x2000", 20010 * S, 80000.0),
            ("8000-10x1000", 8000 * S, 0.0),
            ("0-20x1000", 8000 * S, -16000.0),
            ("0+30x1000 300-80x1000", 8000 * S, 24000.0),
            ("0-40x1000 0+40x1000", 8000 * S, -32000.0),
        ];
        for &(spec, eval, want) in cases {
            let points = window(&series(10 * S, spec), eval, M);
            let got = double_exponential_smoothing(&points, 0.01, 0.1).unwrap().unwrap();
            assert_close(got, want, &format!("double_exponential_smoothing({spec}) at {eval}"));
        }
    }

    #[test]
    fn double_exponential_smoothing_edge_cases() {
        let points = series(10 * S, "1 2 4");
        // Hand-computed: s1=1, b=1; i=1: s1 = 0.5*2 + 0.5*(1+1) = 2;
        // i=2: b = 0.5*(2-1) + 0.5*1 = 1, s1 = 0.5*4 + 0.5*(2+1) = 3.5.
        assert_eq!(double_exponential_smoothing(&points, 0.5, 0.5), Ok(Some(3.5)));
        assert_eq!(double_exponential_smoothing(&points[..1], 0.5, 0.5), Ok(None));
        assert_eq!(double_exponential_smoothing(&[], 0.5, 0.5), Ok(None));
        let errors: &[(f64, f64, &str)] = &[
            (1.0, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"),
            (0.0, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: 0.000000"),
            (-0.25, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: -0.250000"),
            (f64::INFINITY, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: +Inf"),
            (0.5, 1.5, "invalid trend factor. Expected: 0 < tf < 1, got: 1.500000"),
            (0.5, 0.0, "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"),
        ];
        for &(sf, tf, want) in errors {
            // The factors are checked even when there are no points.
            assert_eq!(double_exponential_smoothing(&[], sf, tf), Err(want.to_owned()));
            assert_eq!(double_exponential_smoothing(&points, sf, tf), Err(want.to_owned()));
        }
        // NaN factors pass the check and give NaN.
        assert!(double_exponential_smoothing(&points, f64::NAN, 0.5).unwrap().unwrap().is_nan());
    }

    #[test]
    fn avg_and_sum_over_time_promqltest_cases() {
        let big = "9.988465674311579e+307";
        let cases: &[(&str, i64, i64, f64)] = &[
            // (series at 10s, eval, range, expected avg)
            ("1 2 3 4 5", 55 * S, 20 * S, 5.0),
            ("1 2 3 4 5", 55 * S, M, 3.0),
            ("1 2 3 4 Inf", 55 * S, M, f64::INFINITY),
            ("1 2 3 4 -Inf", 55 * S, M, f64::NEG_INFINITY),
            ("1 2 3 Inf -Inf", 55 * S, M, f64::NAN),
            ("Inf 0 Inf", 55 * S, M, f64::INFINITY),
            ("Inf Inf Inf -Inf", 55 * S, M, f64::NAN),
            ("1 2 3 -Inf -Inf", 55 * S, M, f64::NEG_INFINITY),
            ("-Inf 0 -Inf", 55 * S, M, f64::NEG_INFINITY),
            ("-Inf -Inf -Inf Inf", 55 * S, M, f64::NAN),
            ("1 2 -Inf -Inf Inf", 55 * S, M, f64::NAN),
            (&format!("{big} {big}"), 55 * S, M, 9.988465674311579e+307),
            (&format!("-{big} -{big} -{big}"), 55 * S, M, -9.988465674311579e+307),
            (&format!("-{big} {big}"), 55 * S, M, 0.0),
            ("1 2 3 NaN NaN", 20 * S, M, 2.0),
            ("1 2 3 NaN NaN", 30 * S, M, f64::NAN),
            ("1 2 3 NaN NaN", 55 * S, M, f64::NAN),
            ("1 1e100 1 -1e100", M, 2 * M, 0.5),
        ];
        for &(spec, eval, range, want) in cases {
            let points = window(&values(spec), eval, range);
            assert_close(avg_over_time(&points), want, &format!("avg_over_time({spec}[{range}]) at {eval}"));
        }
        // load 5s, eval 55s [1m]: extreme magnitudes.
        let cases: &[(&str, f64)] = &[
            ("1e10 1e-6 1e-6 1e-6 1e-6 1e-6", 1.6666666666666675e+09),
            (
                "5.30921651659898 0.961118537914768 1.62091361305318 0.865089463758091 0.323055185914577 0.951811357687154",
                1.67186744582113,
            ),
            ("1.78264e50 0.76342771 1.9592258 7.69805412 458.90154", 3.56528E+49),
            ("0.76342771 1.9592258 7.69805412 1.78264e50 458.90154", 3.56528E+49),
            ("1.78264E+50 0.76342771 1.9592258 2.258E+220 7.69805412 458.90154", 3.76333333333333E+219),
            ("-1.78264E+50 0.76342771 1.9592258 2.258E+220 7.69805412 -458.90154", 3.76333333333333E+219),
            ("-1.78264E+50 0.76342771 1.9592258 -2.258E+220 7.69805412 -458.90154", -3.76333333333333E+219),
            ("-1.78264E+215 0.76342771 1.9592258 2.258E+220 7.69805412 -458.90154", 3.76330362266667E+219),
            (
                "-1.78264E+215 0.76342771 1.9592258 2.258E+220 7.69805412 1.78264E+215 -458.90154",
                3.225714285714286e+219,
            ),
            (
                "-1.78264E+219 0.76342771 1.9592258 2.3757689E+217 -2.3757689E+217 2.258E+220 7.69805412 1.78264E+219 -458.90154",
                2.5088888888888888e+219,
            ),
            (
                "-2.258E+220 -1.78264E+219 0.76342771 1.9592258 2.3757689E+217 -2.3757689E+217 2.258E+220 7.69805412 1.78264E+219 -458.90154",
                0.0,
            ),
        ];
        for &(spec, want) in cases {
            let points = window(&series(5 * S, spec), 55 * S, M);
            assert_close(avg_over_time(&points), want, &format!("avg_over_time({spec})"));
        }
        // Exactly 52, not merely close (the scripts compare with ==).
        let foo = series(10 * S, "52+0x100");
        for range in [100, 110, 120, 130] {
            assert_eq!(avg_over_time(&window(&foo, 10 * M, range * S)), 52.0, "avg_over_time(foo[{range}s])");
        }

        // sum_over_time, and sum/count, which overflows where avg does not.
        let sums: &[(&str, i64, i64, f64)] = &[
            ("1 2 3 4 5", 55 * S, M, 15.0),
            ("1 2 3 4 Inf", 55 * S, M, f64::INFINITY),
            ("1 2 3 Inf -Inf", 55 * S, M, f64::NAN),
            (&format!("{big} {big}"), 55 * S, M, f64::INFINITY),
            (&format!("-{big} -{big} -{big}"), 55 * S, M, f64::NEG_INFINITY),
            (&format!("-{big} {big}"), 55 * S, M, 0.0),
            ("1 2 3 NaN NaN", 55 * S, M, f64::NAN),
            ("1 1e100 1 -1e100", M, 2 * M, 2.0),
        ];
        for &(spec, eval, range, want) in sums {
            let points = window(&values(spec), eval, range);
            assert_close(sum_over_time(&points), want, &format!("sum_over_time({spec}[{range}]) at {eval}"));
        }
        // Dense samples: load 1ms, 1+0x4000, at 4s.
        let dense = series(1, "1+0x4000");
        for range in [1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003, 3000, 3001, 3002, 3003] {
            assert_eq!(sum_over_time(&window(&dense, 4 * S, range)), range as f64, "sum_over_time[{range}ms]");
        }
        assert!(avg_over_time(&[]).is_nan());
        assert_eq!(sum_over_time(&[]), 0.0);
    }

    #[test]
    fn min_max_over_time() {
        // (series at 10s, min, max) at 1m [2m].
        let nan = f64::NAN;
        let cases: &[(&str, f64, f64)] = &[
            ("2 0 3", 0.0, 3.0),
            ("2 0 NaN", 0.0, 2.0),
            ("2 NaN 1", 1.0, 2.0),
            ("NaN 0 1", 0.0, 1.0),
            ("NaN NaN NaN", nan, nan),
            ("_ 5 2 _ 4 _", 2.0, 5.0),
            ("-Inf NaN Inf", f64::NEG_INFINITY, f64::INFINITY),
        ];
        for &(spec, want_min, want_max) in cases {
            let points = window(&values(spec), M, 2 * M);
            assert_close(min_over_time(&points), want_min, &format!("min_over_time({spec})"));
            assert_close(max_over_time(&points), want_max, &format!("max_over_time({spec})"));
        }
        // ts_of_*: load 10s53ms, eval 90s [90s]. Ties go to the last point.
        let points = window(&series(10_053, "1 2 3 0 5 6 2 1 4"), 90 * S, 90 * S);
        assert_eq!(ts_of_min_over_time(&points), 30.159);
        assert_eq!(ts_of_max_over_time(&points), 50.265);
        let ties = series(10 * S, "1 3 1 3");
        assert_eq!(ts_of_min_over_time(&ties), 20.0);
        assert_eq!(ts_of_max_over_time(&ties), 30.0);
        assert_eq!(ts_of_max_over_time(&series(10 * S, "NaN NaN")), 10.0);
        assert_eq!(ts_of_max_over_time(&series(10 * S, "NaN 1 NaN")), 10.0);
        assert!(min_over_time(&[]).is_nan() && ts_of_max_over_time(&[]).is_nan());
    }

    #[test]
    fn variance_over_time() {
        let points = window(&values("0 8 8 2 3"), M, 2 * M);
        assert_close(stdvar_over_time(&points), 10.56, "stdvar_over_time");
        assert_close(stddev_over_time(&points), 3.249615, "stddev_over_time");
        // Kahan keeps a constant series exactly at zero (#4927).
        let constant = window(&values("1.5990505637277868 1.5990505637277868 1.5990505637277868"), 55 * S, M);
        assert_eq!(stdvar_over_time(&constant), 0.0);
        assert_eq!(stddev_over_time(&constant), 0.0);
        assert_eq!(stdvar_over_time(&values("1 1 1")), 0.0, "mix: floats only");
        assert_eq!(stdvar_over_time(&values("7")), 0.0, "single point");
        assert!(stdvar_over_time(&values("1 NaN 2")).is_nan());
        assert!(stdvar_over_time(&values("1 Inf 2")).is_nan());
        assert!(stdvar_over_time(&[]).is_nan());
    }

    #[test]
    fn mad_over_time_cases() {
        // (series at 10s, eval, range, expected)
        let cases: &[(&str, i64, i64, f64)] = &[
            ("4 6 2 1 999 1 2", 70 * S, 70 * S, 1.0),
            ("1 2 3 4 5", 40 * S, 50 * S, 1.0),
            ("7 7 7 7 7", 40 * S, 50 * S, 0.0),
            ("5", 0, 10 * S, 0.0),
            ("1 2 NaN 4", 30 * S, 40 * S, f64::NAN),
            ("1 1 1", 70 * S, 70 * S, 0.0),
        ];
        for &(spec, eval, range, want) in cases {
            let points = window(&values(spec), eval, range);
            assert_close(mad_over_time(&points), want, &format!("mad_over_time({spec})"));
        }
        assert!(mad_over_time(&[]).is_nan());
    }

    #[test]
    fn quantile_over_time_and_quantile() {
        let two = values("0 1");
        let three = values("0 1 2");
        let uneven = values("0 1 4");
        // (q, two samples, three samples, uneven samples)
        let cases: &[(f64, f64, f64, f64)] = &[
            (0.0, 0.0, 0.0, 0.0),
            (0.5, 0.5, 1.0, 1.0),
            (0.75, 0.75, 1.5, 2.5),
            (0.8, 0.8, 1.6, 2.8),
            (1.0, 1.0, 2.0, 4.0),
            (-1.0, f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY),
            (2.0, f64::INFINITY, f64::INFINITY, f64::INFINITY),
            (f64::NAN, f64::NAN, f64::NAN, f64::NAN),
        ];
        for &(q, w2, w3, wu) in cases {
            assert_close(quantile_over_time(q, &two), w2, &format!("q={q} two"));
            assert_close(quantile_over_time(q, &three), w3, &format!("q={q} three"));
            assert_close(quantile_over_time(q, &uneven), wu, &format!("q={q} uneven"));
        }
        // The quantile aggregation: NaN sorts first.
        let with_nan = [0.0, 1.0, f64::NAN];
        assert_close(quantile(0.8, &mut with_nan.clone()), 0.6, "NaN sample 0.8");
        assert!(quantile(0.2, &mut with_nan.clone()).is_nan(), "between NaN and 0");
        assert!(quantile(0.5, &mut []).is_nan(), "empty");
        assert_eq!(quantile(0.3, &mut [7.0]), 7.0, "single");
        // Interpolation as lower*(1-w) + upper*w: an infinite neighbour with
        // zero weight still gives NaN, as in Prometheus.
        assert!(quantile(0.0, &mut [1.0, f64::INFINITY]).is_nan());
        assert!(quantile(1.0, &mut [1.0, f64::INFINITY]).is_nan());
        assert_eq!(quantile(0.5, &mut [1.0, f64::INFINITY]), f64::INFINITY);
        let mut v = [3.0, f64::NAN, 1.0, 2.0];
        quantile(0.5, &mut v);
        assert!(v[0].is_nan() && v[1..] == [1.0, 2.0, 3.0], "sorted in place, NaN first: {v:?}");
        assert!(quantile_over_time(0.5, &[]).is_nan());
    }

    /// The buckets of a classic histogram loaded as `0+{increment}x10` per
    /// bucket at 5m, evaluated at 50m: `(le, 10 * increment)`.
    fn buckets_at_50m(increments: &[(f64, f64)]) -> Vec<(f64, f64)> {
        increments.iter().map(|&(le, inc)| (le, 10.0 * inc)).collect()
    }

    #[test]
    fn bucket_quantile_promqltest_cases() {
        let inf = f64::INFINITY;
        let positive = buckets_at_50m(&[(0.1, 5.0), (0.2, 7.0), (1.0, 11.0), (inf, 12.0)]);
        let negative = buckets_at_50m(&[(-0.2, 1.0), (-0.1, 2.0), (0.3, 2.0), (inf, 3.0)]);
        let positive3 = buckets_at_50m(&[(0.0, 0.0), (0.1, 5.0), (0.2, 7.0), (1.0, 11.0), (inf, 11.0)]);
        let negative3 = buckets_at_50m(&[(-0.25, 0.0), (-0.2, 1.0), (-0.1, 2.0), (0.3, 2.0), (inf, 2.0)]);
        let second = |n: f64| vec![(0.0, 0.0), (2.0, n), (4.0, 2.0 * n), (6.0, 3.0 * n), (inf, 3.0 * n)];
        let nonmonotonic =
            buckets_at_50m(&[(0.1, 2.0), (1.0, 1.0), (10.0, 5.0), (100.0, 4.0), (1000.0, 9.0), (inf, 8.0)]);
        // (buckets, q, expected, forced monotonicity)
        let cases: Vec<(&Vec<(f64, f64)>, f64, f64, bool)> = vec![
            (&positive3, 0.0, 0.0, false),
            (&negative3, 0.0, -0.25, false),
            (&positive3, 0.25, 0.055, false),
            (&negative3, 0.25, -0.225, false),
            (&positive3, 0.5, 0.125, false),
            (&negative3, 0.5, -0.2, false),
            (&positive3, 0.75, 0.45, false),
            (&negative3, 0.75, -0.15, false),
            (&positive3, 1.0, 1.0, false),
            (&negative3, 1.0, -0.1, false),
            (&positive, -0.1, f64::NEG_INFINITY, false),
            (&negative, 1.01, f64::INFINITY, false),
            (&positive, f64::NAN, f64::NAN, false),
            (&positive, 0.0, 0.0, false),
            (&negative, 0.0, -0.2, false),
            (&positive, 1.0, 1.0, false),
            (&negative, 1.0, 0.3, false),
            (&positive, 0.2, 0.048, false),
            (&negative, 0.2, -0.2, false),
            (&positive, 0.5, 0.15, false),
            (&negative, 0.5, -0.15, false),
            (&positive, 0.8, 0.72, false),
            (&negative, 0.8, 0.3, false),
            (&nonmonotonic, 0.01, 0.0045, true),
            (&nonmonotonic, 0.5, 8.5, true),
            (&nonmonotonic, 0.99, 979.75, true),
        ];
        let seconds = second(1.0);
        let mut all = cases;
        all.extend([(&seconds, 1.0 / 6.0, 1.0, false), (&seconds, 0.5, 3.0, false), (&seconds, 5.0 / 6.0, 5.0, false)]);
        for (i, (buckets, q, want, forced)) in all.into_iter().enumerate() {
            let mut b = buckets.clone();
            let got = bucket_quantile(q, &mut b);
            assert_close(got.value, want, &format!("case {i}: q={q} {buckets:?}"));
            assert_eq!(got.forced_monotonicity, forced, "case {i}: forced");
        }
        let mut b = nonmonotonic.clone();
        let got = bucket_quantile(0.5, &mut b);
        assert_eq!((got.min_bucket, got.max_bucket, got.max_diff), (1.0, inf, 10.0));
        assert_eq!(b, vec![(0.1, 20.0), (1.0, 20.0), (10.0, 50.0), (100.0, 50.0), (1000.0, 90.0), (inf, 90.0)]);
    }

    #[test]
    fn bucket_quantile_over_rates() {
        // histograms.test: request_duration_seconds, rate(...[10m]) at 50m.
        let rate = |increment: f64| {
            let points = window(&series(5 * M, &format!("0+{increment}x10")), 50 * M, 10 * M);
            extrapolated_rate(&points, 40 * M, 50 * M, true, true).unwrap()
        };
        let inf = f64::INFINITY;
        // (job, instance) → increments for le 0.1, 0.2, +Inf.
        let series_increments = [[1.0, 3.0, 4.0], [2.0, 5.0, 6.0], [3.0, 4.0, 6.0], [4.0, 7.0, 9.0]];
        let les = [0.1, 0.2, inf];
        let group = |members: &[usize]| -> Vec<(f64, f64)> {
            (0..3)
                .map(|b| {
                    let mut sum = SumState::default();
                    for &m in members {
                        sum.add(rate(series_increments[m][b]));
                    }
                    (les[b], sum.sum())
                })
                .collect()
        };
        // (members, q, expected)
        let cases: &[(&[usize], f64, f64)] = &[
            (&[0, 1, 2, 3], 0.3, 0.075),
            (&[0, 1, 2, 3], 0.5, 0.1277777777777778),
            (&[0, 2], 0.3, 0.075),
            (&[1, 3], 0.3, 0.075),
            (&[0, 2], 0.5, 0.1333333333),
            (&[1, 3], 0.5, 0.125),
            (&[0, 1], 0.3, 0.1),
            (&[2, 3], 0.3, 0.0642857142857143),
            (&[0, 1], 0.5, 0.14),
            (&[2, 3], 0.5, 0.1125),
            (&[0], 0.3, 0.11),
            (&[1], 0.3, 0.09),
            (&[2], 0.3, 0.06),
            (&[3], 0.3, 0.0675),
            (&[0], 0.5, 0.15),
            (&[1], 0.5, 0.13333333333333333),
            (&[2], 0.5, 0.1),
            (&[3], 0.5, 0.11666666666666667),
        ];
        for &(members, q, want) in cases {
            let got = bucket_quantile(q, &mut group(members));
            assert_close(got.value, want, &format!("{members:?} q={q}"));
            assert!(!got.forced_monotonicity);
        }
        // avg by (le) gives the same quantiles.
        let mut averaged: Vec<(f64, f64)> = (0..3)
            .map(|b| {
                let mut mean = MeanState::default();
                for m in &series_increments {
                    mean.add(rate(m[b]));
                }
                (les[b], mean.mean())
            })
            .collect();
        assert_close(bucket_quantile(0.5, &mut averaged).value, 0.12777777777777778, "avg by (le)");

        // mixed_bucket: duplicate bounds (0.2, 2e-1, 2.0e-1) are coalesced.
        let r = rate(1.0);
        let mut mixed = vec![(0.1, r), (0.2, r), (0.2, r), (0.2, r), (inf, rate(4.0))];
        assert_close(bucket_quantile(0.5, &mut mixed.clone()).value, 0.15, "mixed 0.5");
        assert_close(bucket_quantile(0.75, &mut mixed.clone()).value, 0.2, "mixed 0.75");
        assert_close(bucket_quantile(1.0, &mut mixed).value, 0.2, "mixed 1");
        assert_eq!(mixed, vec![(0.1, r), (0.2, 3.0 * r), (inf, 4.0 * r)], "coalesced in place");
        let mut only_inf = vec![(inf, 0.0), (inf, 0.0)];
        assert!(bucket_quantile(0.5, &mut only_inf).value.is_nan(), "single bucket after coalescing");
        // All-zero rates: no observations.
        let mut empty = vec![(0.1, 0.0), (0.2, 0.0), (inf, 0.0)];
        assert!(bucket_quantile(0.2, &mut empty).value.is_nan());
        // Constant buckets: rate 0 everywhere, so NaN.
        let zero = extrapolated_rate(&series(M, "1 1 1 1 1"), 0, 5 * M, true, true).unwrap();
        let mut constant = vec![(0.0, zero), (1.0, zero), (2.0, zero), (inf, zero)];
        assert!(bucket_quantile(1.0, &mut constant).value.is_nan());
    }

    #[test]
    fn bucket_quantile_edge_cases() {
        let inf = f64::INFINITY;
        // Unsorted input is sorted.
        let mut b = vec![(inf, 10.0), (1.0, 5.0), (2.0, 10.0)];
        assert_eq!(bucket_quantile(0.5, &mut b).value, 1.0);
        assert_eq!(b, vec![(1.0, 5.0), (2.0, 10.0), (inf, 10.0)]);
        // No +Inf bucket.
        assert!(bucket_quantile(0.5, &mut vec![(1.0, 5.0), (2.0, 10.0)]).value.is_nan());
        // Empty input.
        assert!(bucket_quantile(0.5, &mut vec![]).value.is_nan());
        // Quantile in the +Inf bucket: the second-highest bound.
        assert_eq!(bucket_quantile(0.9, &mut vec![(1.0, 5.0), (2.0, 6.0), (inf, 10.0)]).value, 2.0);
        // Lowest bucket with a positive bound interpolates from 0.
        assert_eq!(bucket_quantile(0.25, &mut vec![(4.0, 10.0), (inf, 10.0)]).value, 1.0);
        // Out-of-range q leaves the buckets alone.
        let mut untouched = vec![(inf, 1.0), (1.0, 1.0)];
        let got = bucket_quantile(-1.0, &mut untouched);
        assert_eq!(got.value, f64::NEG_INFINITY);
        assert_eq!(untouched, vec![(inf, 1.0), (1.0, 1.0)]);
        assert_eq!((got.min_bucket, got.max_bucket, got.max_diff), (0.0, 0.0, 0.0));
        // Floating-point noise is levelled silently, not reported as forced.
        let mut noisy = vec![(1.0, 1e13), (2.0, 1e13 - 1.0), (inf, 2e13)];
        let got = bucket_quantile(0.5, &mut noisy);
        assert!(got.fixed_precision && !got.forced_monotonicity);
        assert_eq!(noisy[1].1, 1e13);
        let got = bucket_quantile(0.5, &mut vec![(1.0, 1.0), (2.0, 3.0), (inf, 4.0)]);
        assert!(!got.fixed_precision && !got.forced_monotonicity);
        assert_eq!((got.min_bucket, got.max_bucket, got.max_diff), (inf, f64::NEG_INFINITY, 0.0));
    }

    #[test]
    fn bucket_fraction_cases() {
        let inf = f64::INFINITY;
        let second = || vec![(0.0, 0.0), (2.0, 10.0), (4.0, 20.0), (6.0, 30.0), (inf, 30.0)];
        let positive3 = || buckets_at_50m(&[(0.0, 0.0), (0.1, 5.0), (0.2, 7.0), (1.0, 11.0), (inf, 11.0)]);
        let negative3 = || buckets_at_50m(&[(-0.25, 0.0), (-0.2, 1.0), (-0.1, 2.0), (0.3, 2.0), (inf, 2.0)]);
        let cases: Vec<(f64, f64, Vec<(f64, f64)>, f64)> = vec![
            (0.0, 4.0, second(), 0.6666666666666666),
            (0.0, 6.0, second(), 1.0),
            (0.0, 3.5, second(), 0.5833333333333334),
            (0.0, 0.2, positive3(), 0.6363636363636364),
            (0.0, 0.2, negative3(), 0.0),
            (2.0, 2.0, second(), 0.0),
            (3.0, 2.0, second(), 0.0),
            (f64::NAN, 1.0, second(), f64::NAN),
            (0.0, f64::NAN, second(), f64::NAN),
            (f64::NEG_INFINITY, inf, second(), 1.0),
            (-10.0, -5.0, second(), 0.0),
            (5.0, 10.0, second(), 1.0 / 6.0),
            (0.0, 1.0, vec![(0.0, 0.0), (2.0, 0.0), (inf, 0.0)], f64::NAN),
            (0.0, 1.0, vec![(2.0, 4.0)], f64::NAN),
            // The lowest bucket with a non-positive bound starts at -Inf and
            // is not interpolated.
            (-4.0, -2.0, vec![(-3.0, 4.0), (-1.0, 8.0), (inf, 8.0)], 0.25),
        ];
        for (lower, upper, mut buckets, want) in cases {
            let what = format!("histogram_fraction({lower}, {upper}, {buckets:?})");
            assert_close(bucket_fraction(lower, upper, &mut buckets), want, &what);
        }
    }

    #[test]
    fn date_parts() {
        use DatePart::*;
        // (part, timestamp seconds, expected)
        let cases: &[(DatePart, f64, f64)] = &[
            (Year, 0.0, 1970.0),
            (Year, 1136239445.0, 2006.0),
            (Month, 0.0, 1.0),
            (Month, 1136239445.0, 1.0),
            (DayOfMonth, 0.0, 1.0),
            (DayOfMonth, 1136239445.0, 2.0),
            (DayOfYear, 0.0, 1.0),
            (DayOfYear, 1136239445.0, 2.0),
            (DayOfWeek, 0.0, 4.0),
            (DayOfWeek, 1136239445.0, 1.0),
            (Hour, 0.0, 0.0),
            (Hour, 1136239445.0, 22.0),
            (Minute, 0.0, 0.0),
            (Minute, 1136239445.0, 4.0),
            (Year, 1230767999.0, 2008.0),
            (Year, 1230768000.0, 2009.0),
            (Month, 1456790399.0, 2.0),
            (DayOfMonth, 1456790399.0, 29.0),
            (Month, 1456790400.0, 3.0),
            (DayOfMonth, 1456790400.0, 1.0),
            (DayOfYear, 1483191420.0, 366.0),
            (DayOfYear, 1672493820.0, 365.0),
            (DaysInMonth, 1454284800.0, 29.0),
            (DaysInMonth, 1485907200.0, 28.0),
            (DaysInMonth, 0.0, 31.0),
            (DaysInMonth, 1456790400.0, 31.0),
            (DaysInMonth, 1_700_000_000.0, 30.0), // 2023-11-14
            (DaysInMonth, 951782400.0, 29.0),     // 2000-02-29: divisible by 400
            (DaysInMonth, -2206310400.0, 28.0),   // 1900-02-01: not a leap year
            (DayOfYear, 951868800.0, 61.0),       // 2000-03-01
            // Fractions truncate toward zero: -0.5 is 1970-01-01T00:00:00.
            (Year, -0.5, 1970.0),
            (Hour, 3599.9, 0.0),
            // Before the epoch.
            (Year, -1.0, 1969.0),
            (Month, -1.0, 12.0),
            (DayOfMonth, -1.0, 31.0),
            (DayOfYear, -1.0, 365.0),
            (DayOfWeek, -1.0, 3.0),
            (Hour, -1.0, 23.0),
            (Minute, -1.0, 59.0),
            (Year, -62135596800.0, 1.0), // 0001-01-01
            (Year, -62135596801.0, 0.0), // 0000-12-31
            (DayOfYear, -62135596801.0, 366.0),
            (Year, 253402300800.0, 10000.0),
        ];
        for &(part, t, want) in cases {
            assert_eq!(date_part(part, t), want, "{part:?}({t})");
        }
        // NaN, ±Inf and out-of-range values become math.MinInt64 seconds, as
        // Go's int64() does on amd64: all give the same (finite) fields.
        for t in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e19] {
            for part in [Minute, Hour, DayOfWeek, DayOfMonth, DayOfYear, DaysInMonth, Month, Year] {
                assert_eq!(date_part(part, t), date_part(part, -9_223_372_036_854_775_808.0), "{part:?}({t})");
                assert!(date_part(part, t).is_finite());
            }
        }
        // Every field stays in range over four centuries of days.
        let mut t = -6_000_000_000i64;
        while t < 7_000_000_000 {
            let ts = t as f64;
            let (month, day, dim, yday) =
                (date_part(Month, ts), date_part(DayOfMonth, ts), date_part(DaysInMonth, ts), date_part(DayOfYear, ts));
            assert!((1.0..=12.0).contains(&month) && (28.0..=31.0).contains(&dim) && day >= 1.0 && day <= dim);
            assert!((1.0..=366.0).contains(&yday));
            t += 86_400 * 7 + 3_601;
        }
    }

    #[test]
    fn civil_date_matches_reference_algorithm() {
        // Cross-check against Howard Hinnant's civil_from_days for a spread of days.
        fn civil(days: i64) -> (i64, i64, i64) {
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z.rem_euclid(146_097);
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = doy - (153 * mp + 2) / 5 + 1;
            let m = if mp < 10 { mp + 3 } else { mp - 9 };
            (yoe + era * 400 + i64::from(m <= 2), m, d)
        }
        let mut day = -800_000i64;
        while day < 800_000 {
            let ts = (day * 86_400 + 12_345) as f64;
            let (y, m, d) = civil(day);
            assert_eq!(
                (date_part(DatePart::Year, ts), date_part(DatePart::Month, ts), date_part(DatePart::DayOfMonth, ts)),
                (y as f64, m as f64, d as f64),
                "day {day}"
            );
            assert_eq!(date_part(DatePart::DayOfWeek, ts), (day + 4).rem_euclid(7) as f64, "weekday of day {day}");
            day += 997;
        }
    }

    #[test]
    fn round_and_elementwise() {
        // round(v): ties round up.
        let cases: &[(f64, f64, f64)] = &[
            (2.5, 1.0, 3.0),
            (2.0, 1.0, 2.0),
            (-2.5, 1.0, -2.0),
            (-2.0, 1.0, -2.0),
            (0.0, 1.0, 0.0),
            (-0.0, 1.0, 0.0),
            (f64::INFINITY, 1.0, f64::INFINITY),
            (f64::NEG_INFINITY, 1.0, f64::NEG_INFINITY),
            (f64::NAN, 1.0, f64::NAN),
            // aggregators.test, http_requests 100 and 200 at 50m.
            (0.004 * 100.0, 1.0, 0.0),
            (0.004 * 200.0, 1.0, 1.0),
            (-0.004 * 200.0, 1.0, -1.0),
            (0.005 * 100.0, 1.0, 1.0),
            (-1.0 * (0.005 * 100.0), 1.0, 0.0),
            (-1.0 * (0.005 * 200.0), 1.0, -1.0),
            (-1.0 * (1.0 + 0.005 * 200.0), 1.0, -2.0),
            (0.0005 * 100.0, 0.1, 0.1),
            (2.1 + 0.0005 * 200.0, 0.1, 2.2),
            (5.2 + 0.0005 * 100.0, 0.1, 5.3),
            (-1.0 * (5.2 + 0.0005 * 100.0), 0.1, -5.2),
            (-1.0 * (5.2 + 0.0005 * 200.0), 0.1, -5.3),
            (0.025 * 100.0, 5.0, 5.0),
            (0.045 * 100.0, 5.0, 5.0),
            (0.045 * 200.0, 5.0, 10.0),
        ];
        for &(v, to, want) in cases {
            assert_close(round_to(v, to), want, &format!("round({v}, {to})"));
        }

        let nan = f64::NAN;
        assert_eq!(clamp(-50.0, f64::NEG_INFINITY, 75.0), Some(-50.0));
        assert_eq!(clamp(100.0, f64::NEG_INFINITY, 75.0), Some(75.0));
        assert_eq!(clamp(-50.0, -25.0, f64::INFINITY), Some(-25.0));
        assert_eq!(clamp(0.0, -25.0, 75.0), Some(0.0));
        assert!(clamp(-50.0, 0.0, nan).unwrap().is_nan(), "NaN max");
        assert!(clamp(100.0, nan, 0.0).unwrap().is_nan(), "NaN min");
        assert!(clamp(nan, 0.0, 1.0).unwrap().is_nan(), "NaN value");
        assert_eq!(clamp(1.0, 5.0, -5.0), None, "max < min: no output");
        assert_eq!(clamp(-0.0, 0.0, 1.0).map(f64::is_sign_positive), Some(true));

        assert_eq!(go_min(3.0, 5.0), 3.0);
        assert_eq!(go_max(-2.0, -5.0), -2.0);
        assert!(go_min(nan, 3.0).is_nan() && go_min(3.0, nan).is_nan());
        assert!(go_max(nan, 3.0).is_nan() && go_max(3.0, nan).is_nan());
        assert_eq!(go_max(nan, f64::INFINITY), f64::INFINITY);
        assert_eq!(go_min(nan, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert!(go_max(-0.0, 0.0).is_sign_positive() && go_max(0.0, -0.0).is_sign_positive());
        assert!(go_min(-0.0, 0.0).is_sign_negative() && go_min(0.0, -0.0).is_sign_negative());

        let sgns: &[(f64, f64)] =
            &[(f64::NEG_INFINITY, -1.0), (f64::INFINITY, 1.0), (-50.0, -1.0), (0.0, 0.0), (100.0, 1.0)];
        for &(v, want) in sgns {
            assert_eq!(sgn(v), want);
        }
        assert!(sgn(nan).is_nan() && sgn(-0.0).is_sign_negative());

        assert_eq!(deg(std::f64::consts::PI), 180.0);
        assert_eq!(rad(180.0), std::f64::consts::PI);
        assert_eq!(deg(1.0), 1.0 * 180.0 / std::f64::consts::PI);
        assert!(deg(nan).is_nan() && rad(f64::INFINITY).is_infinite());
    }

    #[test]
    fn logarithms_match_go() {
        // functions.test prints these with Go's shortest representation, so
        // they are the exact Go results.
        let cases: &[(fn(f64) -> f64, f64, f64)] = &[
            (ln, 10.0, 2.302585092994046),
            (ln, 20.0, 2.995732273553991),
            (ln, 0.0, f64::NEG_INFINITY),
            (ln, -0.0, f64::NEG_INFINITY),
            (ln, 1.0, 0.0),
            (ln, f64::INFINITY, f64::INFINITY),
            (log2, 20.0, 4.321928094887363),
            (log2, 8.0, 3.0),
            (log2, 0.5, -1.0),
            (log2, 0.0, f64::NEG_INFINITY),
            (log2, f64::INFINITY, f64::INFINITY),
            (log2, 5e-324, -1074.0),
            (log10, 10.0, 1.0),
            (log10, 20.0, 1.301029995663981),
            (log10, 1000.0, 3.0),
            (log10, 0.0, f64::NEG_INFINITY),
        ];
        for &(f, v, want) in cases {
            assert_eq!(f(v), want, "f({v})");
        }
        // functions.test expects 3.3219280948873626 (within its tolerance);
        // Go's amd64 formula gives the neighbouring float.
        assert_close(log2(10.0), 3.3219280948873626, "log2(10)");
        // The Go formulas differ from the platform functions in the last bit
        // for many inputs.
        assert_eq!(log10(5.0), 0.6989700043360187);
        assert_ne!(log10(5.0), 5f64.log10());
        assert_eq!(log2(3.0), 1.5849625007211563);
        assert_ne!(log2(3.0), 3f64.log2());
        for f in [ln, log2, log10] {
            assert!(f(-10.0).is_nan() && f(f64::NAN).is_nan() && f(f64::NEG_INFINITY).is_nan());
        }
        // Go's amd64 Log does not normalize subnormals (golang/go#56600), and
        // neither does this port: ln(1e-310) is about -709.09, not -713.80.
        assert_close(ln(1e-310), -709.0850815488945, "subnormal ln");
        assert_close(log10(1e-310), -709.0850815488945 * std::f64::consts::LOG10_E, "subnormal log10");
        // log2 goes through Frexp first, which does normalize.
        assert_close(log2(1e-310), 1e-310f64.log2(), "subnormal log2");
        // Close to the platform logarithm elsewhere.
        for v in [3e-200, 0.1, 0.7071067811865476, 0.75, 1.5, 3.0, 7.0, 1e10, 1.7e308] {
            assert_close(ln(v), v.ln(), &format!("ln({v})"));
            assert_close(log2(v), v.log2(), &format!("log2({v})"));
            assert_close(log10(v), v.log10(), &format!("log10({v})"));
        }
        assert_eq!(go_frexp(10.0), (0.625, 4));
        assert_eq!(go_frexp(-3.0), (-0.75, 2));
        assert_eq!(go_frexp(5e-324), (0.5, -1073));
        assert_eq!(go_frexp(0.0), (0.0, 0));
    }

    #[test]
    fn aggregation_states() {
        // aggregators.test: http_requests at 50m are 100, 200, …, 800.
        let all: Vec<f64> = (1..=8).map(|i| 100.0 * i as f64).collect();
        let variance = |vs: &[f64]| {
            let mut s = VarianceState::default();
            vs.iter().for_each(|&v| s.add(v));
            s
        };
        assert_close(variance(&all).stddev(), 229.12878474779, "stddev");
        assert_close(variance(&all).variance(), 52500.0, "stdvar");
        let instance0 = [100.0, 300.0, 500.0, 700.0];
        assert_close(variance(&instance0).stddev(), 223.60679774998, "stddev by instance");
        assert_close(variance(&instance0).variance(), 50000.0, "stdvar by instance");
        // 0+1.33x10 at 50m in three series: exactly zero.
        let v = series(5 * M, "0+1.33x10").last().unwrap().value;
        assert_eq!(variance(&[v, v, v]).stddev(), 0.0);
        // NaN or Inf anywhere: NaN; a lone NaN/Inf: NaN; singles: 0.
        let nan_cases: &[&[f64]] = &[
            &[1.0, 2.0, f64::NAN],
            &[f64::NAN, 1.0, 2.0],
            &[f64::NAN],
            &[1.0, 2.0, f64::INFINITY],
            &[f64::INFINITY, 1.0, 2.0],
            &[f64::INFINITY],
        ];
        for vs in nan_cases {
            assert!(variance(vs).stddev().is_nan(), "{vs:?}");
            assert!(variance(vs).variance().is_nan(), "{vs:?}");
        }
        assert_eq!(variance(&[1.0, 2.0]).stddev(), 0.5);
        assert_eq!(variance(&[1.0, 2.0]).variance(), 0.25);
        assert_eq!(variance(&[2.0]).variance(), 0.0);
        assert_eq!(variance(&[2.0]).count(), 1);
        assert!(VarianceState::default().variance().is_nan());

        // avg, from the "Tests for avg" block.
        let big = 9.988465674311579e+307;
        let inf = f64::INFINITY;
        let avgs: &[(&[f64], f64)] = &[
            (&[8.0, 10.0, 12.0], 10.0),
            (&[0.0, inf, inf, 0.0], inf),
            (&[inf, 0.0, inf], inf),
            (&[inf, inf, inf, -inf], f64::NAN),
            (&[-inf, -inf, 0.0], -inf),
            (&[-inf, 0.0, -inf], -inf),
            (&[-inf, -inf, -inf, inf], f64::NAN),
            (&[-inf, 0.0, inf], f64::NAN),
            (&[big, big, big, big], big),
            (&[-big, -big, -big, -big], -big),
            (&[-big, -big, big, big], 0.0),
            (&[2.0, 8.0, 1e100, -1e100], 2.5),
            (&[inf, 2.0], inf),
            (&[2.0, -inf], -inf),
            (&[inf, -inf], f64::NAN),
            (&[f64::NAN, 2.0], f64::NAN),
            (&[2.0, f64::NAN], f64::NAN),
            (&[52.0; 12], 52.0),
        ];
        for (vs, want) in avgs {
            let mut mean = MeanState::default();
            vs.iter().for_each(|&v| mean.add(v));
            assert_close(mean.mean(), *want, &format!("avg{vs:?}"));
            assert_eq!(mean.count(), vs.len() as u64);
        }
        for n in 8..=12 {
            let mut mean = MeanState::default();
            (0..n).for_each(|_| mean.add(52.0));
            assert_eq!(mean.mean(), 52.0, "exactly 52 with {n} values");
        }
        assert!(MeanState::default().mean().is_nan());

        // sum.
        let sums: &[(&[f64], f64)] = &[
            (&[2.0, 8.0, 1e100, -1e100], 10.0),
            (&[inf, 2.0], inf),
            (&[-inf, 2.0], -inf),
            (&[inf, -inf], f64::NAN),
            (&[f64::NAN, 2.0], f64::NAN),
            (&[], 0.0),
        ];
        for (vs, want) in sums {
            let mut sum = SumState::default();
            vs.iter().for_each(|&v| sum.add(v));
            assert_close(sum.sum(), *want, &format!("sum{vs:?}"));
        }
        // The final `sum + compensation` turns sum(-0) into +0, as in Prometheus.
        let mut neg_zero = SumState::default();
        neg_zero.add(-0.0);
        assert!(neg_zero.sum().is_sign_positive());
    }
}
