//! The PromQL engine: evaluates parsed expressions against storage.
//!
//! Architecture invariant: the engine reads only through the storage
//! [`Querier`](crate::tsdb::Querier) interface and knows nothing of HTTP;
//! the API layer turns its values into Prometheus's JSON. Semantics follow
//! Prometheus 3.x for float data: the 5-minute lookback, staleness markers,
//! left-open range windows, `@` and `offset`, subqueries on an absolute step
//! grid, extrapolated rates, vector matching and its errors. The evaluator
//! is in [`eval`]; operators, aggregations and calls each have a module, and
//! the numeric kernels are in [`functions`].

mod aggregate;
mod binary;
mod calls;
mod eval;
pub mod functions;

pub mod script;
pub mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_shared::model::Labels;
use vigil_shared::promql::{Expr, ValueType};

use crate::tsdb::{Sample, Storage, StorageError};
use eval::{Evaluator, QueryContext, Steps, Val};
use stats::EngineStats;

/// How far back an instant selector looks for a sample (Prometheus's
/// `--query.lookback-delta` default).
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(5 * 60);

/// Prometheus refuses range queries with more points than this per series.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The engine's settings; `Default` gives Prometheus's defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--query.lookback-delta`.
    pub lookback_ms: i64,
    /// `--query.max-samples`: samples a query may hold in memory at once.
    pub max_samples: usize,
    /// `--query.timeout`.
    pub timeout: Option<Duration>,
    /// The step of a subquery written without one (`x[1h:]`): Prometheus
    /// uses the rule evaluation interval, one minute by default.
    pub default_subquery_step_ms: i64,
    /// Accept the pre-3.0 name `holt_winters` (`--promql.holt-winters`).
    pub enable_holt_winters: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_ms: DEFAULT_LOOKBACK.as_millis() as i64,
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            default_subquery_step_ms: 60_000,
            enable_holt_winters: false,
        }
    }
}

/// The result of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

/// One element of an instant vector (its time is the evaluation time).
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub value: f64,
}

/// One series of a range query's result, or of a range vector.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A query's value and the annotations Prometheus would attach to it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput<T> {
    pub value: T,
    /// `PromQL warning: … (line:col)`.
    pub warnings: Vec<String>,
    /// `PromQL info: … (line:col)`.
    pub infos: Vec<String>,
}

/// Why a query failed, mapped to Prometheus's `errorType` by the API.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// The request itself is wrong (bad range or step).
    #[error("{0}")]
    BadRange(String),
    /// Evaluation failed, as Prometheus's `execution` errors.
    #[error("{0}")]
    Execution(String),
    #[error("{0}")]
    Timeout(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
}

/// Evaluates queries against one storage.
#[derive(Clone)]
pub struct Engine {
    storage: Arc<dyn Storage>,
    options: EngineOptions,
    /// Shared by clones, so per-request engines count in the same figures.
    stats: Arc<EngineStats>,
}

impl Engine {
    pub fn new(storage: Arc<dyn Storage>, options: EngineOptions) -> Self {
        Engine { storage, options, stats: Arc::default() }
    }

    /// Timings and sample counts of every query this engine (or a clone)
    /// evaluated.
    pub fn stats(&self) -> &Arc<EngineStats> {
        &self.stats
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The same engine with some options changed for one query (the API's
    /// per-request `timeout` and `lookback_delta`); storage is shared.
    pub fn with_options(&self, change: impl FnOnce(&mut EngineOptions)) -> Engine {
        let mut engine = self.clone();
        change(&mut engine.options);
        engine
    }

    fn context(&self, start_ms: i64, end_ms: i64, step_ms: i64) -> QueryContext<'_> {
        QueryContext {
            storage: self.storage.as_ref(),
            options: &self.options,
            query_start: start_ms,
            query_end: end_ms,
            query_step: step_ms,
            deadline: self.options.timeout.map(|t| Instant::now() + t),
            samples_loaded: Default::default(),
            samples_total: Default::default(),
            warnings: Default::default(),
            infos: Default::default(),
        }
    }

    /// Evaluates `expr` at `time_ms`.
    pub fn instant_query(&self, expr: &Expr, time_ms: i64) -> Result<QueryOutput<Value>, EvalError> {
        let started = Instant::now();
        let ctx = self.context(time_ms, time_ms, 0);
        let ev = Evaluator::new(&ctx, Steps { start: time_ms, end: time_ms, interval: 1 });
        let eval_started = Instant::now();
        self.stats.prepare_time.observe(eval_started - started);
        let value = if expr.value_type() == ValueType::Matrix {
            let arg = self.counted(&ctx, ev.range_arg(expr))?;
            let sort_started = Instant::now();
            self.stats.inner_eval.observe(sort_started - eval_started);
            let matrix = Value::Matrix(
                arg.series
                    .iter()
                    .filter_map(|s| {
                        let samples = arg.window(s, time_ms).to_vec();
                        (!samples.is_empty()).then(|| RangeSeries { labels: s.labels.clone(), samples })
                    })
                    .collect(),
            );
            self.stats.result_sort.observe(sort_started.elapsed());
            matrix
        } else {
            let value = self.counted(&ctx, ev.eval(expr))?;
            let sort_started = Instant::now();
            self.stats.inner_eval.observe(sort_started - eval_started);
            let value = match value {
                Val::Scalar(values) => Value::Scalar(values.first().copied().unwrap_or(f64::NAN)),
                Val::String(s) => Value::String(s),
                Val::Vector(series) => Value::Vector(
                    series
                        .into_iter()
                        .filter_map(|s| {
                            let value = s.values.first().copied().flatten()?;
                            Some(InstantSample { labels: s.labels, value })
                        })
                        .collect(),
                ),
            };
            self.stats.result_sort.observe(sort_started.elapsed());
            value
        };
        Ok(QueryOutput { value, warnings: ctx.warnings.take(), infos: ctx.infos.take() })
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms` inclusive.
    /// Series come sorted by labels, as Prometheus returns them.
    pub fn range_query(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryOutput<Vec<RangeSeries>>, EvalError> {
        if end_ms < start_ms {
            return Err(EvalError::BadRange("end timestamp must not be before start time".to_owned()));
        }
        if step_ms <= 0 {
            return Err(EvalError::BadRange(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".to_owned(),
            ));
        }
        if (end_ms - start_ms) / step_ms >= MAX_POINTS_PER_SERIES {
            return Err(EvalError::BadRange(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .to_owned(),
            ));
        }
        let value_type = expr.value_type();
        if !matches!(value_type, ValueType::Scalar | ValueType::Vector) {
            return Err(EvalError::BadRange(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                value_type.describe()
            )));
        }
        let started = Instant::now();
        let ctx = self.context(start_ms, end_ms, step_ms);
        let steps = Steps { start: start_ms, end: end_ms, interval: step_ms };
        let ev = Evaluator::new(&ctx, steps);
        let eval_started = Instant::now();
        self.stats.prepare_time.observe(eval_started - started);
        let to_samples = |values: &[Option<f64>]| -> Vec<Sample> {
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|value| Sample { timestamp_ms: steps.at(i), value }))
                .collect()
        };
        let value = self.counted(&ctx, ev.eval(expr))?;
        let sort_started = Instant::now();
        self.stats.inner_eval.observe(sort_started - eval_started);
        let mut out: Vec<RangeSeries> = match value {
            Val::Scalar(values) => {
                let values: Vec<Option<f64>> = values.into_iter().map(Some).collect();
                vec![RangeSeries { labels: Labels::default(), samples: to_samples(&values) }]
            }
            Val::Vector(series) => series
                .into_iter()
                .map(|s| RangeSeries { samples: to_samples(&s.values), labels: s.labels })
                .filter(|s| !s.samples.is_empty())
                .collect(),
            Val::String(_) => Vec::new(),
        };
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.stats.result_sort.observe(sort_started.elapsed());
        Ok(QueryOutput { value: out, warnings: ctx.warnings.take(), infos: ctx.infos.take() })
    }
}

impl Engine {
    /// Adds the samples a query loaded to the engine's total, whether the
    /// evaluation succeeded or not (a failed query still read them).
    fn counted<T>(&self, ctx: &QueryContext<'_>, result: Result<T, EvalError>) -> Result<T, EvalError> {
        self.stats.add_samples(ctx.samples_total.get());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{MemoryStorage, STALE_NAN_BITS};
    use vigil_shared::promql::parse;

    fn engine_with(samples: &[(&str, i64, f64)]) -> Engine {
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        for (name, t, v) in samples {
            app.append(&Labels::from_pairs([("__name__", *name)]), Sample { timestamp_ms: *t, value: *v });
        }
        app.commit().unwrap();
        Engine::new(Arc::new(storage), EngineOptions::default())
    }

    fn instant_values(engine: &Engine, query: &str, t: i64) -> Vec<f64> {
        match engine.instant_query(&parse(query).unwrap(), t).unwrap().value {
            Value::Vector(v) => v.into_iter().map(|s| s.value).collect(),
            Value::Scalar(s) => vec![s],
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn instant_selector_uses_lookback_and_staleness() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let engine = engine_with(&[("a", 0, 1.0), ("a", 60_000, 2.0), ("b", 0, 5.0), ("b", 30_000, stale)]);
        let cases: &[(&str, i64, &[f64])] = &[
            ("a", 0, &[1.0]),
            ("a", 59_999, &[1.0]),
            ("a", 60_000, &[2.0]),
            ("a", 60_000 + 299_999, &[2.0]),
            ("a", 60_000 + 300_000, &[]),
            ("b", 10_000, &[5.0]),
            ("b", 30_000, &[]),
            ("a", -1, &[]),
            ("42", 7, &[42.0]),
        ];
        for (query, t, want) in cases {
            assert_eq!(instant_values(&engine, query, *t), *want, "{query} at {t}");
        }
    }

    #[test]
    fn subquery_points_count_against_max_samples() {
        let samples: Vec<(&str, i64, f64)> = (0..100).map(|i| ("a", i * 10_000, i as f64)).collect();
        let mut engine = engine_with(&samples);
        let expr = parse("max_over_time(a[1000s:1s])").unwrap();
        assert!(engine.instant_query(&expr, 990_000).is_ok());
        // The inner selector holds about 1000 values, the subquery 1000 more.
        engine.options.max_samples = 1500;
        let err = engine.instant_query(&expr, 990_000).unwrap_err();
        assert!(matches!(err, EvalError::TooManySamples), "{err}");
    }

    #[test]
    fn samples_total_counts_the_window_at_every_step() {
        // One sample every 10s from 0 to 990s.
        let samples: Vec<(&str, i64, f64)> = (0..100).map(|i| ("a", i * 10_000, i as f64)).collect();
        let engine = engine_with(&samples);
        // (query, start, end, step; end == start: instant) -> samples.
        let cases: &[(&str, i64, i64, i64, u64)] = &[
            ("a", 500_000, 500_000, 0, 1),
            ("count_over_time(a[60s])", 500_000, 500_000, 0, 6),
            ("count_over_time((a[60s]))", 500_000, 500_000, 0, 6),
            // 11 steps of one sample each.
            ("a", 0, 100_000, 10_000, 11),
            // Windows (t-30s, t] at t = 0, 10s, …, 100s hold 1, 2, 3, 3….
            ("rate(a[30s])", 0, 100_000, 10_000, 1 + 2 + 9 * 3),
            // `@` pins every step's window: 3 samples at each of 11 steps.
            ("rate(a[30s] @ 500)", 0, 100_000, 10_000, 33),
            // Past the data, nothing.
            ("a", 2_000_000, 2_000_000, 0, 0),
        ];
        for (query, start, end, step, want) in cases {
            let before = engine.stats().samples_total();
            let expr = parse(query).unwrap();
            if step == &0 {
                engine.instant_query(&expr, *start).unwrap();
            } else {
                engine.range_query(&expr, *start, *end, *step).unwrap();
            }
            assert_eq!(engine.stats().samples_total() - before, *want, "{query} {start}..{end}/{step}");
        }
        // Every evaluation above was timed once per slice; the queue is
        // the API's to time.
        let n = cases.len() as u64;
        assert_eq!(engine.stats().inner_eval.count(), n);
        assert_eq!(engine.stats().prepare_time.count(), n);
        assert_eq!(engine.stats().result_sort.count(), n);
        assert_eq!(engine.stats().queue_time.count(), 0);
        // Clones (per-request engines) count in the same figures.
        engine.with_options(|_| {}).instant_query(&parse("a").unwrap(), 0).unwrap();
        assert_eq!(engine.stats().inner_eval.count(), n + 1);
    }

    #[test]
    fn range_query_steps() {
        let engine = engine_with(&[("a", 0, 1.0), ("a", 20_000, 2.0)]);
        let got = engine.range_query(&parse("a").unwrap(), 0, 40_000, 10_000).unwrap().value;
        let values: Vec<(i64, f64)> = got[0].samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(values, vec![(0, 1.0), (10_000, 1.0), (20_000, 2.0), (30_000, 2.0), (40_000, 2.0)]);
    }

    #[test]
    fn range_query_refuses_bad_ranges() {
        let engine = engine_with(&[]);
        let expr = parse("a").unwrap();
        for (start, end, step, want) in
            [(10, 0, 1, "end timestamp"), (0, 10, 0, "zero or negative"), (0, 11_000_000, 1000, "11,000 points")]
        {
            let err = engine.range_query(&expr, start, end, step).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
