//! The PromQL engine: evaluates parsed expressions against storage.
//!
//! Architecture invariant: the engine reads only through the storage
//! [`Querier`](crate::tsdb::Querier) interface and knows nothing of HTTP;
//! the API layer turns its values into Prometheus's JSON. The walking
//! skeleton evaluates number literals and instant vector selectors, with
//! Prometheus's 5-minute lookback and staleness handling.

use std::sync::Arc;
use std::time::Duration;

use vigil_shared::model::Labels;
use vigil_shared::promql::{Expr, VectorSelector};

use crate::tsdb::{Sample, Storage, StorageError, is_stale_marker};

/// How far back an instant selector looks for a sample (Prometheus's
/// `--query.lookback-delta` default).
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(5 * 60);

/// Prometheus refuses range queries with more points than this per series.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The result of evaluating an expression at one instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Sample),
    Vector(Vec<(Labels, Sample)>),
}

/// One series of a range query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Why a query failed, mapped to Prometheus's `errorType` by the API.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    BadRange(String),
    #[error("{0} is not supported by this version of Vigil yet")]
    Unsupported(&'static str),
}

/// Evaluates queries against one storage.
#[derive(Clone)]
pub struct Engine {
    storage: Arc<dyn Storage>,
    lookback_ms: i64,
}

impl Engine {
    pub fn new(storage: Arc<dyn Storage>, lookback: Duration) -> Self {
        Engine { storage, lookback_ms: lookback.as_millis() as i64 }
    }

    /// Evaluates `expr` at `time_ms`.
    pub fn instant(&self, expr: &Expr, time_ms: i64) -> Result<Value, EvalError> {
        match expr {
            Expr::NumberLiteral { value, .. } => Ok(Value::Scalar(Sample { timestamp_ms: time_ms, value: *value })),
            Expr::VectorSelector(selector) => {
                let mut out = Vec::new();
                for (labels, samples) in self.select(selector, time_ms, time_ms)? {
                    if let Some(sample) = latest_at(&samples, time_ms, self.lookback_ms) {
                        out.push((labels, Sample { timestamp_ms: time_ms, value: sample.value }));
                    }
                }
                Ok(Value::Vector(out))
            }
            _ => Err(EvalError::Unsupported("this expression")),
        }
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms` inclusive.
    pub fn range(&self, expr: &Expr, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Vec<RangeSeries>, EvalError> {
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
        let steps = (start_ms..=end_ms).step_by(step_ms as usize);
        match expr {
            Expr::NumberLiteral { value, .. } => Ok(vec![RangeSeries {
                labels: Labels::default(),
                samples: steps.map(|t| Sample { timestamp_ms: t, value: *value }).collect(),
            }]),
            Expr::VectorSelector(selector) => {
                // One read covering every step's lookback window.
                let mut out = Vec::new();
                for (labels, samples) in self.select(selector, start_ms, end_ms)? {
                    let points: Vec<Sample> = steps
                        .clone()
                        .filter_map(|t| {
                            latest_at(&samples, t, self.lookback_ms).map(|s| Sample { timestamp_ms: t, value: s.value })
                        })
                        .collect();
                    if !points.is_empty() {
                        out.push(RangeSeries { labels, samples: points });
                    }
                }
                Ok(out)
            }
            _ => Err(EvalError::Unsupported("this expression")),
        }
    }

    fn select(
        &self,
        selector: &VectorSelector,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, EvalError> {
        let querier = self.storage.querier(start_ms - self.lookback_ms + 1, end_ms)?;
        Ok(querier.select(&selector.matchers)?.into_iter().map(|s| (s.labels, s.samples)).collect())
    }
}

/// The newest sample in `(t - lookback, t]`, unless it is a staleness marker
/// (the series ended there).
fn latest_at(samples: &[Sample], t: i64, lookback_ms: i64) -> Option<Sample> {
    let end = samples.partition_point(|s| s.timestamp_ms <= t);
    let sample = *samples.get(end.checked_sub(1)?)?;
    (sample.timestamp_ms > t - lookback_ms && !is_stale_marker(sample.value)).then_some(sample)
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
        Engine::new(Arc::new(storage), DEFAULT_LOOKBACK)
    }

    fn instant_values(engine: &Engine, query: &str, t: i64) -> Vec<f64> {
        match engine.instant(&parse(query).unwrap(), t).unwrap() {
            Value::Vector(v) => v.into_iter().map(|(_, s)| s.value).collect(),
            Value::Scalar(s) => vec![s.value],
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
    fn range_query_steps() {
        let engine = engine_with(&[("a", 0, 1.0), ("a", 20_000, 2.0)]);
        let got = engine.range(&parse("a").unwrap(), 0, 40_000, 10_000).unwrap();
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
            let err = engine.range(&expr, start, end, step).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
