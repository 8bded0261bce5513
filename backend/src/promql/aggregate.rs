//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, …) with
//! Prometheus's grouping and numerics (Kahan summation, the switch to an
//! incremental mean on overflow, Welford's variance).
//!
//! Groups are formed once per series, not once per step.

use rustc_hash::FxHashMap;
use vigil_shared::model::{Labels, METRIC_NAME};
use vigil_shared::promql::{AggregateExpr, AggregateOp, Expr, Grouping};

use super::EvalError;
use super::calls::nan_last;
use super::eval::{Evaluator, StepSeries, Val};
use super::functions::{MeanState, SumState, VarianceState, quantile};

pub(crate) fn eval(ev: &Evaluator, expr: &AggregateExpr) -> Result<Val, EvalError> {
    let steps = ev.steps.len();
    let param = match (&expr.param, expr.op) {
        (Some(p), AggregateOp::CountValues) => Param::Label(string_param(p)?),
        (Some(p), _) => Param::Scalar(ev.eval_scalar(p)?),
        (None, _) => Param::None,
    };
    let input = ev.eval_vector(&expr.expr)?;
    match (expr.op, param) {
        (AggregateOp::CountValues, Param::Label(label)) => count_values(expr, input, &label, steps).map(Val::Vector),
        (
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio,
            Param::Scalar(k),
        ) => select_k(ev, expr, input, &k, steps).map(Val::Vector),
        (op, param) => {
            let q = match param {
                Param::Scalar(q) => {
                    if let Some(p) = &expr.param {
                        warn_bad_quantiles(ev, &q, p);
                    }
                    q
                }
                _ => Vec::new(),
            };
            Ok(Val::Vector(aggregate(op, &expr.grouping, input, &q, steps)))
        }
    }
}

enum Param {
    None,
    Scalar(Vec<f64>),
    Label(String),
}

fn string_param(expr: &Expr) -> Result<String, EvalError> {
    match expr {
        Expr::StringLiteral { value, .. } => Ok(value.clone()),
        Expr::Paren { expr, .. } => string_param(expr),
        _ => Err(EvalError::Execution("expected a string literal as the parameter of count_values".to_owned())),
    }
}

/// Prometheus warns once per distinct bad quantile across the grid.
fn warn_bad_quantiles(ev: &Evaluator, q: &[f64], param: &Expr) {
    let mut warned_nan = false;
    let (mut max, mut min) = (f64::NEG_INFINITY, f64::INFINITY);
    for v in q {
        if v.is_nan() {
            warned_nan = true;
        } else {
            max = max.max(*v);
            min = min.min(*v);
        }
    }
    if warned_nan {
        ev.ctx.warn("quantile value should be between 0 and 1, got NaN", param.span());
    }
    if max > 1.0 {
        ev.ctx.warn(format!("quantile value should be between 0 and 1, got {}", go_float(max)), param.span());
    }
    if min < 0.0 {
        ev.ctx.warn(format!("quantile value should be between 0 and 1, got {}", go_float(min)), param.span());
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` prints the values
/// PromQL messages and labels show (`+Inf`, `NaN`, shortest digits).
pub(crate) use vigil_shared::model::api::format_value as go_float;

/// The key a series is grouped by, which is also the output's labels.
fn group_labels(labels: &Labels, grouping: &Grouping) -> Labels {
    match grouping {
        Grouping::None => Labels::default(),
        Grouping::By(names) => labels.filtered(|name| names.iter().any(|n| n == name)),
        Grouping::Without(names) => labels.filtered(|name| name != METRIC_NAME && !names.iter().any(|n| n == name)),
    }
}

/// Series indexes per group, groups in first-seen order.
fn groups(input: &[StepSeries], grouping: &Grouping) -> Vec<(Labels, Vec<usize>)> {
    let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
    let mut out: Vec<(Labels, Vec<usize>)> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let key = group_labels(&s.labels, grouping);
        match index.get(&key) {
            Some(&g) => out[g].1.push(i),
            None => {
                index.insert(key.clone(), out.len());
                out.push((key, vec![i]));
            }
        }
    }
    out
}

/// One group's running state at one step, in the kernels' numerics.
enum Accumulator {
    Sum(SumState),
    Mean(MeanState),
    Variance(VarianceState),
    /// min, max or group: the value so far.
    Value(f64),
    Count(f64),
    Values(Vec<f64>),
}

impl Accumulator {
    fn new(op: AggregateOp, f: f64) -> Self {
        let mut acc = match op {
            AggregateOp::Sum => Accumulator::Sum(SumState::default()),
            AggregateOp::Avg => Accumulator::Mean(MeanState::default()),
            AggregateOp::Stddev | AggregateOp::Stdvar => Accumulator::Variance(VarianceState::default()),
            AggregateOp::Count => Accumulator::Count(0.0),
            AggregateOp::Quantile => Accumulator::Values(Vec::new()),
            AggregateOp::Group => return Accumulator::Value(1.0),
            _ => return Accumulator::Value(f),
        };
        acc.add(op, f);
        acc
    }

    fn add(&mut self, op: AggregateOp, f: f64) {
        match self {
            Accumulator::Sum(state) => state.add(f),
            Accumulator::Mean(state) => state.add(f),
            Accumulator::Variance(state) => state.add(f),
            Accumulator::Count(n) => *n += 1.0,
            Accumulator::Values(values) => values.push(f),
            // A NaN so far is replaced by any number, as in Prometheus.
            Accumulator::Value(v) if op == AggregateOp::Max && (*v < f || v.is_nan()) => *v = f,
            Accumulator::Value(v) if op == AggregateOp::Min && (*v > f || v.is_nan()) => *v = f,
            Accumulator::Value(_) => {}
        }
    }

    fn finish(&mut self, op: AggregateOp, q: f64) -> f64 {
        match self {
            Accumulator::Sum(state) => state.sum(),
            Accumulator::Mean(state) => state.mean(),
            Accumulator::Variance(state) if op == AggregateOp::Stddev => state.stddev(),
            Accumulator::Variance(state) => state.variance(),
            Accumulator::Count(n) => *n,
            Accumulator::Values(values) => quantile(q, values),
            Accumulator::Value(v) => *v,
        }
    }
}

fn aggregate(op: AggregateOp, grouping: &Grouping, input: Vec<StepSeries>, q: &[f64], steps: usize) -> Vec<StepSeries> {
    let mut out = Vec::new();
    for (labels, members) in groups(&input, grouping) {
        let mut values = vec![None; steps];
        for (step, slot) in values.iter_mut().enumerate() {
            let mut acc: Option<Accumulator> = None;
            for &i in &members {
                let Some(f) = input[i].values[step] else { continue };
                match acc.as_mut() {
                    Some(acc) => acc.add(op, f),
                    None => acc = Some(Accumulator::new(op, f)),
                }
            }
            if let Some(mut acc) = acc {
                *slot = Some(acc.finish(op, q.get(step).copied().unwrap_or(f64::NAN)));
            }
        }
        if values.iter().any(Option::is_some) {
            out.push(StepSeries { labels, values });
        }
    }
    out
}

fn count_values(
    expr: &AggregateExpr,
    input: Vec<StepSeries>,
    label: &str,
    steps: usize,
) -> Result<Vec<StepSeries>, EvalError> {
    if label.is_empty() {
        return Err(EvalError::Execution(format!("invalid label name {label:?}")));
    }
    // `by` keeps the value label too; `without` keeps everything else.
    let grouping = match &expr.grouping {
        Grouping::By(names) => {
            let mut names = names.clone();
            names.push(label.to_owned());
            Grouping::By(names)
        }
        Grouping::None => Grouping::By(vec![label.to_owned()]),
        other => other.clone(),
    };
    let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
    let mut out: Vec<StepSeries> = Vec::new();
    for series in &input {
        for (step, value) in series.values.iter().enumerate() {
            let Some(value) = value else { continue };
            let labels = group_labels(&series.labels.with(label, &go_float(*value)), &grouping);
            let slot = *index.entry(labels.clone()).or_insert_with(|| {
                out.push(StepSeries { labels, values: vec![None; steps] });
                out.len() - 1
            });
            let count = out[slot].values[step].get_or_insert(0.0);
            *count += 1.0;
        }
    }
    Ok(out)
}

/// `topk`, `bottomk`, `limitk` and `limit_ratio`: they select series rather
/// than compute new ones, so the output keeps the input's labels.
fn select_k(
    ev: &Evaluator,
    expr: &AggregateExpr,
    input: Vec<StepSeries>,
    k: &[f64],
    steps: usize,
) -> Result<Vec<StepSeries>, EvalError> {
    let param_span = expr.param.as_ref().map(|p| p.span()).unwrap_or(expr.span);
    let max = k.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = k.iter().copied().fold(f64::INFINITY, f64::min);
    if expr.op == AggregateOp::LimitRatio {
        if k.iter().all(|r| *r == 0.0) {
            return Ok(Vec::new());
        }
        if k.iter().any(|r| r.is_nan()) {
            return Err(EvalError::Execution("Ratio value is NaN".to_owned()));
        }
        if max > 1.0 {
            ev.ctx.warn(
                format!("ratio value should be between -1 and 1, got {}, capping to 1", go_float(max)),
                param_span,
            );
        }
        if min < -1.0 {
            ev.ctx.warn(
                format!("ratio value should be between -1 and 1, got {}, capping to -1", go_float(min)),
                param_span,
            );
        }
    } else {
        if k.iter().any(|v| v.is_nan()) {
            return Err(EvalError::Execution("Parameter value is NaN".to_owned()));
        }
        if max < 1.0 {
            return Ok(Vec::new());
        }
        if min <= i64::MIN as f64 {
            return Err(EvalError::Execution(format!("Scalar value {} underflows int64", go_float(min))));
        }
        if max >= i64::MAX as f64 {
            return Err(EvalError::Execution(format!("Scalar value {} overflows int64", go_float(max))));
        }
    }
    let groups = groups(&input, &expr.grouping);
    let ratio_offsets: Vec<f64> = if expr.op == AggregateOp::LimitRatio {
        input.iter().map(|s| ratio_offset(&s.labels)).collect()
    } else {
        Vec::new()
    };
    // Which series are selected at which step, and in what order for an
    // instant query (Prometheus orders topk descending, bottomk ascending).
    let mut selected: Vec<Vec<bool>> = vec![vec![false; steps]; input.len()];
    let mut instant_order: Vec<usize> = Vec::new();
    let mut candidates: Vec<(usize, f64)> = Vec::new();
    #[allow(clippy::needless_range_loop)] // `step` indexes every series' values too.
    for step in 0..steps {
        let param = k.get(step).copied().unwrap_or(0.0);
        for (_, members) in &groups {
            candidates.clear();
            candidates.extend(members.iter().filter_map(|&i| input[i].values[step].map(|v| (i, v))));
            let chosen: Vec<usize> = match expr.op {
                AggregateOp::LimitRatio => {
                    let r = param.clamp(-1.0, 1.0);
                    candidates
                        .iter()
                        .filter(|(i, _)| {
                            let offset = ratio_offsets[*i];
                            (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
                        })
                        .map(|(i, _)| *i)
                        .collect()
                }
                op => {
                    let k = (param as i64).min(input.len() as i64);
                    if k < 1 {
                        continue;
                    }
                    match op {
                        AggregateOp::Topk => candidates.sort_by(|a, b| nan_last(a.1, b.1, true)),
                        AggregateOp::Bottomk => candidates.sort_by(|a, b| nan_last(a.1, b.1, false)),
                        _ => {}
                    }
                    candidates.iter().take(k as usize).map(|(i, _)| *i).collect()
                }
            };
            for i in chosen {
                selected[i][step] = true;
                if steps == 1 {
                    instant_order.push(i);
                }
            }
        }
    }
    let pick = |i: usize, series: &StepSeries| StepSeries {
        labels: series.labels.clone(),
        values: series.values.iter().zip(&selected[i]).map(|(v, keep)| if *keep { *v } else { None }).collect(),
    };
    if steps == 1 {
        return Ok(instant_order.into_iter().map(|i| pick(i, &input[i])).collect());
    }
    Ok(input.iter().enumerate().filter(|(i, _)| selected[*i].iter().any(|s| *s)).map(|(i, s)| pick(i, s)).collect())
}

/// Where a series falls in `[0, 1)` for `limit_ratio`: its label hash as a
/// fraction, as Prometheus computes it (xxHash64 of `name\xffvalue\xff…`),
/// so the same series are sampled on both.
fn ratio_offset(labels: &Labels) -> f64 {
    let mut bytes = Vec::with_capacity(128);
    for label in labels.iter() {
        bytes.extend_from_slice(label.name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(label.value.as_bytes());
        bytes.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&bytes, 0) as f64 / u64::MAX as f64
}
