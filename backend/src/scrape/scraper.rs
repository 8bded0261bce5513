//! The scrape loop of one target: fetch, parse, label, limit, append, and
//! keep the target's health for the targets API.
//!
//! Staleness follows Prometheus: a series seen in the previous scrape but
//! not in this one gets a staleness marker at this scrape's timestamp; a
//! failed scrape marks every series of the last one stale; and a target that
//! goes away marks all its series stale when its loop stops. Series exposed
//! with their own timestamp (and `honor_timestamps`) are exempt, as in
//! Prometheus without `track_timestamps_staleness`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustc_hash::{FxHashMap, FxHashSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use vigil_shared::model::{Labels, METRIC_NAME};

use super::exposition::{self, ExposedSample, Format};
use super::relabel;
use super::target::Target;
use crate::config::{GlobalConfig, ScrapeConfig};
use crate::tsdb::{Appender, STALE_NAN_BITS, Sample, SeriesRef, Storage};

/// A scrape cache entry; see [`Scraper::cache`].
#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    series: Option<SeriesRef>,
    last_iteration: u64,
}

/// The Accept header Prometheus sends: OpenMetrics preferred, then text.
const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// What every target of one job shares.
#[derive(Debug)]
pub struct JobRuntime {
    pub config: ScrapeConfig,
    pub limits: Limits,
    pub client: reqwest::Client,
}

/// Per-scrape limits (0 = none), resolved against the global defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub sample: u64,
    pub label: u64,
    pub label_name_length: u64,
    pub label_value_length: u64,
    pub body_size: u64,
}

impl Limits {
    pub fn resolve(job: &ScrapeConfig, global: &GlobalConfig) -> Limits {
        Limits {
            sample: job.sample_limit.unwrap_or(global.sample_limit),
            label: job.label_limit.unwrap_or(global.label_limit),
            label_name_length: job.label_name_length_limit.unwrap_or(global.label_name_length_limit),
            label_value_length: job.label_value_length_limit.unwrap_or(global.label_value_length_limit),
            body_size: job.body_size_limit.unwrap_or(global.body_size_limit).0,
        }
    }
}

/// The targets API's view of a target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetHealth {
    /// `None` before the first scrape ("unknown").
    pub up: Option<bool>,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    pub last_samples: usize,
    /// HELP/TYPE/UNIT from the last successful scrape, for the metadata APIs.
    pub metadata: Arc<Vec<MetricMetadata>>,
}

/// One family's metadata as a target exposed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    pub metric: String,
    /// `counter`, `gauge`, …; `unknown` when the body gave no TYPE.
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

/// What one successful scrape amounted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeCounts {
    /// Samples in the body (`scrape_samples_scraped`).
    pub scraped: usize,
    /// Samples left after metric relabeling
    /// (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: usize,
    pub series_added: usize,
    /// Samples refused as duplicates of a series' sample at the same time.
    pub duplicates: usize,
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
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Credentials(String),
    #[error("response body is not valid UTF-8 at byte {0}")]
    Utf8(usize),
}

/// An error with its causes, as `reqwest` keeps the useful part ("connection
/// refused") in the source chain.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How long to wait before a target's first scrape. Spreading targets over
/// the interval by a hash of their identity keeps scrapes from all firing at
/// once, and keeps each target's phase the same across restarts.
pub fn start_delay(target: &Target, now: SystemTime) -> Duration {
    let interval_ms = target.interval.as_millis().max(1) as u64;
    let mut hasher = DefaultHasher::new();
    target.scrape_url.hash(&mut hasher);
    target.labels.hash(&mut hasher);
    let offset = hasher.finish() % interval_ms;
    let now_ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Duration::from_millis((offset + interval_ms - now_ms % interval_ms) % interval_ms)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The state one loop carries between scrapes.
pub struct Scraper {
    pub target: Target,
    pub job: Arc<JobRuntime>,
    pub storage: Arc<dyn Storage>,
    pub health: Arc<Mutex<TargetHealth>>,
    /// Series written by the last scrape, for staleness markers.
    last_series: FxHashSet<SeriesRef>,
    /// Series text as the target writes it → the series it became (`None`
    /// when metric relabeling drops it). Known series skip label merging,
    /// relabeling, limit checks and the store's label lookup.
    cache: FxHashMap<String, CacheEntry>,
    /// Counts scrapes, to evict cache entries not seen for a while.
    iteration: u64,
    /// References of `up` and the `scrape_*` series, once created.
    report_refs: Option<[SeriesRef; 5]>,
    /// The client and URL for a job with `tls_config.server_name`.
    server_name_client: Option<(reqwest::Client, String)>,
    /// An error every scrape reports instead of running (e.g. the job's
    /// target_limit is exceeded).
    forced_error: Option<String>,
}

/// What a stopping loop hands to the loop that replaces it for the same
/// target (same labels and URL), so a reload or a discovery change that
/// restarts the loop keeps the target's health, writes no staleness markers
/// for series that go on, and keeps the scrape cache when it is still valid.
pub struct Handover {
    job: Arc<JobRuntime>,
    last_series: FxHashSet<SeriesRef>,
    cache: FxHashMap<String, CacheEntry>,
    iteration: u64,
    report_refs: Option<[SeriesRef; 5]>,
}

/// Whether a scrape cache built under `old` is valid under `new`: as
/// Prometheus's `reusableCache`, everything that shapes a series' labels
/// must be the same; interval, timeout, sample limit, HTTP settings and
/// discovery may differ.
fn reusable_cache(old: &ScrapeConfig, new: &ScrapeConfig) -> bool {
    let zeroed = |c: &ScrapeConfig| {
        let mut z = c.clone();
        z.scrape_interval = None;
        z.scrape_timeout = None;
        z.sample_limit = None;
        z.body_size_limit = None;
        z.basic_auth = None;
        z.authorization = None;
        z.bearer_token = None;
        z.bearer_token_file = None;
        z.tls_config = None;
        z.follow_redirects = true;
        z.enable_compression = true;
        z.enable_http2 = true;
        z.static_configs.clear();
        z.file_sd_configs.clear();
        z.target_limit = None;
        z.keep_dropped_targets = 0;
        z
    };
    zeroed(old) == zeroed(new)
}

impl Scraper {
    pub fn new(target: Target, job: Arc<JobRuntime>, storage: Arc<dyn Storage>, forced_error: Option<String>) -> Self {
        Scraper::with_health(target, job, storage, forced_error, Arc::default())
    }

    /// A scraper that reports into an existing health record (the one of
    /// the loop it replaces).
    pub fn with_health(
        target: Target,
        job: Arc<JobRuntime>,
        storage: Arc<dyn Storage>,
        forced_error: Option<String>,
        health: Arc<Mutex<TargetHealth>>,
    ) -> Self {
        Scraper {
            target,
            job,
            storage,
            health,
            last_series: FxHashSet::default(),
            cache: FxHashMap::default(),
            iteration: 0,
            report_refs: None,
            server_name_client: None,
            forced_error,
        }
    }

    /// Takes over what the loop this one replaces knew.
    pub fn adopt(&mut self, handover: Handover) {
        self.last_series = handover.last_series;
        self.report_refs = handover.report_refs;
        let (old, new) = (&handover.job.limits, &self.job.limits);
        let same_label_limits = (old.label, old.label_name_length, old.label_value_length)
            == (new.label, new.label_name_length, new.label_value_length);
        if same_label_limits && reusable_cache(&handover.job.config, &self.job.config) {
            self.cache = handover.cache;
            self.iteration = handover.iteration;
        }
    }

    /// Scrapes on the target's interval until `cancel`. Then, if `hand_over`
    /// was set, returns its state for the loop that replaces it; otherwise
    /// the target went away and every series it wrote is marked stale.
    pub async fn run(mut self, cancel: CancellationToken, hand_over: Arc<AtomicBool>) -> Option<Handover> {
        let first = tokio::time::Instant::now() + start_delay(&self.target, SystemTime::now());
        let mut ticker = tokio::time::interval_at(first, self.target.interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.scrape_once().await,
                () = cancel.cancelled() => break,
            }
        }
        if hand_over.load(Ordering::Acquire) {
            return Some(Handover {
                job: self.job,
                last_series: self.last_series,
                cache: self.cache,
                iteration: self.iteration,
                report_refs: self.report_refs,
            });
        }
        // The target went away: end its series and its report series.
        let now = now_ms();
        self.mark_all_stale(now);
        let stale = f64::from_bits(STALE_NAN_BITS);
        let storage = Arc::clone(&self.storage);
        let mut appender = storage.appender();
        for series in self.report_refs(appender.as_mut()) {
            appender.append_ref(series, Sample { timestamp_ms: now, value: stale });
        }
        if let Err(e) = appender.commit() {
            warn!(target = %self.target.scrape_url, error = %e, "cannot store staleness markers");
        }
        None
    }

    /// One scrape, start to finish.
    pub async fn scrape_once(&mut self) {
        let started = Instant::now();
        let timestamp_ms = now_ms();
        let result = match &self.forced_error {
            Some(error) => Err(ScrapeError::Limit(error.clone())),
            None => self.fetch().await.and_then(|(body, format)| self.append_body(&body, format, timestamp_ms)),
        };
        let duration = started.elapsed();
        let counts = match &result {
            Ok(counts) => *counts,
            Err(e) => {
                debug!(target = %self.target.scrape_url, error = %e, "scrape failed");
                // A failed scrape ends every series of the last one.
                self.mark_all_stale(timestamp_ms);
                ScrapeCounts::default()
            }
        };
        self.append_report(timestamp_ms, duration, result.is_ok(), counts);
        if let Ok(mut health) = self.health.lock() {
            health.up = Some(result.is_ok());
            health.last_error = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
            health.last_scrape = Some(UNIX_EPOCH + Duration::from_millis(timestamp_ms.max(0) as u64));
            health.last_scrape_duration = duration;
            health.last_samples = counts.post_relabel;
        }
    }

    /// With `tls_config.server_name`, the URL to request (host replaced by
    /// the server name) and a client that connects it to the target's own
    /// address; built once per target. Otherwise the job's shared client.
    async fn client_and_url(&mut self) -> Result<(reqwest::Client, String), ScrapeError> {
        let Some(server_name) = self.job.config.tls_config.as_ref().and_then(|t| t.server_name.clone()) else {
            return Ok((self.job.client.clone(), self.target.scrape_url.clone()));
        };
        if let Some(cached) = &self.server_name_client {
            return Ok(cached.clone());
        }
        let mut url = reqwest::Url::parse(&self.target.scrape_url)
            .map_err(|e| ScrapeError::Credentials(format!("invalid scrape URL: {e}")))?;
        let host = url.host_str().unwrap_or("").to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| ScrapeError::Credentials(format!("cannot resolve {host}: {e}")))?
            .collect();
        let client =
            super::build_client(&self.job.config, Some((&server_name, &addrs))).map_err(ScrapeError::Credentials)?;
        url.set_host(Some(&server_name)).map_err(|e| ScrapeError::Credentials(format!("invalid server_name: {e}")))?;
        let pair = (client, url.to_string());
        self.server_name_client = Some(pair.clone());
        Ok(pair)
    }

    async fn fetch(&mut self) -> Result<(String, Format), ScrapeError> {
        let (client, url) = self.client_and_url().await?;
        let config = &self.job.config;
        let mut request = client
            .get(&url)
            .header(reqwest::header::ACCEPT, ACCEPT_HEADER)
            .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", self.target.timeout.as_secs_f64()))
            .timeout(self.target.timeout);
        if let Some(auth) = &config.basic_auth {
            let username = secret(&auth.username, auth.username_file.as_deref())?;
            let password = secret(&auth.password, auth.password_file.as_deref())?;
            request = request.basic_auth(username, Some(password));
        }
        if let Some(auth) = &config.authorization {
            let credentials = secret(&auth.credentials, auth.credentials_file.as_deref())?;
            request = request.header(reqwest::header::AUTHORIZATION, format!("{} {credentials}", auth.kind));
        }
        let mut response = request.send().await?;
        if !response.status().is_success() {
            return Err(ScrapeError::Status(response.status()));
        }
        let format = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or(Format::PrometheusText, Format::from_content_type);
        let limit = self.job.limits.body_size;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            if limit > 0 && body.len() as u64 > limit {
                return Err(ScrapeError::Limit(format!("body size limit exceeded (limit: {limit} bytes)")));
            }
        }
        let body = String::from_utf8(body).map_err(|e| ScrapeError::Utf8(e.utf8_error().valid_up_to()))?;
        Ok((body, format))
    }

    /// Parses, labels, checks limits and appends. Nothing is appended unless
    /// the whole body is good.
    pub fn append_body(&mut self, body: &str, format: Format, timestamp_ms: i64) -> Result<ScrapeCounts, ScrapeError> {
        let parsed = exposition::parse(body, format)?;
        self.iteration += 1;
        let iteration = self.iteration;
        let config = &self.job.config;
        let limits = self.job.limits;
        // Samples go straight into the batch; dropping it on an error below
        // discards them all, so a failed scrape still stores nothing.
        let mut appender = self.storage.appender();
        let mut seen: FxHashSet<SeriesRef> =
            FxHashSet::with_capacity_and_hasher(self.last_series.len(), Default::default());
        let mut kept = 0usize;
        let mut series_added = 0usize;
        for sample in &parsed.samples {
            let explicit_timestamp = sample.timestamp_ms.filter(|_| config.honor_timestamps);
            let t = explicit_timestamp.unwrap_or(timestamp_ms);
            let series = match self.cache.get_mut(sample.series_text) {
                Some(entry) => {
                    entry.last_iteration = iteration;
                    entry.series
                }
                None => {
                    let series = match sample_labels(&self.target, config, sample)? {
                        Some(labels) => {
                            check_label_limits(&labels, &limits)?;
                            // `scrape_series_added` counts series new to
                            // this target's cache, as Prometheus does, not
                            // series new to storage.
                            series_added += 1;
                            Some(appender.series_ref(&labels))
                        }
                        None => None,
                    };
                    self.cache.insert(sample.series_text.to_owned(), CacheEntry { series, last_iteration: iteration });
                    series
                }
            };
            if let Some(series) = series {
                appender.append_ref(series, Sample { timestamp_ms: t, value: sample.value });
                // As Prometheus (without track_timestamps_staleness): a
                // series exposed with its own timestamp gets no staleness
                // marker when it goes away, fails, or its target stops.
                if explicit_timestamp.is_none() {
                    seen.insert(series);
                }
                kept += 1;
            }
        }
        if limits.sample > 0 && kept as u64 > limits.sample {
            return Err(ScrapeError::Limit(format!(
                "sample limit exceeded (number of samples: {kept}, limit: {})",
                limits.sample
            )));
        }
        for gone in self.last_series.difference(&seen) {
            appender.append_ref(*gone, Sample { timestamp_ms, value: f64::from_bits(STALE_NAN_BITS) });
        }
        let report = appender.commit()?;
        if report.unknown_series > 0 {
            // The store dropped series we hold references to: start over.
            self.cache.clear();
        } else {
            // Prometheus flushes, after each successful scrape, the entries
            // that scrape did not see; a series that comes back is new again.
            self.cache.retain(|_, entry| entry.last_iteration == iteration);
        }
        self.last_series = seen;
        self.update_metadata(&parsed.metadata);
        if report.duplicates > 0 {
            // As Prometheus: the scrape stands, the duplicates are dropped
            // and counted.
            debug!(target = %self.target.scrape_url, duplicates = report.duplicates, "duplicate samples for timestamp");
        }
        Ok(ScrapeCounts {
            scraped: parsed.samples.len(),
            post_relabel: kept,
            series_added,
            duplicates: report.duplicates,
        })
    }

    /// Keeps the target's HELP/TYPE/UNIT for the metadata APIs; they rarely
    /// change, so the stored copy is only rebuilt when they do.
    fn update_metadata(&self, families: &[exposition::FamilyMetadata<'_>]) {
        let Ok(mut health) = self.health.lock() else { return };
        let kind = |m: &exposition::FamilyMetadata<'_>| m.kind.unwrap_or(exposition::MetricType::Unknown).as_str();
        let unchanged = health.metadata.len() == families.len()
            && health.metadata.iter().zip(families).all(|(old, new)| {
                old.metric == new.family
                    && old.kind == kind(new)
                    && old.help == new.help.as_deref().unwrap_or("")
                    && old.unit == new.unit.unwrap_or("")
            });
        if unchanged {
            return;
        }
        health.metadata = Arc::new(
            families
                .iter()
                .map(|m| MetricMetadata {
                    metric: m.family.to_owned(),
                    kind: kind(m),
                    help: m.help.as_deref().unwrap_or("").to_owned(),
                    unit: m.unit.unwrap_or("").to_owned(),
                })
                .collect(),
        );
    }

    fn mark_all_stale(&mut self, timestamp_ms: i64) {
        if self.last_series.is_empty() {
            return;
        }
        let mut appender = self.storage.appender();
        for series in self.last_series.drain() {
            appender.append_ref(series, Sample { timestamp_ms, value: f64::from_bits(STALE_NAN_BITS) });
        }
        if let Err(e) = appender.commit() {
            warn!(target = %self.target.scrape_url, error = %e, "cannot store staleness markers");
        }
    }

    /// Appends `up` and the `scrape_*` series for one scrape.
    fn append_report(&mut self, timestamp_ms: i64, duration: Duration, up: bool, counts: ScrapeCounts) {
        let values = [
            if up { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            counts.scraped as f64,
            counts.post_relabel as f64,
            counts.series_added as f64,
        ];
        let storage = Arc::clone(&self.storage);
        let mut appender = storage.appender();
        for (series, value) in self.report_refs(appender.as_mut()).into_iter().zip(values) {
            appender.append_ref(series, Sample { timestamp_ms, value });
        }
        if let Err(e) = appender.commit() {
            warn!(target = %self.target.scrape_url, error = %e, "cannot store scrape report");
        }
    }
}

impl Scraper {
    /// The references of the report series, created on first use.
    fn report_refs(&mut self, appender: &mut dyn Appender) -> [SeriesRef; 5] {
        if let Some(refs) = self.report_refs {
            return refs;
        }
        let refs = REPORT_SERIES.map(|name| appender.series_ref(&report_labels(&self.target, name)));
        self.report_refs = Some(refs);
        refs
    }
}

/// The synthetic series every scrape writes, in the order `append_report`
/// gives their values.
const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Labels of a synthetic series: the target's labels and the name.
fn report_labels(target: &Target, name: &str) -> Labels {
    Labels::from_pairs(
        target
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .chain([(METRIC_NAME.to_owned(), name.to_owned())]),
    )
}

/// Reads an inline secret, or the file that holds it (re-read on every
/// scrape, as Prometheus does, so rotated credentials are picked up).
fn secret(inline: &str, file: Option<&std::path::Path>) -> Result<String, ScrapeError> {
    super::read_secret(inline, file).map_err(ScrapeError::Credentials)
}

/// The final labels of a scraped sample: merged with the target's labels,
/// then `metric_relabel_configs`. `None` when relabeling drops it.
fn sample_labels(
    target: &Target,
    config: &ScrapeConfig,
    sample: &ExposedSample<'_>,
) -> Result<Option<Labels>, ScrapeError> {
    let (name, scraped) = sample.series()?;
    let merged = merge_target_labels(target, config.honor_labels, &name, &scraped);
    if config.metric_relabel_configs.is_empty() {
        return Ok(Some(Labels::from_pairs(merged)));
    }
    Ok(relabel::process(merged.into_iter().collect::<BTreeMap<_, _>>(), &config.metric_relabel_configs)
        .filter(|labels| labels.contains_key(METRIC_NAME))
        .map(Labels::from_pairs))
}

/// Merges a scraped sample's labels with the target's, as Prometheus's
/// `mutateSampleLabels`. With `honor_labels`, a scraped value wins over the
/// target's. Without it the target's wins, and the scraped value moves to
/// `exported_<name>` — or `exported_exported_<name>` and so on, until the
/// name is free (shortest conflicting names first).
pub fn merge_target_labels(
    target: &Target,
    honor_labels: bool,
    name: &str,
    scraped: &[(Cow<'_, str>, Cow<'_, str>)],
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(scraped.len() + target.labels.len() + 2);
    pairs.push((METRIC_NAME.to_owned(), name.to_owned()));
    for (label_name, value) in scraped {
        // A label given twice was refused by the parser already.
        pairs.push((label_name.to_string(), value.to_string()));
    }
    // Labels with an empty value do not exist, as in Prometheus's builder.
    let get = |pairs: &[(String, String)], name: &str| -> Option<usize> {
        pairs.iter().position(|(n, v)| n == name && !v.is_empty())
    };
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for label in target.labels.iter() {
        match get(&pairs, &label.name) {
            Some(_) if honor_labels => {}
            Some(i) => {
                conflicts.push((label.name.clone(), std::mem::replace(&mut pairs[i].1, label.value.clone())));
            }
            None => {
                pairs.retain(|(n, _)| *n != label.name);
                pairs.push((label.name.clone(), label.value.clone()));
            }
        }
    }
    conflicts.sort_by_key(|(name, _)| name.len());
    for (label_name, value) in conflicts {
        let mut new_name = label_name;
        loop {
            new_name.insert_str(0, "exported_");
            if get(&pairs, &new_name).is_none() {
                pairs.retain(|(n, _)| *n != new_name);
                pairs.push((new_name, value));
                break;
            }
        }
    }
    pairs
}

fn check_label_limits(labels: &Labels, limits: &Limits) -> Result<(), ScrapeError> {
    let metric = labels.metric_name().unwrap_or("");
    let short = |s: &str| s.chars().take(50).collect::<String>();
    if limits.label > 0 && labels.len() as u64 > limits.label {
        return Err(ScrapeError::Limit(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            short(metric),
            labels.len(),
            limits.label
        )));
    }
    for label in labels.iter() {
        let name_len = label.name.chars().count() as u64;
        if limits.label_name_length > 0 && name_len > limits.label_name_length {
            return Err(ScrapeError::Limit(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {name_len}, limit: {})",
                short(metric),
                short(&label.name),
                limits.label_name_length
            )));
        }
        let value_len = label.value.chars().count() as u64;
        if limits.label_value_length > 0 && value_len > limits.label_value_length {
            return Err(ScrapeError::Limit(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {}, length: {value_len}, limit: {})",
                short(metric),
                short(&label.name),
                short(&label.value),
                limits.label_value_length
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::scrape::target::{Populated, populate};
    use crate::tsdb::{MemoryStorage, is_stale_marker};
    use std::path::Path;
    use vigil_shared::promql::{MatchOp, Matcher};

    /// A scraper for one static target of the job in `yaml`, writing to a
    /// fresh in-memory store.
    fn scraper(yaml: &str) -> (Scraper, Arc<MemoryStorage>) {
        let config = Config::parse(yaml, Path::new("t.yml")).unwrap();
        let job = config.scrape_configs[0].clone();
        let discovered = [("__address__".to_owned(), "h:1".to_owned()), ("env".to_owned(), "prod".to_owned())].into();
        let Populated::Active(target) = populate(discovered, &job, &config.global).unwrap() else { panic!("dropped") };
        let runtime = Arc::new(JobRuntime {
            limits: Limits::resolve(&job, &config.global),
            config: job,
            client: reqwest::Client::new(),
        });
        let storage = Arc::new(MemoryStorage::new());
        (Scraper::new(target, runtime, Arc::clone(&storage) as Arc<dyn Storage>, None), storage)
    }

    fn select(storage: &MemoryStorage, name: &str) -> Vec<crate::tsdb::Series> {
        let q = storage.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
        q.select(&[Matcher::new(MatchOp::Equal, "__name__", name).unwrap()]).unwrap()
    }

    const JOB: &str = "scrape_configs:\n  - job_name: j\n";

    #[test]
    fn samples_get_target_labels_and_timestamps() {
        let (mut s, storage) = scraper(JOB);
        let body = "a 1\nb{x=\"y\"} 2 1000\n";
        let counts = s.append_body(body, Format::PrometheusText, 5000).unwrap();
        assert_eq!(counts, ScrapeCounts { scraped: 2, post_relabel: 2, series_added: 2, duplicates: 0 });
        let b = &select(&storage, "b")[0];
        assert_eq!(b.labels.to_string(), "b{env=\"prod\", instance=\"h:1\", job=\"j\", x=\"y\"}");
        assert_eq!(b.samples[0].timestamp_ms, 1000, "honor_timestamps defaults to true");
        assert_eq!(select(&storage, "a")[0].samples[0].timestamp_ms, 5000);

        let (mut s, storage) = scraper("scrape_configs:\n  - job_name: j\n    honor_timestamps: false\n");
        s.append_body(body, Format::PrometheusText, 5000).unwrap();
        assert_eq!(select(&storage, "b")[0].samples[0].timestamp_ms, 5000);
    }

    #[test]
    fn label_clashes_follow_honor_labels() {
        let body = "m{job=\"inner\",x=\"1\"} 1\n";
        let (mut s, storage) = scraper(JOB);
        s.append_body(body, Format::PrometheusText, 1).unwrap();
        assert_eq!(
            select(&storage, "m")[0].labels.to_string(),
            "m{env=\"prod\", exported_job=\"inner\", instance=\"h:1\", job=\"j\", x=\"1\"}"
        );
        let (mut s, storage) = scraper("scrape_configs:\n  - job_name: j\n    honor_labels: true\n");
        s.append_body(body, Format::PrometheusText, 1).unwrap();
        assert_eq!(
            select(&storage, "m")[0].labels.to_string(),
            "m{env=\"prod\", instance=\"h:1\", job=\"inner\", x=\"1\"}"
        );
    }

    #[test]
    fn vanished_series_and_failed_scrapes_write_staleness_markers() {
        let (mut s, storage) = scraper(JOB);
        s.append_body("a 1\nb 2\n", Format::PrometheusText, 1000).unwrap();
        s.append_body("a 1\n", Format::PrometheusText, 2000).unwrap();
        let b = &select(&storage, "b")[0].samples;
        assert_eq!(b.len(), 2);
        assert!(is_stale_marker(b[1].value) && b[1].timestamp_ms == 2000, "{b:?}");

        // A body that fails to parse appends nothing of itself...
        assert!(s.append_body("a 1\nb{ 2\n", Format::PrometheusText, 3000).is_err());
        assert_eq!(select(&storage, "a")[0].samples.len(), 2);
        // ...and the loop then ends every series of the last good scrape.
        s.mark_all_stale(3000);
        let a = &select(&storage, "a")[0].samples;
        assert!(is_stale_marker(a[2].value) && a[2].timestamp_ms == 3000, "{a:?}");
    }

    #[test]
    fn limits_fail_the_whole_scrape() {
        let cases = [
            ("sample_limit: 1", "a 1\nb 2\n", "sample limit exceeded (number of samples: 2, limit: 1)"),
            (
                "label_limit: 4",
                "a{x=\"1\",y=\"2\"} 1\n",
                "label_limit exceeded (metric: a, number of labels: 6, limit: 4)",
            ),
            // As in Prometheus, `__name__` counts too: a limit under 8 refuses every series.
            (
                "label_name_length_limit: 8",
                "a{long_label=\"1\"} 1\n",
                "label_name_length_limit exceeded (metric: a, label name: long_label, length: 10, limit: 8)",
            ),
            (
                "label_value_length_limit: 5",
                "a{x=\"abcdef\"} 1\n",
                "label_value_length_limit exceeded (metric: a, label name: x, value: abcdef, length: 6, limit: 5)",
            ),
        ];
        for (limit, body, want) in cases {
            let (mut s, storage) = scraper(&format!("scrape_configs:\n  - job_name: j\n    {limit}\n"));
            let err = s.append_body(body, Format::PrometheusText, 1).unwrap_err().to_string();
            assert_eq!(err, want);
            assert_eq!(storage.series_count(), 0, "{limit}: nothing of a failed scrape is kept");
        }
        // A global limit applies to jobs that set none.
        let (mut s, _) = scraper("global:\n  sample_limit: 1\nscrape_configs:\n  - job_name: j\n");
        assert!(s.append_body("a 1\nb 2\n", Format::PrometheusText, 1).is_err());
    }

    #[test]
    fn metric_relabeling_drops_and_rewrites() {
        let (mut s, storage) = scraper(
            "scrape_configs:
  - job_name: j
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'go_.*', action: drop}
      - {source_labels: [x], target_label: y}
      - {regex: x, action: labeldrop}
",
        );
        let counts = s.append_body("go_goroutines 5\nm{x=\"1\"} 1\n", Format::PrometheusText, 1).unwrap();
        assert_eq!((counts.scraped, counts.post_relabel), (2, 1));
        assert!(select(&storage, "go_goroutines").is_empty());
        assert_eq!(
            select(&storage, "m")[0].labels.to_string(),
            "m{env=\"prod\", instance=\"h:1\", job=\"j\", y=\"1\"}"
        );
    }

    #[test]
    fn the_scrape_cache_reuses_series_and_forgets_old_ones() {
        let (mut s, storage) = scraper(
            "scrape_configs:\n  - job_name: j\n    metric_relabel_configs:\n      - {source_labels: [__name__], regex: dropped, action: drop}\n",
        );
        let body = "a 1\nb{x=\"1\"} 2\ndropped 3\n";
        let counts = s.append_body(body, Format::PrometheusText, 1000).unwrap();
        assert_eq!((counts.scraped, counts.post_relabel, counts.series_added), (3, 2, 2));
        assert_eq!(s.cache.len(), 3, "dropped series are cached as dropped");
        let counts = s.append_body(body, Format::PrometheusText, 2000).unwrap();
        assert_eq!((counts.post_relabel, counts.series_added), (2, 0), "no new series");
        assert_eq!(select(&storage, "b")[0].samples.len(), 2);
        // A series that comes back after going stale continues.
        s.append_body("a 1\n", Format::PrometheusText, 3000).unwrap();
        s.append_body(body, Format::PrometheusText, 4000).unwrap();
        let b: Vec<f64> = select(&storage, "b")[0].samples.iter().map(|x| x.timestamp_ms as f64).collect();
        assert_eq!(b, [1000.0, 2000.0, 3000.0, 4000.0]);
        // As in Prometheus, a successful scrape forgets what it did not see.
        s.append_body("a 1\n", Format::PrometheusText, 5000).unwrap();
        assert_eq!(s.cache.len(), 1, "entries unseen in the last scrape are evicted");
    }

    #[test]
    fn series_added_counts_series_new_to_the_target_not_to_storage() {
        let yaml = "scrape_configs:\n  - job_name: j\n    metric_relabel_configs:\n      - {source_labels: [__name__], regex: dropped, action: drop}\n";
        let (mut s, storage) = scraper(yaml);
        let added =
            |s: &mut Scraper, body: &str, t: i64| s.append_body(body, Format::PrometheusText, t).unwrap().series_added;
        assert_eq!(added(&mut s, "a 1\nb 2\ndropped 3\n", 1000), 2, "dropped series are not added");
        assert_eq!(added(&mut s, "a 1\nb 2\ndropped 3\n", 2000), 0);
        assert_eq!(added(&mut s, "a 1\n", 3000), 0);
        // b left the cache with the scrape that lacked it: it is new again,
        // though storage has had it all along.
        assert_eq!(added(&mut s, "a 1\nb 2\n", 4000), 1);
        assert_eq!(added(&mut s, "a 1\nb{x=\"1\"} 2\n", 5000), 1);

        // A new loop for the same target (a restart) has an empty cache:
        // everything counts, as Prometheus's fresh scrape cache does.
        let runtime = Arc::clone(&s.job);
        let mut again = Scraper::new(s.target.clone(), runtime, Arc::clone(&storage) as Arc<dyn Storage>, None);
        assert_eq!(added(&mut again, "a 1\nb 2\n", 6000), 2);
    }

    #[test]
    fn exported_prefixes_repeat_until_the_name_is_free() {
        // Target labels: env="prod", instance="h:1", job="j".
        let cases: &[(&str, &str)] = &[
            ("m{job=\"a\"} 1", "m{env=\"prod\", exported_job=\"a\", instance=\"h:1\", job=\"j\"}"),
            (
                "m{job=\"a\",exported_job=\"b\"} 1",
                "m{env=\"prod\", exported_exported_job=\"a\", exported_job=\"b\", instance=\"h:1\", job=\"j\"}",
            ),
            (
                "m{job=\"a\",exported_job=\"b\",exported_exported_job=\"c\"} 1",
                "m{env=\"prod\", exported_exported_exported_job=\"a\", exported_exported_job=\"c\", exported_job=\"b\", instance=\"h:1\", job=\"j\"}",
            ),
            // Several clashes: the shortest name is resolved first, so
            // `env` takes `exported_env` before `instance` looks.
            (
                "m{env=\"dev\",instance=\"x\",exported_env=\"\"} 1",
                "m{env=\"prod\", exported_env=\"dev\", exported_instance=\"x\", instance=\"h:1\", job=\"j\"}",
            ),
            // An empty scraped value is no label, so no clash.
            ("m{job=\"\"} 1", "m{env=\"prod\", instance=\"h:1\", job=\"j\"}"),
        ];
        for (body, want) in cases {
            let (mut s, storage) = scraper(JOB);
            s.append_body(body, Format::PrometheusText, 1).unwrap();
            assert_eq!(select(&storage, "m")[0].labels.to_string(), *want, "{body}");
        }
    }

    #[test]
    fn series_with_their_own_timestamps_get_no_staleness_markers() {
        let values = |storage: &MemoryStorage, name: &str| -> Vec<(i64, bool)> {
            select(storage, name)[0].samples.iter().map(|x| (x.timestamp_ms, is_stale_marker(x.value))).collect()
        };
        let (mut s, storage) = scraper(JOB);
        s.append_body("a 1\nb 2 1000\n", Format::PrometheusText, 5000).unwrap();
        s.append_body("c 3\n", Format::PrometheusText, 6000).unwrap();
        assert_eq!(values(&storage, "a"), [(5000, false), (6000, true)]);
        assert_eq!(values(&storage, "b"), [(1000, false)], "b had a timestamp: no marker when it goes");
        s.append_body("c 3\nb 2 2000\n", Format::PrometheusText, 7000).unwrap();
        s.mark_all_stale(8000);
        assert_eq!(values(&storage, "b"), [(1000, false), (2000, false)], "nor when a scrape fails");
        assert_eq!(values(&storage, "c"), [(6000, false), (7000, false), (8000, true)]);

        // Without honor_timestamps the timestamp is ignored, and so is the exemption.
        let (mut s, storage) = scraper("scrape_configs:\n  - job_name: j\n    honor_timestamps: false\n");
        s.append_body("b 2 1000\n", Format::PrometheusText, 5000).unwrap();
        s.append_body("c 3\n", Format::PrometheusText, 6000).unwrap();
        assert_eq!(values(&storage, "b"), [(5000, false), (6000, true)]);
    }

    #[test]
    fn duplicate_series_are_dropped_and_counted_as_in_prometheus() {
        let (mut s, storage) = scraper(JOB);
        let counts = s.append_body("a 1\na 2\nb 3\n", Format::PrometheusText, 1000).unwrap();
        assert_eq!((counts.scraped, counts.duplicates), (3, 1));
        assert_eq!(select(&storage, "a")[0].samples, [Sample { timestamp_ms: 1000, value: 1.0 }]);
    }

    #[test]
    fn start_delay_is_within_interval_and_stable() {
        let (s, _) = scraper(JOB);
        let t = &s.target;
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let d = start_delay(t, now);
        assert!(d < t.interval);
        assert_eq!(d, start_delay(t, now));
        // The phase is fixed: a second later the delay is one second less.
        let later = start_delay(t, now + Duration::from_secs(1));
        assert_eq!((d.as_millis() + 60_000 - 1000) % 60_000, later.as_millis());
    }
}
