//! The notifier: sends the alerts of alerting rules to Alertmanagers, as
//! Prometheus's `notifier` package does.
//!
//! Rule evaluation must never wait on an Alertmanager, so [`Notifier::send`]
//! only queues: every Alertmanager has its own bounded queue (capacity
//! `--alertmanager.notification-queue-capacity`; when full the oldest
//! alerts are dropped in favour of newer ones) and its own task posting
//! batches of up to 64 alerts to `POST <path_prefix>/api/v2/alerts`. A slow
//! or dead Alertmanager therefore only fills its own queue. Failed batches
//! are dropped and counted, not retried: the rule manager resends firing
//! alerts every resend delay anyway, and the `endsAt` it sets leaves room
//! for two lost sends.
//!
//! Before queueing, alerts get the external labels they do not already
//! have, then `alerting.alert_relabel_configs`; each Alertmanager set then
//! applies its own `alert_relabel_configs`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{AlertmanagerConfig, Config};
use crate::scrape::relabel::{self, RelabelConfig};

/// An alert as Alertmanager receives it (`PostableAlert`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// For firing alerts, when Alertmanager may consider them resolved
    /// unless told again; for resolved ones, when they resolved.
    pub ends_at_ms: i64,
    pub generator_url: String,
}

impl Alert {
    /// The JSON object of the v2 API.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": format_time(self.starts_at_ms),
            "endsAt": format_time(self.ends_at_ms),
            "generatorURL": self.generator_url,
        })
    }
}

/// Milliseconds as RFC 3339 with milliseconds, as Go's `strfmt.DateTime`
/// writes them.
fn format_time(ms: i64) -> String {
    // Trailing zeros of the fraction are trimmed; Alertmanager reads either.
    crate::api::params::format_rfc3339(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// Where rule evaluation hands its alerts. The notifier is one; tests use
/// a recorder.
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    fn send(&self, alerts: Vec<Alert>);
}

/// The notifier's settings (Prometheus's flags and constants).
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// `--alertmanager.notification-queue-capacity`, per Alertmanager.
    pub queue_capacity: usize,
    /// Alerts per request (Prometheus's `maxBatchSize`).
    pub max_batch_size: usize,
    /// `--alertmanager.drain-notification-queue-on-shutdown`.
    pub drain_on_shutdown: bool,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions { queue_capacity: 10_000, max_batch_size: 64, drain_on_shutdown: true }
    }
}

/// Per-Alertmanager counts, exposed under Prometheus's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AmCounts {
    pub sent: u64,
    pub errors: u64,
    pub dropped: u64,
    pub queue_length: u64,
}

/// The notifier's metrics; alertmanagers that go away keep their counts.
#[derive(Debug, Default)]
pub struct NotifierMetrics {
    per_am: Mutex<BTreeMap<String, AmCounts>>,
    queue_capacity: Mutex<u64>,
    discovered: Mutex<u64>,
}

impl NotifierMetrics {
    fn update(&self, url: &str, f: impl FnOnce(&mut AmCounts)) {
        f(lock(&self.per_am).entry(url.to_owned()).or_default());
    }

    /// The counts of one Alertmanager URL.
    pub fn counts(&self, url: &str) -> AmCounts {
        lock(&self.per_am).get(url).copied().unwrap_or_default()
    }
}

/// Encodes [`NotifierMetrics`] for `/metrics`.
#[derive(Debug)]
pub struct NotifierCollector(pub Arc<NotifierMetrics>);

impl Collector for NotifierCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let per_am = lock(&self.0.per_am).clone();
        type Pick = fn(&AmCounts) -> u64;
        let counters: [(&str, &str, Pick); 3] = [
            ("prometheus_notifications_sent", "Total number of alerts sent.", |c| c.sent),
            ("prometheus_notifications_errors", "Total number of sent alerts affected by errors.", |c| c.errors),
            (
                "prometheus_notifications_dropped",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
                |c| c.dropped,
            ),
        ];
        for (name, help, pick) in counters {
            let counter = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            for (url, counts) in &per_am {
                let labels = [("alertmanager", url.as_str())];
                ConstCounter::new(pick(counts)).encode(family.encode_family(&labels)?)?;
            }
        }
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "prometheus_notifications_queue_length",
            "The number of alert notifications in the queue.",
            None,
            gauge.metric_type(),
        )?;
        for (url, counts) in &per_am {
            let labels = [("alertmanager", url.as_str())];
            ConstGauge::new(counts.queue_length as i64).encode(family.encode_family(&labels)?)?;
        }
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (name, help, value) in [
            (
                "prometheus_notifications_queue_capacity",
                "The capacity of the alert notifications queue.",
                *lock(&self.0.queue_capacity),
            ),
            (
                "prometheus_notifications_alertmanagers_discovered",
                "The number of alertmanagers discovered and active.",
                *lock(&self.0.discovered),
            ),
        ] {
            let gauge = ConstGauge::new(clamp(value));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One Alertmanager: its queue and the task that empties it.
#[derive(Debug)]
struct SendLoop {
    url: String,
    config: AlertmanagerConfig,
    client: reqwest::Client,
    queue: Mutex<VecDeque<Alert>>,
    wake: tokio::sync::Notify,
    stop: CancellationToken,
    options: NotifierOptions,
    metrics: Arc<NotifierMetrics>,
}

impl SendLoop {
    /// Queues alerts, dropping the oldest beyond the capacity.
    fn add(&self, alerts: &[Alert]) {
        if self.stop.is_cancelled() {
            return;
        }
        let capacity = self.options.queue_capacity;
        let mut dropped = alerts.len().saturating_sub(capacity);
        let alerts = &alerts[dropped..];
        let length = {
            let mut queue = lock(&self.queue);
            let over = (queue.len() + alerts.len()).saturating_sub(capacity);
            queue.drain(..over);
            dropped += over;
            queue.extend(alerts.iter().cloned());
            queue.len()
        };
        if dropped > 0 {
            warn!(alertmanager = %self.url, count = dropped, "alert notification queue full, dropping alerts");
        }
        self.metrics.update(&self.url, |c| {
            c.queue_length = length as u64;
            c.dropped += dropped as u64;
        });
        self.wake.notify_one();
    }

    fn next_batch(&self) -> Vec<Alert> {
        let mut queue = lock(&self.queue);
        let n = queue.len().min(self.options.max_batch_size.max(1));
        let batch: Vec<Alert> = queue.drain(..n).collect();
        let length = queue.len() as u64;
        drop(queue);
        self.metrics.update(&self.url, |c| c.queue_length = length);
        batch
    }

    async fn run(self: Arc<Self>) {
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = self.wake.notified() => {}
            }
            loop {
                if self.stop.is_cancelled() {
                    return;
                }
                let batch = self.next_batch();
                if batch.is_empty() {
                    break;
                }
                self.send_batch(batch).await;
            }
        }
    }

    /// Sends what is queued, batch by batch (at shutdown).
    async fn drain(&self) {
        loop {
            let batch = self.next_batch();
            if batch.is_empty() {
                return;
            }
            self.send_batch(batch).await;
        }
    }

    async fn send_batch(&self, batch: Vec<Alert>) {
        let count = batch.len() as u64;
        let started = Instant::now();
        match self.post(&batch).await {
            Ok(()) => {
                debug!(alertmanager = %self.url, count, elapsed_ms = started.elapsed().as_millis() as u64, "sent alerts");
                self.metrics.update(&self.url, |c| c.sent += count);
            }
            Err(e) => {
                warn!(alertmanager = %self.url, count, error = %e, "error sending alerts");
                self.metrics.update(&self.url, |c| {
                    c.errors += count;
                    c.dropped += count;
                });
            }
        }
    }

    async fn post(&self, batch: &[Alert]) -> Result<(), String> {
        let body = serde_json::Value::Array(batch.iter().map(Alert::to_json).collect());
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.config.timeout.0)
            .body(body.to_string());
        if let Some(auth) = &self.config.basic_auth {
            let username = crate::scrape::read_secret(&auth.username, auth.username_file.as_deref())?;
            let password = crate::scrape::read_secret(&auth.password, auth.password_file.as_deref())?;
            request = request.basic_auth(username, Some(password));
        }
        if let Some(auth) = &self.config.authorization {
            let credentials = crate::scrape::read_secret(&auth.credentials, auth.credentials_file.as_deref())?;
            request = request.header(reqwest::header::AUTHORIZATION, format!("{} {credentials}", auth.kind));
        }
        let response = request.send().await.map_err(|e| crate::scrape::scraper::error_chain(&e))?;
        let status = response.status();
        // Read the body so the connection can be reused.
        let _ = response.bytes().await;
        if !status.is_success() {
            return Err(format!("bad response status {status}"));
        }
        Ok(())
    }
}

/// One `alertmanagers` entry with its Alertmanagers.
#[derive(Debug)]
struct AmSet {
    config: AlertmanagerConfig,
    loops: Vec<Arc<SendLoop>>,
}

#[derive(Debug, Default)]
struct State {
    external_labels: BTreeMap<String, String>,
    relabel: Vec<RelabelConfig>,
    sets: Vec<AmSet>,
}

/// Queues alerts for every configured Alertmanager.
#[derive(Debug)]
pub struct Notifier {
    options: NotifierOptions,
    state: Mutex<State>,
    metrics: Arc<NotifierMetrics>,
    stopped: CancellationToken,
    /// The built-in Alertmanager, fed the same relabeled alerts.
    local: Mutex<Option<Arc<dyn AlertSink>>>,
}

/// The Alertmanager URLs of a set: static targets (and file_sd files, read
/// when the configuration is applied) through `relabel_configs`, as
/// Prometheus's `AlertmanagerFromGroup`.
pub fn alertmanager_urls(config: &AlertmanagerConfig) -> Result<Vec<String>, String> {
    let mut groups: Vec<(Vec<String>, BTreeMap<String, String>)> =
        config.static_configs.iter().map(|s| (s.targets.clone(), s.labels.clone())).collect();
    for file_sd in &config.file_sd_configs {
        for pattern in &file_sd.files {
            let paths = glob::glob(pattern).map_err(|e| format!("invalid file_sd pattern {pattern:?}: {e}"))?;
            for path in paths.flatten() {
                for group in crate::scrape::discovery::read_file(&path)? {
                    groups.push((group.targets, group.labels));
                }
            }
        }
    }
    let alerts_path = format!("/{}/api/v2/alerts", config.path_prefix.trim_matches('/'));
    let alerts_path = alerts_path.replace("//", "/");
    let mut urls = Vec::new();
    for (targets, labels) in groups {
        for address in targets {
            let mut set = labels.clone();
            set.insert("__address__".to_owned(), address);
            set.insert("__scheme__".to_owned(), config.scheme.clone());
            set.insert("__alerts_path__".to_owned(), alerts_path.clone());
            let Some(set) = relabel::process(set, &config.relabel_configs) else { continue };
            let Some(address) = set.get("__address__") else { continue };
            if address.contains('/') {
                return Err(format!("invalid Alertmanager address {address:?}: must be host:port"));
            }
            let scheme = set.get("__scheme__").map_or("http", String::as_str);
            let path = set.get("__alerts_path__").map_or("/api/v2/alerts", String::as_str);
            let url = format!("{scheme}://{address}{path}");
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    Ok(urls)
}

impl Notifier {
    pub fn new(options: NotifierOptions) -> Arc<Notifier> {
        let metrics = Arc::new(NotifierMetrics::default());
        *lock(&metrics.queue_capacity) = options.queue_capacity as u64;
        Arc::new(Notifier {
            options,
            state: Mutex::new(State::default()),
            metrics,
            stopped: CancellationToken::new(),
            local: Mutex::new(None),
        })
    }

    /// Also hands every alert (after external labels and
    /// `alert_relabel_configs`) to `sink`: the built-in Alertmanager.
    pub fn set_local(&self, sink: Arc<dyn AlertSink>) {
        *lock(&self.local) = Some(sink);
    }

    pub fn metrics(&self) -> Arc<NotifierMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The Alertmanagers alerts go to now.
    pub fn alertmanagers(&self) -> Vec<String> {
        lock(&self.state).sets.iter().flat_map(|s| s.loops.iter().map(|l| l.url.clone())).collect()
    }

    /// Applies a configuration's `alerting` section and external labels.
    /// Alertmanagers whose URL and settings are unchanged keep their queue;
    /// the others are stopped (what they had queued is dropped). Must run
    /// inside the Tokio runtime. On error nothing changes.
    pub fn apply_config(&self, config: &Config) -> Result<(), String> {
        let mut planned = Vec::new();
        for am in &config.alerting.alertmanagers {
            planned.push((am.clone(), alertmanager_urls(am)?));
        }
        let mut state = lock(&self.state);
        let mut old: Vec<Arc<SendLoop>> = state.sets.drain(..).flat_map(|s| s.loops).collect();
        let mut sets = Vec::new();
        for (am, urls) in planned {
            let mut loops = Vec::new();
            for url in urls {
                if let Some(i) = old.iter().position(|l| l.url == url && l.config == am) {
                    loops.push(old.swap_remove(i));
                    continue;
                }
                let client = crate::scrape::build_http_client(am.follow_redirects, true, am.tls_config.as_ref(), None)
                    .map_err(|e| format!("alertmanager {url}: {e}"))?;
                let send_loop = Arc::new(SendLoop {
                    url: url.clone(),
                    config: am.clone(),
                    client,
                    queue: Mutex::new(VecDeque::new()),
                    wake: tokio::sync::Notify::new(),
                    stop: self.stopped.child_token(),
                    options: self.options.clone(),
                    metrics: Arc::clone(&self.metrics),
                });
                self.metrics.update(&url, |_| {});
                tokio::spawn(Arc::clone(&send_loop).run());
                info!(alertmanager = %url, "sending alerts to Alertmanager");
                loops.push(send_loop);
            }
            sets.push(AmSet { config: am, loops });
        }
        for gone in old {
            gone.stop.cancel();
        }
        *lock(&self.metrics.discovered) = sets.iter().map(|s| s.loops.len() as u64).sum();
        state.sets = sets;
        state.external_labels = config.global.external_labels.clone();
        state.relabel = config.alerting.alert_relabel_configs.clone();
        Ok(())
    }

    /// Stops every send loop; with `drain_on_shutdown`, what is queued is
    /// sent first (each request still bound by its timeout).
    pub async fn stop(&self) {
        let loops: Vec<Arc<SendLoop>> = lock(&self.state).sets.iter().flat_map(|s| s.loops.clone()).collect();
        self.stopped.cancel();
        for send_loop in loops {
            if self.options.drain_on_shutdown {
                send_loop.drain().await;
            } else {
                let left = lock(&send_loop.queue).len() as u64;
                send_loop.metrics.update(&send_loop.url, |c| c.dropped += left);
            }
        }
    }
}

/// External labels the alert lacks, then relabeling; None when dropped.
fn relabel_alert(
    alert: &Alert,
    external_labels: &BTreeMap<String, String>,
    configs: &[RelabelConfig],
) -> Option<Alert> {
    let mut labels = alert.labels.clone();
    for (k, v) in external_labels {
        if labels.get(k).is_none_or(String::is_empty) {
            labels.insert(k.clone(), v.clone());
        }
    }
    let labels = relabel::process(labels, configs)?;
    Some(Alert { labels, ..alert.clone() })
}

impl AlertSink for Notifier {
    fn send(&self, alerts: Vec<Alert>) {
        if self.stopped.is_cancelled() {
            return;
        }
        let state = lock(&self.state);
        let alerts: Vec<Alert> =
            alerts.iter().filter_map(|a| relabel_alert(a, &state.external_labels, &state.relabel)).collect();
        if alerts.is_empty() {
            return;
        }
        if let Some(local) = lock(&self.local).as_ref() {
            local.send(alerts.clone());
        }
        for set in &state.sets {
            if set.config.alert_relabel_configs.is_empty() {
                set.loops.iter().for_each(|l| l.add(&alerts));
                continue;
            }
            let relabeled: Vec<Alert> = alerts
                .iter()
                .filter_map(|a| relabel_alert(a, &BTreeMap::new(), &set.config.alert_relabel_configs))
                .collect();
            set.loops.iter().for_each(|l| l.add(&relabeled));
        }
    }
}

#[cfg(test)]
mod tests;
