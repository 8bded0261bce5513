//! The engine's own figures, exported as Prometheus's
//! `prometheus_engine_query_duration_seconds{slice}` and
//! `prometheus_engine_query_samples_total` by the telemetry module.
//!
//! They are recorded once per query, never per sample: a counter add and a
//! few summary observations at the end of each evaluation.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::telemetry::summary::Summary;

/// Shared by every clone of an [`Engine`](super::Engine).
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Waiting for a `--query.max-concurrency` slot (recorded by the API,
    /// which owns the queue).
    pub queue_time: Summary,
    /// Setting up the query before evaluation. Prometheus selects series
    /// here; Vigil selects them as it evaluates, so that time is in
    /// `inner_eval`.
    pub prepare_time: Summary,
    /// Evaluating the expression, storage reads included.
    pub inner_eval: Summary,
    /// Sorting the result and shaping it for the caller.
    pub result_sort: Summary,
    samples: AtomicU64,
}

impl EngineStats {
    /// Adds the samples one query touched: one per step of an instant
    /// selector, the full window per step of a range argument.
    pub fn add_samples(&self, n: u64) {
        self.samples.fetch_add(n, Ordering::Relaxed);
    }

    pub fn samples_total(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }
}
