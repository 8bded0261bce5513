//! Function calls: argument evaluation, the metric-name rules, and the
//! functions that work on series rather than numbers (`label_replace`,
//! `absent`, `sort`, `histogram_quantile`, …). The numeric kernels live in
//! [`super::functions`].

use rustc_hash::FxHashMap;
use vigil_shared::model::{Labels, METRIC_NAME};
use vigil_shared::promql::{Call, Expr, MatchOp};

use super::EvalError;
use super::eval::{Evaluator, RangeArg, StepSeries, Val, duplicate_labelset, merge_same_labels};
use super::functions::{self as k, DatePart};

pub(crate) fn eval(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let name = call.func.name;
    let steps = ev.steps.len();
    if call.func.arg_types.contains(&vigil_shared::promql::ValueType::Matrix) {
        return range_function(ev, call);
    }
    match name {
        "time" => Ok(Val::Scalar(ev.steps.times().map(|t| t as f64 / 1000.0).collect())),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps])),
        // The query's own bounds and step, in seconds (0 for an instant
        // query's step and range).
        "start" => Ok(Val::Scalar(vec![ev.ctx.query_start as f64 / 1000.0; steps])),
        "end" => Ok(Val::Scalar(vec![ev.ctx.query_end as f64 / 1000.0; steps])),
        "range" => Ok(Val::Scalar(vec![(ev.ctx.query_end - ev.ctx.query_start) as f64 / 1000.0; steps])),
        "step" => Ok(Val::Scalar(vec![ev.ctx.query_step as f64 / 1000.0; steps])),
        "min_of" | "max_of" => {
            let (a, b) = (ev.eval_scalar(&call.args[0])?, ev.eval_scalar(&call.args[1])?);
            let pick = if name == "min_of" { k::go_min } else { k::go_max };
            Ok(Val::Scalar(a.iter().zip(&b).map(|(a, b)| pick(*a, *b)).collect()))
        }
        "vector" => {
            let values = ev.eval_scalar(&call.args[0])?;
            Ok(Val::Vector(vec![StepSeries {
                labels: Labels::default(),
                values: values.into_iter().map(Some).collect(),
            }]))
        }
        "scalar" => {
            let input = ev.eval_vector(&call.args[0])?;
            Ok(Val::Scalar(
                (0..steps)
                    .map(|step| {
                        let mut present = input.iter().filter_map(|s| s.values[step]);
                        match (present.next(), present.next()) {
                            (Some(v), None) => v,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ))
        }
        "absent" => {
            let input = ev.eval_vector(&call.args[0])?;
            let values: Vec<Option<f64>> =
                (0..steps).map(|step| (!input.iter().any(|s| s.values[step].is_some())).then_some(1.0)).collect();
            Ok(Val::Vector(present_only(absent_labels(&call.args[0]), values)))
        }
        "label_replace" => label_replace(ev, call),
        "label_join" => label_join(ev, call),
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => sort(ev, call),
        "timestamp" => timestamp(ev, call),
        "histogram_quantile" => histogram_quantile(ev, call),
        "histogram_quantiles" => histogram_quantiles(ev, call),
        "histogram_fraction" => histogram_fraction(ev, call),
        // Native-histogram functions: float samples are ignored, as in
        // Prometheus, and Vigil stores no native histograms.
        "histogram_avg" | "histogram_count" | "histogram_sum" | "histogram_stddev" | "histogram_stdvar" => {
            for arg in &call.args {
                ev.eval(arg)?;
            }
            Ok(Val::Vector(Vec::new()))
        }
        "minute" | "hour" | "day_of_week" | "day_of_month" | "day_of_year" | "days_in_month" | "month" | "year" => {
            date_function(ev, call)
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let input = ev.eval_vector(&call.args[0])?;
            let bound = |i: usize, default: f64| -> Result<Vec<f64>, EvalError> {
                match call.args.get(i) {
                    Some(arg) => ev.eval_scalar(arg),
                    None => Ok(vec![default; steps]),
                }
            };
            let (min, max) = match name {
                "clamp" => (bound(1, 0.0)?, bound(2, 0.0)?),
                "clamp_min" => (bound(1, 0.0)?, vec![f64::INFINITY; steps]),
                _ => (vec![f64::NEG_INFINITY; steps], bound(1, 0.0)?),
            };
            map_values(input, |step, v| k::clamp(v, min[step], max[step]))
        }
        "round" => {
            let input = ev.eval_vector(&call.args[0])?;
            let to = match call.args.get(1) {
                Some(arg) => ev.eval_scalar(arg)?,
                None => vec![1.0; steps],
            };
            map_values(input, |step, v| Some(k::round_to(v, to[step])))
        }
        _ => {
            let f = elementwise(name)
                .ok_or_else(|| EvalError::Execution(format!("function {name:?} is not implemented")))?;
            let input = ev.eval_vector(&call.args[0])?;
            map_values(input, |_, v| Some(f(v)))
        }
    }
}

/// Functions that map each value on its own.
fn elementwise(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => k::ln,
        "log2" => k::log2,
        "log10" => k::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => f64::to_degrees,
        "rad" => f64::to_radians,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Applies `f` to every value, dropping the metric name (the result is no
/// longer that metric) and merging series that then coincide.
fn map_values(input: Vec<StepSeries>, f: impl Fn(usize, f64) -> Option<f64>) -> Result<Val, EvalError> {
    let out: Vec<StepSeries> = input
        .into_iter()
        .map(|s| StepSeries {
            labels: s.labels.without_metric_name(),
            values: s.values.iter().enumerate().map(|(step, v)| v.and_then(|v| f(step, v))).collect(),
        })
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect();
    Ok(Val::Vector(merge_same_labels(out)?))
}

fn present_only(labels: Labels, values: Vec<Option<f64>>) -> Vec<StepSeries> {
    if values.iter().any(Option::is_some) { vec![StepSeries { labels, values }] } else { Vec::new() }
}

/// The labels `absent` and `absent_over_time` give their result: the
/// equality matchers of a plain selector argument, except labels matched
/// more than once or by other operators.
fn absent_labels(arg: &Expr) -> Labels {
    let matchers = match arg {
        Expr::VectorSelector(s) => &s.matchers,
        Expr::MatrixSelector(m) => &m.selector.matchers,
        _ => return Labels::default(),
    };
    let mut labels = Labels::default();
    let mut seen: Vec<&str> = Vec::new();
    for m in matchers.iter().filter(|m| m.name != METRIC_NAME) {
        if m.op == MatchOp::Equal && !seen.contains(&m.name.as_str()) {
            labels = labels.with(&m.name, &m.value);
        } else {
            labels = labels.with(&m.name, "");
        }
        seen.push(&m.name);
    }
    labels
}

fn string_arg(call: &Call, i: usize) -> Result<String, EvalError> {
    fn literal(expr: &Expr) -> Option<&str> {
        match expr {
            Expr::StringLiteral { value, .. } => Some(value),
            Expr::Paren { expr, .. } => literal(expr),
            _ => None,
        }
    }
    call.args.get(i).and_then(literal).map(str::to_owned).ok_or_else(|| {
        EvalError::Execution(format!("expected a string literal as argument {} of {}", i + 1, call.func.name))
    })
}

fn label_replace(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let dst = string_arg(call, 1)?;
    let replacement = string_arg(call, 2)?;
    let src = string_arg(call, 3)?;
    let pattern = string_arg(call, 4)?;
    let regex = regex::Regex::new(&format!("^(?s:{pattern})$"))
        .map_err(|_| EvalError::Execution(format!("invalid regular expression in label_replace(): {pattern}")))?;
    if dst.is_empty() {
        return Err(EvalError::Execution(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let input = ev.eval_vector(&call.args[0])?;
    let out = input
        .into_iter()
        .map(|mut s| {
            let value = s.labels.get(&src).unwrap_or("");
            if let Some(captures) = regex.captures(value) {
                let mut result = String::new();
                captures.expand(&replacement, &mut result);
                s.labels = s.labels.with(&dst, &result);
            }
            s
        })
        .collect();
    Ok(Val::Vector(merge_same_labels(out)?))
}

fn label_join(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let dst = string_arg(call, 1)?;
    let separator = string_arg(call, 2)?;
    let sources: Vec<String> = (3..call.args.len()).map(|i| string_arg(call, i)).collect::<Result<_, _>>()?;
    if let Some(bad) = sources.iter().find(|s| s.is_empty()) {
        return Err(EvalError::Execution(format!("invalid source label name in label_join(): {bad}")));
    }
    if dst.is_empty() {
        return Err(EvalError::Execution(format!("invalid destination label name in label_join(): {dst}")));
    }
    let input = ev.eval_vector(&call.args[0])?;
    let out = input
        .into_iter()
        .map(|mut s| {
            let joined: Vec<&str> = sources.iter().map(|name| s.labels.get(name).unwrap_or("")).collect();
            s.labels = s.labels.with(&dst, &joined.join(&separator));
            s
        })
        .collect();
    Ok(Val::Vector(merge_same_labels(out)?))
}

fn sort(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let mut input = ev.eval_vector(&call.args[0])?;
    if ev.steps.len() != 1 {
        ev.ctx.warn("sort is ineffective for range queries since results are always ordered by labels", call.span);
        return Ok(Val::Vector(input));
    }
    let value = |s: &StepSeries| s.values[0].unwrap_or(f64::NAN);
    match call.func.name {
        "sort" => input.sort_by(|a, b| nan_last(value(a), value(b), false)),
        "sort_desc" => input.sort_by(|a, b| nan_last(value(a), value(b), true)),
        name => {
            let names: Vec<String> = (1..call.args.len()).map(|i| string_arg(call, i)).collect::<Result<_, _>>()?;
            let descending = name == "sort_by_label_desc";
            input.sort_by(|a, b| {
                let by_labels = names
                    .iter()
                    .map(|n| natural_cmp(a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or("")))
                    .find(|o| o.is_ne())
                    .unwrap_or_else(|| a.labels.cmp(&b.labels));
                if descending { by_labels.reverse() } else { by_labels }
            });
        }
    }
    Ok(Val::Vector(input))
}

/// Orders values ascending or descending, NaN last either way, as
/// Prometheus's `sort`, `sort_desc`, `topk` and `bottomk` do.
pub(crate) fn nan_last(a: f64, b: f64, descending: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Natural order: runs of digits compare as numbers ("a2" < "a10").
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (digits(a), digits(b));
                let trim = |s: &[u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
                let (na, nb) = (&a[trim(&a[..da]).min(da)..da], &b[trim(&b[..db]).min(db)..db]);
                let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if order.is_ne() {
                    return order;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// `timestamp(v)`: the time of each sample. For a plain selector that is the
/// stored sample's own time, not the evaluation step.
fn timestamp(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    match &call.args[0] {
        Expr::VectorSelector(selector) => {
            let input = ev.sample_times(selector)?;
            map_values(input, |_, t| Some(t))
        }
        other => {
            let input = ev.eval_vector(other)?;
            let times: Vec<f64> = ev.steps.times().map(|t| t as f64 / 1000.0).collect();
            map_values(input, |step, _| Some(times[step]))
        }
    }
}

fn date_function(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let part = match call.func.name {
        "minute" => DatePart::Minute,
        "hour" => DatePart::Hour,
        "day_of_week" => DatePart::DayOfWeek,
        "day_of_month" => DatePart::DayOfMonth,
        "day_of_year" => DatePart::DayOfYear,
        "days_in_month" => DatePart::DaysInMonth,
        "month" => DatePart::Month,
        _ => DatePart::Year,
    };
    match call.args.first() {
        None => Ok(Val::Vector(vec![StepSeries {
            labels: Labels::default(),
            values: ev.steps.times().map(|t| Some(k::date_part(part, t.div_euclid(1000) as f64))).collect(),
        }])),
        Some(arg) => {
            let input = ev.eval_vector(arg)?;
            map_values(input, |_, v| Some(k::date_part(part, v)))
        }
    }
}

/// Classic histograms in an instant vector: bucket series grouped by all
/// their labels but `le`, the group's output labels without the name.
struct ClassicHistograms {
    groups: Vec<(Labels, Vec<(f64, usize)>)>,
}

impl ClassicHistograms {
    fn group(ev: &Evaluator, input: &[StepSeries], arg: &Expr) -> Self {
        let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
        let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
        for (i, s) in input.iter().enumerate() {
            let le = s.labels.get("le").unwrap_or("");
            let Some(bound) = parse_go_float(le) else {
                let name = s.labels.metric_name().map(|n| format!(" for metric name {n:?}")).unwrap_or_default();
                ev.ctx.warn(
                    format!("bucket label \"le\" is missing or has a malformed value of {le:?}{name}"),
                    arg.span(),
                );
                continue;
            };
            let key = s.labels.filtered(|n| n != "le");
            let g = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key.without_metric_name(), Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push((bound, i));
        }
        ClassicHistograms { groups }
    }

    /// One output series per group (and per label variant from `labels_of`),
    /// with `f` applied to the group's buckets at each step.
    fn map(
        &self,
        input: &[StepSeries],
        steps: usize,
        labels_of: impl Fn(&Labels) -> Labels,
        mut f: impl FnMut(usize, &mut Vec<(f64, f64)>) -> f64,
    ) -> Vec<StepSeries> {
        let mut out = Vec::new();
        let mut buckets = Vec::new();
        for (labels, members) in &self.groups {
            let mut values = vec![None; steps];
            for (step, slot) in values.iter_mut().enumerate() {
                buckets.clear();
                buckets.extend(members.iter().filter_map(|(bound, i)| input[*i].values[step].map(|c| (*bound, c))));
                if !buckets.is_empty() {
                    *slot = Some(f(step, &mut buckets));
                }
            }
            if values.iter().any(Option::is_some) {
                out.push(StepSeries { labels: labels_of(labels), values });
            }
        }
        out
    }
}

fn warn_bad_quantile(ev: &Evaluator, q: &[f64], arg: &Expr) {
    if let Some(bad) = q.iter().copied().find(|q| q.is_nan() || *q < 0.0 || *q > 1.0) {
        ev.ctx.warn(
            format!("quantile value should be between 0 and 1, got {}", super::aggregate::go_float(bad)),
            arg.span(),
        );
    }
}

const FORCED_MONOTONICITY: &str = "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)";

fn histogram_quantile(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let q = ev.eval_scalar(&call.args[0])?;
    let input = ev.eval_vector(&call.args[1])?;
    warn_bad_quantile(ev, &q, &call.args[0]);
    let histograms = ClassicHistograms::group(ev, &input, &call.args[1]);
    let mut forced = false;
    let out = histograms.map(&input, ev.steps.len(), Labels::clone, |step, buckets| {
        let result = k::bucket_quantile(q[step], buckets);
        forced |= result.forced_monotonicity;
        result.value
    });
    if forced {
        ev.ctx.info(FORCED_MONOTONICITY, call.args[1].span());
    }
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// `histogram_quantiles(v, "label", q0, q1, …)`: one series per quantile,
/// told apart by `label`.
fn histogram_quantiles(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let input = ev.eval_vector(&call.args[0])?;
    let label = string_arg(call, 1)?;
    let mut quantiles = Vec::new();
    for arg in &call.args[2..] {
        let q = ev.eval_scalar(arg)?;
        warn_bad_quantile(ev, &q, arg);
        quantiles.push(q);
    }
    let histograms = ClassicHistograms::group(ev, &input, &call.args[0]);
    let mut out = Vec::new();
    let mut forced = false;
    for q in &quantiles {
        // A quantile is one value for the whole grid unless it is computed.
        let text = openmetrics_float(q.first().copied().unwrap_or(f64::NAN));
        out.extend(histograms.map(
            &input,
            ev.steps.len(),
            |l| l.with(&label, &text),
            |step, buckets| {
                let result = k::bucket_quantile(q[step], buckets);
                forced |= result.forced_monotonicity;
                result.value
            },
        ));
    }
    if forced {
        ev.ctx.info(FORCED_MONOTONICITY, call.args[0].span());
    }
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// `histogram_fraction(lower, upper, v)` over classic buckets.
fn histogram_fraction(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let lower = ev.eval_scalar(&call.args[0])?;
    let upper = ev.eval_scalar(&call.args[1])?;
    let input = ev.eval_vector(&call.args[2])?;
    let histograms = ClassicHistograms::group(ev, &input, &call.args[2]);
    let out = histograms.map(&input, ev.steps.len(), Labels::clone, |step, buckets| {
        k::bucket_fraction(lower[step], upper[step], buckets)
    });
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// A float as OpenMetrics writes it, always with a decimal point (`0.0`,
/// `0.25`, `+Inf`), as Prometheus labels quantiles.
fn openmetrics_float(v: f64) -> String {
    let text = super::aggregate::go_float(v);
    if v.is_finite() && !text.contains(['.', 'e']) { format!("{text}.0") } else { text }
}

/// Parses a float as Go's `strconv.ParseFloat` does for `le` labels,
/// including `+Inf`, `Inf` and `NaN` in any case.
fn parse_go_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => Some(if lower.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        "nan" => Some(f64::NAN),
        _ => vigil_shared::promql::parse_number(text).or_else(|| text.parse().ok()),
    }
}

/// Functions over a range vector: one value per series and step from the
/// samples in that step's window.
fn range_function(ev: &Evaluator, call: &Call) -> Result<Val, EvalError> {
    let name = call.func.name;
    if name == "holt_winters" && !ev.ctx.options.enable_holt_winters {
        return Err(EvalError::Execution(
            "holt_winters is disabled: use double_exponential_smoothing, or start Vigil with --promql.holt-winters"
                .to_owned(),
        ));
    }
    let matrix_index =
        call.func.arg_types.iter().position(|t| *t == vigil_shared::promql::ValueType::Matrix).unwrap_or(0);
    // Scalar arguments, one value per step.
    let mut scalars: Vec<Vec<f64>> = Vec::new();
    for (i, arg) in call.args.iter().enumerate() {
        if i != matrix_index {
            scalars.push(ev.eval_scalar(arg)?);
        }
    }
    let arg = ev.range_arg(&call.args[matrix_index])?;
    let steps = ev.steps.len();
    if name == "absent_over_time" {
        return Ok(Val::Vector(absent_over_time(ev, call, &arg)));
    }
    if name == "quantile_over_time" {
        warn_bad_quantile(ev, &scalars[0], &call.args[0]);
    }
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::with_capacity(arg.series.len());
    let counter = matches!(name, "rate" | "increase");
    for series in &arg.series {
        ev.ctx.check_deadline()?;
        let mut values = vec![None; steps];
        // Windows only move forward as steps do: two cursors find them, and
        // counter resets are found once per series rather than per window.
        let samples = &series.samples[..];
        let (mut lo, mut hi) = (0usize, 0usize);
        let mut resets = counter.then(|| k::CounterResets::new(samples));
        for (step, slot) in values.iter_mut().enumerate() {
            // A window can hold many samples (`quantile_over_time` over a
            // day of 1s points sorts each): look at the clock within a
            // series too, so a timeout stops a long range query promptly.
            if step % 8 == 7 {
                ev.ctx.check_deadline()?;
            }
            let ts = ev.steps.at(step);
            let reference = arg.reference(ts);
            while lo < samples.len() && samples[lo].timestamp_ms <= reference - arg.range_ms {
                lo += 1;
            }
            hi = hi.max(lo);
            while hi < samples.len() && samples[hi].timestamp_ms <= reference {
                hi += 1;
            }
            let points = &samples[lo..hi];
            if points.is_empty() {
                continue;
            }
            let scalar = |i: usize| scalars.get(i).map_or(f64::NAN, |v| v[step]);
            *slot = match name {
                "rate" | "increase" => match resets.as_mut() {
                    Some(resets) if points.len() >= 2 => {
                        let result = resets.increase(samples, lo, hi);
                        k::extrapolate(points, result, reference - arg.range_ms, reference, true, name == "rate")
                    }
                    _ => None,
                },
                "delta" => k::extrapolated_rate(points, reference - arg.range_ms, reference, false, false),
                "irate" => k::instant_value(points, true),
                "idelta" => k::instant_value(points, false),
                "changes" => Some(k::changes(points)),
                "resets" => Some(k::resets(points)),
                "deriv" => k::deriv(points),
                "predict_linear" => k::predict_linear(points, ts, scalar(0)),
                "double_exponential_smoothing" | "holt_winters" => {
                    k::double_exponential_smoothing(points, scalar(0), scalar(1)).map_err(EvalError::Execution)?
                }
                "avg_over_time" => Some(k::avg_over_time(points)),
                "sum_over_time" => Some(k::sum_over_time(points)),
                "min_over_time" => Some(k::min_over_time(points)),
                "max_over_time" => Some(k::max_over_time(points)),
                "count_over_time" => Some(points.len() as f64),
                "stddev_over_time" => Some(k::stddev_over_time(points)),
                "stdvar_over_time" => Some(k::stdvar_over_time(points)),
                "mad_over_time" => Some(k::mad_over_time(points)),
                "quantile_over_time" => Some(k::quantile_over_time(scalar(0), points)),
                "last_over_time" => points.last().map(|p| p.value),
                "first_over_time" => points.first().map(|p| p.value),
                "present_over_time" => Some(1.0),
                "ts_of_last_over_time" => points.last().map(|p| p.timestamp_ms as f64 / 1000.0),
                "ts_of_first_over_time" => points.first().map(|p| p.timestamp_ms as f64 / 1000.0),
                "ts_of_max_over_time" => ts_of_extreme(points, |candidate, best| candidate >= best),
                "ts_of_min_over_time" => ts_of_extreme(points, |candidate, best| candidate <= best),
                other => return Err(EvalError::Execution(format!("function {other:?} is not implemented"))),
            };
        }
        if values.iter().any(Option::is_some) {
            let labels = if keeps_name { series.labels.clone() } else { series.labels.without_metric_name() };
            if matches!(name, "rate" | "increase")
                && let Some(metric) = series.labels.metric_name()
                && !["_total", "_sum", "_count", "_bucket"].iter().any(|suffix| metric.ends_with(suffix))
            {
                ev.ctx.info(
                    format!(
                        "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
                    ),
                    call.args[matrix_index].span(),
                );
            }
            out.push(StepSeries { labels, values });
        }
    }
    // Prometheus refuses two result series with one label set even when
    // they never overlap in time.
    let mut seen: FxHashMap<&Labels, ()> = FxHashMap::default();
    for s in &out {
        if seen.insert(&s.labels, ()).is_some() {
            return Err(duplicate_labelset());
        }
    }
    Ok(Val::Vector(out))
}

/// The time of the largest (or smallest) value in the window; NaN values
/// count only while nothing else has been seen. Ties go to the latest.
fn ts_of_extreme(points: &[crate::tsdb::Sample], better: impl Fn(f64, f64) -> bool) -> Option<f64> {
    let mut best = points.first()?;
    for p in &points[1..] {
        if better(p.value, best.value) || best.value.is_nan() {
            best = p;
        }
    }
    Some(best.timestamp_ms as f64 / 1000.0)
}

fn absent_over_time(ev: &Evaluator, call: &Call, arg: &RangeArg) -> Vec<StepSeries> {
    let values: Vec<Option<f64>> =
        ev.steps.times().map(|ts| (!arg.series.iter().any(|s| !arg.window(s, ts).is_empty())).then_some(1.0)).collect();
    present_only(absent_labels(&call.args[0]), values)
}
