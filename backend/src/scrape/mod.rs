//! Scraping: turning configured targets into samples in storage.
//!
//! One task per target pulls its `/metrics` on the job's interval, parses the
//! body ([`exposition`]), attaches the target labels (`job`, `instance`, the
//! static config's labels) and appends everything, plus the synthetic `up`
//! and `scrape_*` series, in one storage batch per scrape.

pub mod exposition;
pub mod relabel;
pub mod target;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tracing::{debug, warn};
use vigil_shared::model::{Labels, METRIC_NAME};

use crate::config::Config;
use crate::tsdb::{Sample, Storage};
use exposition::Format;

/// The Accept header Prometheus sends: OpenMetrics preferred, then text.
const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A target to scrape, with everything its loop needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub scrape_url: String,
    /// `job`, `instance` and the static config's labels.
    pub labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
}

/// Expands the configuration's static configs into targets.
pub fn targets(config: &Config) -> Vec<Target> {
    let mut out = Vec::new();
    for job in &config.scrape_configs {
        for static_config in &job.static_configs {
            for address in &static_config.targets {
                let mut pairs: Vec<(String, String)> =
                    static_config.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                pairs.push(("job".to_owned(), job.job_name.clone()));
                pairs.push(("instance".to_owned(), address.clone()));
                out.push(Target {
                    scrape_url: format!("{}://{}{}", job.scheme, address, job.metrics_path),
                    labels: Labels::from_pairs(pairs),
                    interval: job.interval(&config.global),
                    timeout: job.timeout(&config.global),
                    honor_labels: job.honor_labels,
                    honor_timestamps: job.honor_timestamps,
                });
            }
        }
    }
    out
}

/// Running scrape loops; dropping it stops them.
pub struct ScrapeManager {
    tasks: Vec<JoinHandle<()>>,
}

impl ScrapeManager {
    /// Starts one loop per target in `config`.
    pub fn start(config: &Config, storage: Arc<dyn Storage>) -> anyhow::Result<ScrapeManager> {
        let client = reqwest::Client::builder().user_agent(concat!("Vigil/", env!("CARGO_PKG_VERSION"))).build()?;
        let tasks = targets(config)
            .into_iter()
            .map(|target| tokio::spawn(scrape_loop(target, Arc::clone(&storage), client.clone())))
            .collect();
        Ok(ScrapeManager { tasks })
    }
}

impl Drop for ScrapeManager {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// How long to wait before a target's first scrape. Spreading targets over
/// the interval by a hash of their URL keeps scrapes from all firing at once,
/// and keeps each target's phase the same across restarts.
fn start_delay(target: &Target, now: SystemTime) -> Duration {
    let interval_ms = target.interval.as_millis().max(1) as u64;
    let mut hasher = DefaultHasher::new();
    target.scrape_url.hash(&mut hasher);
    target.labels.hash(&mut hasher);
    let offset = hasher.finish() % interval_ms;
    let now_ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Duration::from_millis((offset + interval_ms - now_ms % interval_ms) % interval_ms)
}

async fn scrape_loop(target: Target, storage: Arc<dyn Storage>, client: reqwest::Client) {
    let first = tokio::time::Instant::now() + start_delay(&target, SystemTime::now());
    let mut ticker = tokio::time::interval_at(first, target.interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let timestamp_ms = now_ms();
        let result = fetch(&client, &target).await;
        let duration = started.elapsed();
        let outcome = match result {
            Ok((body, format)) => append_scrape(storage.as_ref(), &target, &body, format, timestamp_ms, duration),
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            warn!(target = %target.scrape_url, error = %e, "scrape failed");
            append_report(storage.as_ref(), &target, timestamp_ms, duration, None);
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Why one scrape failed; becomes the target's last error.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("{}", error_chain(.0))]
    Http(#[from] reqwest::Error),
    #[error("server returned HTTP status {0}")]
    Status(reqwest::StatusCode),
    #[error("{0}")]
    Parse(#[from] exposition::ExpositionError),
    #[error("{0}")]
    Storage(#[from] crate::tsdb::StorageError),
}

/// An error with its causes, as `reqwest` keeps the useful part ("connection
/// refused") in the source chain.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn fetch(client: &reqwest::Client, target: &Target) -> Result<(String, Format), ScrapeError> {
    let response = client
        .get(&target.scrape_url)
        .header(reqwest::header::ACCEPT, ACCEPT_HEADER)
        .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", target.timeout.as_secs_f64()))
        .timeout(target.timeout)
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(ScrapeError::Status(response.status()));
    }
    let format = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or(Format::PrometheusText, Format::from_content_type);
    Ok((response.text().await?, format))
}

/// Parses a body and appends its samples with the target's labels, then the
/// synthetic series, in one batch. A body that fails to parse appends
/// nothing but the synthetic series with `up` = 0, as in Prometheus.
pub fn append_scrape(
    storage: &dyn Storage,
    target: &Target,
    body: &str,
    format: Format,
    timestamp_ms: i64,
    duration: Duration,
) -> Result<(), ScrapeError> {
    let samples = exposition::parse(body, format)?;
    let mut appender = storage.appender();
    for sample in &samples {
        let labels = target_labels(target, &sample.name, &sample.labels);
        let t = match (target.honor_timestamps, sample.timestamp_ms) {
            (true, Some(t)) => t,
            _ => timestamp_ms,
        };
        appender.append(&labels, Sample { timestamp_ms: t, value: sample.value });
    }
    let report = appender.commit()?;
    debug!(target = %target.scrape_url, appended = report.appended, "scraped");
    append_report(storage, target, timestamp_ms, duration, Some((samples.len(), report.series_added)));
    Ok(())
}

/// Merges a scraped sample's labels with the target's. Without
/// `honor_labels`, a scraped label that clashes with a target label is kept
/// as `exported_<name>`; with it, the scraped value wins.
fn target_labels(
    target: &Target,
    name: &str,
    scraped: &[(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)],
) -> Labels {
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(scraped.len() + target.labels.len() + 1);
    for label in target.labels.iter() {
        let clashes = scraped.iter().any(|(n, _)| *n == label.name);
        if !(target.honor_labels && clashes) {
            pairs.push((label.name.clone(), label.value.clone()));
        }
    }
    for (label_name, value) in scraped {
        let clashes = target.labels.get(label_name).is_some();
        let label_name =
            if clashes && !target.honor_labels { format!("exported_{label_name}") } else { label_name.to_string() };
        pairs.push((label_name, value.to_string()));
    }
    pairs.push((METRIC_NAME.to_owned(), name.to_owned()));
    Labels::from_pairs(pairs)
}

/// Appends `up` and the `scrape_*` series for one scrape. `counts` is
/// (samples scraped, series added) for a successful scrape, `None` for a
/// failed one.
fn append_report(
    storage: &dyn Storage,
    target: &Target,
    timestamp_ms: i64,
    duration: Duration,
    counts: Option<(usize, usize)>,
) {
    let (scraped, added) = counts.unwrap_or((0, 0));
    let series = [
        ("up", if counts.is_some() { 1.0 } else { 0.0 }),
        ("scrape_duration_seconds", duration.as_secs_f64()),
        ("scrape_samples_scraped", scraped as f64),
        ("scrape_samples_post_metric_relabeling", scraped as f64),
        ("scrape_series_added", added as f64),
    ];
    let mut appender = storage.appender();
    for (name, value) in series {
        let labels = Labels::from_pairs(
            target
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .chain([(METRIC_NAME.to_owned(), name.to_owned())]),
        );
        appender.append(&labels, Sample { timestamp_ms, value });
    }
    if let Err(e) = appender.commit() {
        warn!(target = %target.scrape_url, error = %e, "cannot store scrape report");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::tsdb::MemoryStorage;
    use std::path::Path;
    use vigil_shared::promql::{MatchOp, Matcher};

    fn target(honor_labels: bool) -> Target {
        let config = Config::parse(
            &format!(
                "scrape_configs:\n  - job_name: j\n    honor_labels: {honor_labels}\n    static_configs:\n      - targets: ['h:1']\n        labels: {{env: prod}}\n"
            ),
            Path::new("t.yml"),
        )
        .unwrap();
        targets(&config).remove(0)
    }

    #[test]
    fn targets_carry_job_instance_and_static_labels() {
        let t = target(false);
        assert_eq!(t.scrape_url, "http://h:1/metrics");
        assert_eq!(t.labels.to_string(), "{env=\"prod\", instance=\"h:1\", job=\"j\"}");
        assert_eq!(t.interval, Duration::from_secs(60));
    }

    #[test]
    fn label_clashes_follow_honor_labels() {
        let scraped = vec![("job".into(), "inner".into()), ("x".into(), "1".into())];
        assert_eq!(
            target_labels(&target(false), "m", &scraped).to_string(),
            "m{env=\"prod\", exported_job=\"inner\", instance=\"h:1\", job=\"j\", x=\"1\"}"
        );
        assert_eq!(
            target_labels(&target(true), "m", &scraped).to_string(),
            "m{env=\"prod\", instance=\"h:1\", job=\"inner\", x=\"1\"}"
        );
    }

    #[test]
    fn start_delay_is_within_interval_and_stable() {
        let t = target(false);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let d = start_delay(&t, now);
        assert!(d < t.interval);
        assert_eq!(d, start_delay(&t, now));
        // The phase is fixed: a second later the delay is one second less
        // (modulo the interval).
        let later = start_delay(&t, now + Duration::from_secs(1));
        assert_eq!((d.as_millis() + 60_000 - 1000) % 60_000, later.as_millis());
    }

    #[test]
    fn append_scrape_stores_samples_and_synthetic_series() {
        let storage = MemoryStorage::new();
        let t = target(false);
        append_scrape(&storage, &t, "a 1\nb{x=\"y\"} 2\n", Format::PrometheusText, 5000, Duration::from_millis(20))
            .unwrap();
        let q = crate::tsdb::Storage::querier(&storage, 0, 10_000).unwrap();
        let select = |name: &str| q.select(&[Matcher::new(MatchOp::Equal, "__name__", name).unwrap()]).unwrap();
        assert_eq!(select("b")[0].labels.to_string(), "b{env=\"prod\", instance=\"h:1\", job=\"j\", x=\"y\"}");
        assert_eq!(select("up")[0].samples[0].value, 1.0);
        assert_eq!(select("scrape_samples_scraped")[0].samples[0].value, 2.0);
        assert_eq!(select("scrape_series_added")[0].samples[0].value, 2.0);
        assert_eq!(select("scrape_duration_seconds")[0].samples[0].value, 0.02);
    }

    #[test]
    fn a_bad_body_is_refused_whole() {
        let storage = MemoryStorage::new();
        let t = target(false);
        let err = append_scrape(&storage, &t, "a 1\nb{ 2\n", Format::PrometheusText, 5000, Duration::ZERO).unwrap_err();
        assert!(err.to_string().starts_with("line 2, column"), "{err}");
        assert_eq!(storage.series_count(), 0, "the good line of a bad body is not kept either");
    }
}
