//! Vigil's own metrics, served at `/metrics` and scraped by Vigil itself.
//!
//! Names follow Prometheus's where the meaning is the same
//! (`prometheus_http_requests_total`, `process_*`), so dashboards built for
//! Prometheus work on Vigil unchanged.

mod process;
pub mod summary;

use crate::tsdb::stats::HeadStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The head's counters, read at scrape time.
#[derive(Debug)]
struct TsdbCollector(Arc<HeadStats>);

impl Collector for TsdbCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.snapshot();
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let gauges = [
            ("prometheus_tsdb_head_series", "Total number of series in the head block", clamp(s.series)),
            ("prometheus_tsdb_head_min_time", "Minimum time bound of the head block", s.head_min_time),
            ("prometheus_tsdb_head_max_time", "Maximum timestamp of the head block", s.head_max_time),
            ("prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks", clamp(s.blocks_loaded)),
            (
                "prometheus_tsdb_storage_blocks_bytes",
                "The number of bytes that are currently used for local storage by all blocks",
                clamp(s.blocks_bytes),
            ),
            (
                "prometheus_tsdb_lowest_timestamp",
                "Lowest timestamp value stored in the database. The unit is decided by the library consumer",
                s.lowest_timestamp,
            ),
            (
                "prometheus_tsdb_retention_limit_bytes",
                "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
                clamp(s.retention_limit_bytes),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters = [
            ("prometheus_tsdb_head_samples_appended", "Total number of appended samples", s.samples_appended),
            (
                "prometheus_tsdb_out_of_order_samples",
                "Total number of out of order samples ingestion failed attempts",
                s.out_of_order_samples,
            ),
            (
                "prometheus_tsdb_too_old_samples",
                "Total number of out of order samples ingestion failed attempts due to OOO being enabled but beyond the OOO time window",
                s.too_old_samples,
            ),
            (
                "prometheus_tsdb_head_out_of_order_samples_appended",
                "Total number of appended out of order samples",
                s.out_of_order_appended,
            ),
            (
                "prometheus_tsdb_duplicate_samples",
                "Total number of samples refused as duplicates for their timestamp",
                s.duplicate_samples,
            ),
            ("prometheus_tsdb_wal_corruptions", "Total number of WAL corruptions", s.wal_corruptions),
            ("prometheus_tsdb_wal_bytes_written", "Total bytes written to the WAL", s.wal_bytes_written),
            ("prometheus_tsdb_wal_writes_failed", "Total number of WAL writes that failed", s.wal_writes_failed),
            (
                "prometheus_tsdb_out_of_bound_samples",
                "Total number of out of bound samples ingestion failed attempts",
                s.out_of_bounds_samples,
            ),
            ("prometheus_tsdb_head_truncations", "Total number of head truncations attempted", s.head_truncations),
            (
                "prometheus_tsdb_head_truncations_failed",
                "Total number of head truncations that failed",
                s.head_truncations_failed,
            ),
            (
                "prometheus_tsdb_checkpoint_creations",
                "Total number of checkpoint creations attempted",
                s.checkpoint_creations,
            ),
            (
                "prometheus_tsdb_checkpoint_creations_failed",
                "Total number of checkpoint creations that failed",
                s.checkpoint_creations_failed,
            ),
            ("prometheus_tsdb_compactions", "Total number of compactions that were executed", s.compactions),
            ("prometheus_tsdb_compactions_failed", "Total number of compactions that failed", s.compactions_failed),
            (
                "prometheus_tsdb_time_retentions",
                "The number of times that blocks were deleted because the maximum time limit was exceeded",
                s.time_retentions,
            ),
            (
                "prometheus_tsdb_size_retentions",
                "The number of times that blocks were deleted because the maximum number of bytes was exceeded",
                s.size_retentions,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        Ok(())
    }
}

use std::sync::{Arc, OnceLock};

use crate::promql::stats::EngineStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The engine's figures, once [`Telemetry::set_engine_stats`] has been
/// called (the engine is built after the telemetry's collectors).
type EngineSlot = Arc<OnceLock<Arc<EngineStats>>>;

/// `prometheus_engine_query_samples_total` and
/// `prometheus_engine_query_log_enabled` (Vigil has no query log: 0, as
/// Prometheus without `query_log_file`).
#[derive(Debug)]
struct EngineCollector(EngineSlot);

impl Collector for EngineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = self.0.get() else { return Ok(()) };
        let samples = ConstCounter::new(stats.samples_total());
        samples.encode(encoder.encode_descriptor(
            "prometheus_engine_query_samples",
            "The total number of samples loaded by all queries (full window per step for range-vector)",
            None,
            samples.metric_type(),
        )?)?;
        let log = ConstGauge::new(0i64);
        log.encode(encoder.encode_descriptor(
            "prometheus_engine_query_log_enabled",
            "State of the query log",
            None,
            log.metric_type(),
        )?)
    }
}

/// Labels of the HTTP request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (e.g. `/api/v1/query`), never the raw path, so
    /// random URLs cannot blow up the series count.
    pub handler: String,
    pub code: String,
}

/// Labels of the HTTP latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HandlerLabels {
    pub handler: String,
}

type DurationFamily = Family<HandlerLabels, Histogram, fn() -> Histogram>;

/// The registry and the metrics other modules update.
pub struct Telemetry {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_request_duration: DurationFamily,
    /// Queries evaluating now (`prometheus_engine_queries`).
    pub queries_running: Gauge,
    /// `--query.max-concurrency` (`prometheus_engine_queries_concurrent_max`).
    pub queries_concurrent_max: Gauge,
    /// Time of each `clean_tombstones` (`prometheus_tsdb_tombstone_cleanup_seconds`).
    pub tombstone_cleanup: Histogram,
    engine: EngineSlot,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

impl Telemetry {
    /// Also exposes the head's counters under Prometheus's TSDB names.
    pub fn with_tsdb(stats: Arc<HeadStats>) -> Arc<Self> {
        Self::build(Some(stats), Vec::new())
    }

    /// As [`Telemetry::with_tsdb`], plus collectors of other stages (the
    /// notifier's counts, …) read at scrape time.
    pub fn with_collectors(stats: Arc<HeadStats>, collectors: Vec<Box<dyn Collector>>) -> Arc<Self> {
        Self::build(Some(stats), collectors)
    }

    pub fn new() -> Arc<Self> {
        Self::build(None, Vec::new())
    }

    fn build(tsdb: Option<Arc<HeadStats>>, collectors: Vec<Box<dyn Collector>>) -> Arc<Self> {
        let mut registry = Registry::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register("prometheus_http_requests", "Counter of HTTP requests", http_requests.clone());
        let http_request_duration: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests",
            http_request_duration.clone(),
        );
        let queries_running = Gauge::default();
        registry.register(
            "prometheus_engine_queries",
            "The current number of queries being executed or waiting",
            queries_running.clone(),
        );
        let queries_concurrent_max = Gauge::default();
        registry.register(
            "prometheus_engine_queries_concurrent_max",
            "The max number of concurrent queries",
            queries_concurrent_max.clone(),
        );
        // Prometheus's default buckets, as its histogram has.
        let tombstone_cleanup = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        registry.register(
            "prometheus_tsdb_tombstone_cleanup_seconds",
            "The time taken to recompact blocks to remove tombstones",
            tombstone_cleanup.clone(),
        );
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        let engine = EngineSlot::default();
        registry.register_collector(Box::new(EngineCollector(Arc::clone(&engine))));
        if let Some(stats) = tsdb {
            registry.register_collector(Box::new(TsdbCollector(stats)));
        }
        for collector in collectors {
            registry.register_collector(collector);
        }
        Arc::new(Telemetry {
            registry,
            http_requests,
            http_request_duration,
            queries_running,
            queries_concurrent_max,
            tombstone_cleanup,
            engine,
        })
    }

    /// Exposes the engine's timings and sample count; the first call wins
    /// (one server has one engine).
    pub fn set_engine_stats(&self, stats: Arc<EngineStats>) {
        let _ = self.engine.set(stats);
    }

    /// Records one served HTTP request.
    pub fn observe_request(&self, handler: &str, code: u16, seconds: f64) {
        self.http_requests.get_or_create(&RequestLabels { handler: handler.to_owned(), code: code.to_string() }).inc();
        self.http_request_duration.get_or_create(&HandlerLabels { handler: handler.to_owned() }).observe(seconds);
    }

    /// The metrics in OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        if let Some(stats) = self.engine.get() {
            // prometheus-client has no summary type: the family is written
            // by hand before the closing `# EOF`.
            let eof = out.rfind("# EOF").unwrap_or(out.len());
            let tail = out.split_off(eof);
            summary::encode_family(
                &mut out,
                "prometheus_engine_query_duration_seconds",
                "Query timings",
                &[
                    ("slice", "inner_eval", &stats.inner_eval),
                    ("slice", "prepare_time", &stats.prepare_time),
                    ("slice", "queue_time", &stats.queue_time),
                    ("slice", "result_sort", &stats.result_sort),
                ],
                &summary::ENGINE_QUANTILES,
            )?;
            out.push_str(&tail);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::exposition::{self, Format};

    #[test]
    fn exposes_tsdb_counters_under_prometheus_names() {
        use crate::tsdb::{MemoryStorage, Sample, Storage};
        let storage = MemoryStorage::new();
        let telemetry = Telemetry::with_tsdb(storage.stats());
        let mut app = storage.appender();
        let labels = vigil_shared::model::Labels::from_pairs([("__name__", "x")]);
        app.append(&labels, Sample { timestamp_ms: 2, value: 1.0 });
        app.append(&labels, Sample { timestamp_ms: 1, value: 1.0 });
        app.commit().unwrap();
        let text = telemetry.encode().unwrap();
        for line in [
            "prometheus_tsdb_head_series 1",
            "prometheus_tsdb_head_samples_appended_total 1",
            "prometheus_tsdb_out_of_order_samples_total 1",
            "prometheus_tsdb_head_max_time 2",
            "prometheus_tsdb_blocks_loaded 0",
            "prometheus_tsdb_compactions_total 0",
            "prometheus_tsdb_compactions_failed_total 0",
            "prometheus_tsdb_head_truncations_total 0",
            "prometheus_tsdb_checkpoint_creations_total 0",
            "prometheus_tsdb_storage_blocks_bytes 0",
            "prometheus_tsdb_retention_limit_bytes 0",
            "prometheus_tsdb_time_retentions_total 0",
            "prometheus_tsdb_size_retentions_total 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn encodes_parseable_openmetrics_with_process_and_http_metrics() {
        let telemetry = Telemetry::new();
        telemetry.observe_request("/api/v1/query", 200, 0.01);
        let engine = Arc::new(EngineStats::default());
        engine.inner_eval.observe(std::time::Duration::from_millis(20));
        engine.add_samples(42);
        telemetry.set_engine_stats(Arc::clone(&engine));
        let text = telemetry.encode().unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Our own scraper must read what we expose.
        let samples = exposition::parse(&text, Format::OpenMetrics).unwrap().samples;
        let find = |name: &str| {
            samples
                .iter()
                .find(|s| s.series_text == name || s.series_text.starts_with(&format!("{name}{{")))
                .map(|s| s.value)
        };
        assert_eq!(find("prometheus_http_requests_total"), Some(1.0));
        let engine_cases = [
            ("prometheus_engine_query_samples_total", 42.0),
            ("prometheus_engine_query_log_enabled", 0.0),
            ("prometheus_engine_query_duration_seconds{slice=\"inner_eval\",quantile=\"0.99\"}", 0.02),
            ("prometheus_engine_query_duration_seconds_count{slice=\"inner_eval\"}", 1.0),
            ("prometheus_engine_query_duration_seconds_sum{slice=\"inner_eval\"}", 0.02),
            ("prometheus_engine_query_duration_seconds_count{slice=\"queue_time\"}", 0.0),
        ];
        for (series, want) in engine_cases {
            assert_eq!(samples.iter().find(|s| s.series_text == series).map(|s| s.value), Some(want), "{series}");
        }
        assert!(
            samples
                .iter()
                .find(|s| s.series_text
                    == "prometheus_engine_query_duration_seconds{slice=\"queue_time\",quantile=\"0.5\"}")
                .is_some_and(|s| s.value.is_nan()),
            "{text}"
        );
        assert_eq!(find("prometheus_http_request_duration_seconds_count"), Some(1.0));
        assert!(find("process_resident_memory_bytes").is_some_and(|v| v > 1e6), "{text}");
        assert!(find("process_cpu_seconds_total").is_some_and(|v| v >= 0.0));
        assert!(find("process_start_time_seconds").is_some_and(|v| v > 1.6e9));
        assert!(find("process_open_fds").is_some_and(|v| v >= 3.0));
    }
}
