//! Vigil's own metrics, served at `/metrics` and scraped by Vigil itself.
//!
//! Names follow Prometheus's where the meaning is the same
//! (`prometheus_http_requests_total`, `process_*`), so dashboards built for
//! Prometheus work on Vigil unchanged.

mod process;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register("prometheus_http_requests", "Counter of HTTP requests", http_requests.clone());
        let http_request_duration: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests",
            http_request_duration.clone(),
        );
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        Arc::new(Telemetry { registry, http_requests, http_request_duration })
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
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::exposition::{self, Format};

    #[test]
    fn encodes_parseable_openmetrics_with_process_and_http_metrics() {
        let telemetry = Telemetry::new();
        telemetry.observe_request("/api/v1/query", 200, 0.01);
        let text = telemetry.encode().unwrap();
        // Our own scraper must read what we expose.
        let samples = exposition::parse(&text, Format::OpenMetrics).unwrap().samples;
        let find = |name: &str| {
            samples
                .iter()
                .find(|s| s.series_text == name || s.series_text.starts_with(&format!("{name}{{")))
                .map(|s| s.value)
        };
        assert_eq!(find("prometheus_http_requests_total"), Some(1.0));
        assert_eq!(find("prometheus_http_request_duration_seconds_count"), Some(1.0));
        assert!(find("process_resident_memory_bytes").is_some_and(|v| v > 1e6), "{text}");
        assert!(find("process_cpu_seconds_total").is_some_and(|v| v >= 0.0));
        assert!(find("process_start_time_seconds").is_some_and(|v| v > 1.6e9));
        assert!(find("process_open_fds").is_some_and(|v| v >= 3.0));
    }
}
