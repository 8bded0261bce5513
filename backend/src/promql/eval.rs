//! The evaluator: walks the AST over a grid of evaluation steps.
//!
//! Every instant-vector expression evaluates to *all* its steps at once: a
//! series is a label set and one optional value per step. That is how
//! Prometheus's engine evaluates range queries, except that the values are
//! dense per step, so that series matching, grouping and label work happen
//! once per series rather than once per step. An instant query is a grid of
//! one step.
//!
//! Range-vector arguments (matrix selectors and subqueries) are read once
//! for the union of their windows and then sliced per step.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use rustc_hash::FxHashMap;
use vigil_shared::model::Labels;
use vigil_shared::promql::{AtModifier, Expr, Matcher, Span, UnaryOp, VectorSelector};

use super::{EngineOptions, EvalError};
use crate::tsdb::{Sample, Storage, is_stale_marker};

/// What one query shares across all its (sub-)evaluators.
pub(crate) struct QueryContext<'a> {
    pub storage: &'a dyn Storage,
    pub options: &'a EngineOptions,
    /// The query's own start and end, which `@ start()` and `@ end()` name
    /// even inside subqueries.
    pub query_start: i64,
    pub query_end: i64,
    /// The range query's step; 0 for an instant query (what `step()` says).
    pub query_step: i64,
    pub deadline: Option<Instant>,
    /// Samples currently loaded, against `options.max_samples`.
    pub samples_loaded: Cell<usize>,
    /// Samples the query touched as Prometheus's `query_samples_total`
    /// counts them: one per step of an instant selector, the whole window
    /// at every step of a range argument.
    pub samples_total: Cell<u64>,
    pub warnings: RefCell<Vec<String>>,
    pub infos: RefCell<Vec<String>>,
}

impl QueryContext<'_> {
    /// Counts `n` more samples held in memory, failing past the limit as
    /// Prometheus does rather than running out of memory.
    pub fn load_samples(&self, n: usize) -> Result<(), EvalError> {
        let total = self.samples_loaded.get().saturating_add(n);
        self.samples_loaded.set(total);
        if total > self.options.max_samples {
            return Err(EvalError::TooManySamples);
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<(), EvalError> {
        match self.deadline {
            Some(deadline) if Instant::now() > deadline => {
                Err(EvalError::Timeout("query timed out in expression evaluation".to_owned()))
            }
            _ => Ok(()),
        }
    }

    /// Adds a `PromQL warning: …` annotation positioned at `span`.
    pub fn warn(&self, message: impl std::fmt::Display, span: Span) {
        self.warnings.borrow_mut().push(format!("PromQL warning: {message} ({})", position(span)));
    }

    /// Adds a `PromQL info: …` annotation positioned at `span`.
    pub fn info(&self, message: impl std::fmt::Display, span: Span) {
        self.infos.borrow_mut().push(format!("PromQL info: {message} ({})", position(span)));
    }
}

/// `line:column` of a span as Prometheus appends it to annotations. The
/// engine sees the tree, not the text, so it counts on one line; queries
/// are almost always one line.
fn position(span: Span) -> String {
    format!("1:{}", span.start + 1)
}

/// The evaluation grid: `start`, `start + interval`, … up to `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
}

impl Steps {
    pub fn len(&self) -> usize {
        if self.end < self.start { 0 } else { ((self.end - self.start) / self.interval) as usize + 1 }
    }

    pub fn at(&self, i: usize) -> i64 {
        self.start + i as i64 * self.interval
    }

    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.at(i))
    }
}

/// One series of an instant-vector expression: a value or none per step.
#[derive(Debug, Clone)]
pub(crate) struct StepSeries {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
}

/// The value of an expression over the whole grid.
#[derive(Debug)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<StepSeries>),
    String(String),
}

/// A range-vector argument: raw samples of each series, to be windowed per
/// step. Stale markers are already removed.
pub(crate) struct RangeArg {
    pub series: Vec<RawSeries>,
    pub range_ms: i64,
    pub offset_ms: i64,
    /// A resolved `@`: every step then sees the same window.
    pub at: Option<i64>,
}

pub(crate) struct RawSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

impl RangeArg {
    /// The samples of `series` in the window of the step at `ts`:
    /// `(ref - range, ref]` with `ref = (@ or ts) - offset`.
    pub fn window<'s>(&self, series: &'s RawSeries, ts: i64) -> &'s [Sample] {
        let reference = self.at.unwrap_or(ts) - self.offset_ms;
        window(&series.samples, reference - self.range_ms, reference)
    }

    /// The time the window of step `ts` ends at.
    pub fn reference(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts) - self.offset_ms
    }
}

/// The sum over steps and series of the samples in each step's window:
/// one sweep per series, since windows only move forward with the steps.
fn windowed_total(arg: &RangeArg, steps: &Steps) -> u64 {
    let mut total = 0u64;
    for series in &arg.series {
        let samples = &series.samples;
        let (mut first, mut end) = (0, 0);
        for ts in steps.times() {
            let reference = arg.reference(ts);
            while end < samples.len() && samples[end].timestamp_ms <= reference {
                end += 1;
            }
            while first < end && samples[first].timestamp_ms <= reference - arg.range_ms {
                first += 1;
            }
            total += (end - first) as u64;
        }
    }
    total
}

/// Samples with `lo < t <= hi` from a time-sorted slice.
pub(crate) fn window(samples: &[Sample], lo: i64, hi: i64) -> &[Sample] {
    let start = samples.partition_point(|s| s.timestamp_ms <= lo);
    let end = samples.partition_point(|s| s.timestamp_ms <= hi);
    samples.get(start..end.max(start)).unwrap_or(&[])
}

pub(crate) struct Evaluator<'c, 'a> {
    pub ctx: &'c QueryContext<'a>,
    pub steps: Steps,
}

impl<'c, 'a> Evaluator<'c, 'a> {
    pub fn new(ctx: &'c QueryContext<'a>, steps: Steps) -> Self {
        Evaluator { ctx, steps }
    }

    pub fn eval(&self, expr: &Expr) -> Result<Val, EvalError> {
        self.ctx.check_deadline()?;
        match expr {
            Expr::NumberLiteral { value, .. } => Ok(Val::Scalar(vec![*value; self.steps.len()])),
            Expr::StringLiteral { value, .. } => Ok(Val::String(value.clone())),
            Expr::Paren { expr, .. } => self.eval(expr),
            Expr::Unary { op: UnaryOp::Pos, expr, .. } => self.eval(expr),
            Expr::Unary { op: UnaryOp::Neg, expr, .. } => match self.eval(expr)? {
                Val::Scalar(values) => Ok(Val::Scalar(values.into_iter().map(|v| -v).collect())),
                Val::Vector(series) => {
                    let negated = series
                        .into_iter()
                        .map(|s| StepSeries {
                            labels: s.labels.without_metric_name(),
                            values: s.values.into_iter().map(|v| v.map(|v| -v)).collect(),
                        })
                        .collect();
                    Ok(Val::Vector(merge_same_labels(negated)?))
                }
                Val::String(_) => Err(EvalError::Execution("unary minus on a string".to_owned())),
            },
            Expr::VectorSelector(selector) => self.vector_selector(selector),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => Err(EvalError::Execution(
                "a range vector cannot be evaluated as an instant vector or scalar".to_owned(),
            )),
            Expr::Binary(binary) => super::binary::eval(self, binary),
            Expr::Aggregate(aggregate) => super::aggregate::eval(self, aggregate),
            Expr::Call(call) => super::calls::eval(self, call),
        }
    }

    /// Evaluates an expression that must be a scalar (a function or
    /// aggregation parameter), one value per step.
    pub fn eval_scalar(&self, expr: &Expr) -> Result<Vec<f64>, EvalError> {
        match self.eval(expr)? {
            Val::Scalar(values) => Ok(values),
            _ => Err(EvalError::Execution(format!("expected a scalar, got {}", expr.value_type().describe()))),
        }
    }

    pub fn eval_vector(&self, expr: &Expr) -> Result<Vec<StepSeries>, EvalError> {
        match self.eval(expr)? {
            Val::Vector(series) => Ok(series),
            _ => Err(EvalError::Execution(format!("expected an instant vector, got {}", expr.value_type().describe()))),
        }
    }

    pub fn resolve_at(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|at| match at {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.ctx.query_start,
            AtModifier::End => self.ctx.query_end,
        })
    }

    /// The earliest and latest reference times over the grid.
    fn reference_span(&self, at: Option<i64>, offset_ms: i64) -> (i64, i64) {
        match at {
            Some(t) => (t - offset_ms, t - offset_ms),
            None => (self.steps.start - offset_ms, self.steps.end - offset_ms),
        }
    }

    fn vector_selector(&self, selector: &VectorSelector) -> Result<Val, EvalError> {
        Ok(Val::Vector(self.select_instant(selector, |sample| sample.value)?))
    }

    /// The selector's series with, per step, the time of the sample it
    /// picked, in seconds (what `timestamp(selector)` returns).
    pub fn sample_times(&self, selector: &VectorSelector) -> Result<Vec<StepSeries>, EvalError> {
        self.select_instant(selector, |sample| sample.timestamp_ms as f64 / 1000.0)
    }

    fn select_instant(
        &self,
        selector: &VectorSelector,
        value_of: impl Fn(Sample) -> f64,
    ) -> Result<Vec<StepSeries>, EvalError> {
        let at = self.resolve_at(selector.at);
        let lookback = self.ctx.options.lookback_ms;
        let (first, last) = self.reference_span(at, selector.offset_ms);
        let raw = self.select(&selector.matchers, first - lookback + 1, last)?;
        let mut out = Vec::with_capacity(raw.len());
        let mut loaded = 0;
        for series in raw {
            let values: Vec<Option<f64>> = self
                .steps
                .times()
                .map(|ts| latest_at(&series.samples, at.unwrap_or(ts) - selector.offset_ms, lookback).map(&value_of))
                .collect();
            let present = values.iter().filter(|v| v.is_some()).count();
            if present > 0 {
                loaded += present;
                self.ctx.samples_total.set(self.ctx.samples_total.get() + present as u64);
                out.push(StepSeries { labels: series.labels, values });
            }
        }
        self.ctx.load_samples(loaded)?;
        Ok(out)
    }

    /// Reads the series matching `matchers` with samples in `[mint, maxt]`.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<crate::tsdb::Series>, EvalError> {
        self.ctx.check_deadline()?;
        let querier = self.ctx.storage.querier(mint, maxt)?;
        Ok(querier.select(matchers)?)
    }

    /// Evaluates a range-vector expression for use as a function argument.
    pub fn range_arg(&self, expr: &Expr) -> Result<RangeArg, EvalError> {
        let arg = self.range_arg_uncounted(expr)?;
        let touched = windowed_total(&arg, &self.steps);
        self.ctx.samples_total.set(self.ctx.samples_total.get().saturating_add(touched));
        Ok(arg)
    }

    fn range_arg_uncounted(&self, expr: &Expr) -> Result<RangeArg, EvalError> {
        match expr {
            Expr::Paren { expr, .. } => self.range_arg_uncounted(expr),
            Expr::MatrixSelector(m) => {
                let at = self.resolve_at(m.selector.at);
                let (first, last) = self.reference_span(at, m.selector.offset_ms);
                let raw = self.select(&m.selector.matchers, first - m.range_ms + 1, last)?;
                let mut series = Vec::with_capacity(raw.len());
                let mut loaded = 0;
                for s in raw {
                    let samples: Vec<Sample> = s.samples.into_iter().filter(|p| !is_stale_marker(p.value)).collect();
                    loaded += samples.len();
                    series.push(RawSeries { labels: s.labels, samples });
                }
                self.ctx.load_samples(loaded)?;
                Ok(RangeArg { series, range_ms: m.range_ms, offset_ms: m.selector.offset_ms, at })
            }
            Expr::Subquery(subquery) => {
                let at = self.resolve_at(subquery.at);
                let (first, last) = self.reference_span(at, subquery.offset_ms);
                let step = subquery.step_ms.unwrap_or(self.ctx.options.default_subquery_step_ms).max(1);
                // The subquery's own grid: absolute multiples of its step,
                // from the first one inside the earliest window.
                let earliest = first - subquery.range_ms;
                let mut start = earliest.div_euclid(step) * step;
                if start <= earliest {
                    start += step;
                }
                let inner = Evaluator::new(self.ctx, Steps { start, end: last, interval: step });
                let values = inner.eval(&subquery.expr)?;
                let series = match values {
                    Val::Vector(series) => series
                        .into_iter()
                        .map(|s| RawSeries {
                            labels: s.labels,
                            samples: s
                                .values
                                .iter()
                                .enumerate()
                                .filter_map(|(i, v)| v.map(|value| Sample { timestamp_ms: inner.steps.at(i), value }))
                                .collect(),
                        })
                        .collect(),
                    Val::Scalar(values) => vec![RawSeries {
                        labels: Labels::default(),
                        samples: values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| Sample { timestamp_ms: inner.steps.at(i), value: *v })
                            .collect(),
                    }],
                    Val::String(_) => {
                        return Err(EvalError::Execution("subquery is only allowed on instant vectors".to_owned()));
                    }
                };
                // The subquery's points are held like a selector's samples.
                self.ctx.load_samples(series.iter().map(|s: &RawSeries| s.samples.len()).sum())?;
                Ok(RangeArg { series, range_ms: subquery.range_ms, offset_ms: subquery.offset_ms, at })
            }
            other => {
                Err(EvalError::Execution(format!("expected a range vector, got {}", other.value_type().describe())))
            }
        }
    }
}

/// The newest sample in `(t - lookback, t]`, unless it is a staleness marker
/// (the series ended there).
pub(crate) fn latest_at(samples: &[Sample], t: i64, lookback_ms: i64) -> Option<Sample> {
    let end = samples.partition_point(|s| s.timestamp_ms <= t);
    let sample = *samples.get(end.checked_sub(1)?)?;
    (sample.timestamp_ms > t - lookback_ms && !is_stale_marker(sample.value)).then_some(sample)
}

/// The error Prometheus gives when two series of one result share a label set.
pub(crate) fn duplicate_labelset() -> EvalError {
    EvalError::Execution("vector cannot contain metrics with the same labelset".to_owned())
}

/// Merges series that ended up with the same labels (after a metric name was
/// dropped, say): fine while they never both have a value at one step, an
/// error otherwise, as in Prometheus.
pub(crate) fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, EvalError> {
    let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.labels) {
            Some(&i) => {
                let target = &mut out[i].values;
                for (slot, value) in target.iter_mut().zip(s.values) {
                    if value.is_some() {
                        if slot.is_some() {
                            return Err(duplicate_labelset());
                        }
                        *slot = value;
                    }
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}
