//! The built-in Alertmanager, enabled by `--alertmanager.config.file`: what
//! Alertmanager does with the alerts Prometheus sends it, in Vigil's process.
//!
//! Stages, in data order (each its own module):
//! `config` (the `alertmanager.yml` format) → alerts are received (from the
//! rule manager through the notifier, or `POST /api/v2/alerts`) and merged
//! by fingerprint → `dispatch` (route tree, aggregation groups, flush
//! timing) → mute (`inhibit`, `silences`) → `nflog` (dedup against what was already
//! sent, persisted) → `notify` (receivers: webhook payload v4, Slack,
//! PagerDuty, email; notification templates; retries).
//!
//! Timing decisions live in the pure `Dispatcher` and `needs_update`, driven
//! by explicit times; this runtime only reads its [`Clock`] and sleeps.

pub mod config;
pub mod dispatch;
pub mod inhibit;
pub mod matchers;
pub mod nflog;
pub mod notify;
pub mod silences;
pub mod timeinterval;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::config::AmConfig;
use self::dispatch::{AmAlert, Dispatcher, Flush};
use self::nflog::NotificationLog;
use self::notify::NotifyMetrics;
use self::silences::{Silence, SilenceError, Silences};
use crate::notifier::{self, AlertSink};

/// Where the runtime reads the time; tests can substitute their own.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::rules::manager::now_ms()
    }
}

/// How long a resolved alert stays known (for merging and inhibition).
const RESOLVED_RETENTION_MS: i64 = 30 * 60 * 1000;
/// `--data.retention` of Alertmanager: how long the notification log keeps entries.
const NFLOG_RETENTION_MS: i64 = 120 * 3600 * 1000;

struct Core {
    config: Arc<AmConfig>,
    /// The file as last loaded, for `/api/v2/status`.
    config_text: String,
    dispatcher: Dispatcher,
    /// Every known alert by fingerprint.
    alerts: BTreeMap<u64, AmAlert>,
    nflog: NotificationLog,
    silences: Silences,
}

/// What the API shows of an alert's muting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertStatus {
    pub silenced_by: Vec<String>,
    pub inhibited: bool,
    /// Receivers of the routes it matches.
    pub receivers: Vec<String>,
}

/// The running built-in Alertmanager.
pub struct Alertmanager {
    config_file: PathBuf,
    core: Mutex<Core>,
    clock: Arc<dyn Clock>,
    wake: tokio::sync::Notify,
    client: reqwest::Client,
    external_url: String,
    metrics: Arc<NotifyMetrics>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Alertmanager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alertmanager").field("config_file", &self.config_file).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Alertmanager {
    /// Loads the configuration and the notification log from `data_dir`
    /// (None keeps it in memory only). Call [`Alertmanager::run`] to start.
    pub fn new(
        config_file: &Path,
        data_dir: Option<&Path>,
        external_url: String,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<Alertmanager>> {
        let config = Arc::new(AmConfig::load(config_file)?);
        let config_text = std::fs::read_to_string(config_file).unwrap_or_default();
        let nflog = NotificationLog::open(data_dir.map(|d| d.join("nflog.json")).as_deref(), NFLOG_RETENTION_MS)
            .map_err(anyhow::Error::msg)?;
        let silences =
            Silences::open(data_dir.map(|d| d.join("silences.json")).as_deref()).map_err(anyhow::Error::msg)?;
        let client = crate::scrape::build_http_client(true, true, None, None).map_err(anyhow::Error::msg)?;
        info!(file = %config_file.display(), receivers = config.receivers.len(), "loaded Alertmanager configuration");
        Ok(Arc::new(Alertmanager {
            config_file: config_file.to_owned(),
            core: Mutex::new(Core {
                dispatcher: Dispatcher::new(config.route.clone()),
                config,
                config_text,
                alerts: BTreeMap::new(),
                nflog,
                silences,
            }),
            clock,
            wake: tokio::sync::Notify::new(),
            client,
            external_url,
            metrics: Arc::new(NotifyMetrics::default()),
            stop: CancellationToken::new(),
        }))
    }

    pub fn metrics(&self) -> Arc<NotifyMetrics> {
        Arc::clone(&self.metrics)
    }

    pub fn config_text(&self) -> String {
        lock(&self.core).config_text.clone()
    }

    pub fn config(&self) -> Arc<AmConfig> {
        Arc::clone(&lock(&self.core).config)
    }

    /// Reads the configuration file again; on error the running one stays.
    /// Alerts are routed anew through the new tree, as Alertmanager does.
    pub fn reload(&self) -> anyhow::Result<()> {
        let config = Arc::new(AmConfig::load(&self.config_file)?);
        let config_text = std::fs::read_to_string(&self.config_file).unwrap_or_default();
        let now = self.clock.now_ms();
        let mut core = lock(&self.core);
        let mut dispatcher = Dispatcher::new(config.route.clone());
        for alert in core.alerts.values() {
            dispatcher.insert(alert, now);
        }
        core.dispatcher = dispatcher;
        core.config = config;
        core.config_text = config_text;
        drop(core);
        self.wake.notify_one();
        info!(file = %self.config_file.display(), "reloaded Alertmanager configuration");
        Ok(())
    }

    /// Receives alerts as `POST /api/v2/alerts` does: a missing start is
    /// now, a missing end is now + `resolve_timeout`; alerts overlapping a
    /// known one with the same labels are merged into it.
    pub fn put(&self, alerts: Vec<notifier::Alert>) {
        let now = self.clock.now_ms();
        let mut core = lock(&self.core);
        let resolve_timeout = i64::try_from(core.config.resolve_timeout.as_millis()).unwrap_or(i64::MAX);
        for a in alerts {
            let starts = if a.starts_at_ms > 0 { a.starts_at_ms } else { now };
            let (ends, timeout) = if a.ends_at_ms > 0 { (a.ends_at_ms, false) } else { (now + resolve_timeout, true) };
            let mut alert = AmAlert {
                labels: a.labels,
                annotations: a.annotations,
                starts_at_ms: starts,
                ends_at_ms: ends,
                generator_url: a.generator_url,
                updated_at_ms: now,
                timeout,
            };
            let fp = alert.fingerprint();
            if let Some(old) = core.alerts.get(&fp) {
                let overlaps = (alert.ends_at_ms > old.starts_at_ms && alert.ends_at_ms < old.ends_at_ms)
                    || (alert.starts_at_ms > old.starts_at_ms && alert.starts_at_ms < old.ends_at_ms);
                if overlaps {
                    alert = old.merge(&alert, now);
                }
            }
            core.dispatcher.insert(&alert, now);
            core.alerts.insert(fp, alert);
        }
        drop(core);
        self.wake.notify_one();
    }

    /// Known alerts (firing and recently resolved), sorted.
    pub fn alerts(&self) -> Vec<AmAlert> {
        let mut out: Vec<AmAlert> = lock(&self.core).alerts.values().cloned().collect();
        out.sort_by(dispatch::compare_alerts);
        out
    }

    /// How an alert is muted now, and where it is routed.
    pub fn status_of(&self, labels: &BTreeMap<String, String>) -> AlertStatus {
        let now = self.clock.now_ms();
        let core = lock(&self.core);
        let alerts: Vec<AmAlert> = core.alerts.values().cloned().collect();
        let mut receivers: Vec<String> =
            core.config.route.match_routes(labels).iter().map(|r| r.receiver.clone()).collect();
        receivers.dedup();
        AlertStatus {
            silenced_by: core.silences.silenced_by(labels, now),
            inhibited: inhibit::is_inhibited(&core.config.inhibit_rules, &alerts, labels, now),
            receivers,
        }
    }

    /// Creates or updates a silence; returns its id.
    pub fn set_silence(&self, silence: Silence) -> Result<String, SilenceError> {
        let now = self.clock.now_ms();
        lock(&self.core).silences.set(silence, now)
    }

    pub fn expire_silence(&self, id: &str) -> Result<(), SilenceError> {
        let now = self.clock.now_ms();
        lock(&self.core).silences.expire(id, now)
    }

    pub fn silence(&self, id: &str) -> Option<Silence> {
        lock(&self.core).silences.get(id).cloned()
    }

    pub fn silences(&self) -> Vec<Silence> {
        lock(&self.core).silences.all()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The aggregation groups: key, receiver, labels, alerts.
    pub fn groups(&self) -> Vec<dispatch::GroupView> {
        lock(&self.core).dispatcher.groups()
    }

    /// Flushes due groups until stopped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = self.clock.now_ms();
            let (flushes, next) = {
                let mut core = lock(&self.core);
                core.alerts.retain(|_, a| !(a.resolved_at(now) && a.ends_at_ms < now - RESOLVED_RETENTION_MS));
                core.silences.gc(now);
                let flushes = core.dispatcher.due(now);
                (flushes, core.dispatcher.next_flush_ms())
            };
            for flush in flushes {
                tokio::spawn(Arc::clone(&self).notify(flush));
            }
            // Wake at the next flush, on new alerts, and at least every
            // second (so a clock that jumps is noticed).
            let wait = next.map_or(1000, |n| (n - now).clamp(0, 1000));
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// The notification pipeline for one flush: mute, then per integration
    /// dedup against the log, deliver, and log.
    async fn notify(self: Arc<Self>, flush: Flush) {
        let now = flush.now_ms;
        let (config, alerts) = {
            let core = lock(&self.core);
            let known: Vec<AmAlert> = core.alerts.values().cloned().collect();
            let alerts: Vec<AmAlert> = flush
                .alerts
                .iter()
                .filter(|a| {
                    core.silences.silenced_by(&a.labels, now).is_empty()
                        && !inhibit::is_inhibited(&core.config.inhibit_rules, &known, &a.labels, now)
                })
                .cloned()
                .collect();
            (Arc::clone(&core.config), alerts)
        };
        // Everything muted: the pipeline stops here, as Alertmanager's does.
        if alerts.is_empty() {
            return;
        }
        let in_interval = |name: &String| {
            config.time_intervals.get(name).is_some_and(|periods| timeinterval::any_contains(periods, now))
        };
        if flush.mute_time_intervals.iter().any(in_interval)
            || (!flush.active_time_intervals.is_empty() && !flush.active_time_intervals.iter().any(in_interval))
        {
            debug!(group = %flush.group_key, "notifications muted by a time interval");
            return;
        }
        let Some(receiver) = config.receiver(&flush.receiver) else { return };
        let firing: BTreeSet<u64> = alerts.iter().filter(|a| !a.resolved_at(now)).map(AmAlert::fingerprint).collect();
        let resolved: BTreeSet<u64> = alerts.iter().filter(|a| a.resolved_at(now)).map(AmAlert::fingerprint).collect();
        let deadline = Instant::now() + Duration::from_millis(flush.timeout_ms.max(1000) as u64);
        // Integrations are notified concurrently (Alertmanager's fan-out), so
        // one that is down or slow delays only itself.
        let shared = Arc::new(Delivery { flush: flush.clone(), alerts, firing, resolved, deadline });
        let mut tasks = tokio::task::JoinSet::new();
        let integrations = receiver
            .webhooks
            .iter()
            .cloned()
            .map(Integration::Webhook)
            .enumerate()
            .chain(receiver.slacks.iter().cloned().map(Integration::Slack).enumerate())
            .chain(receiver.pagerduties.iter().cloned().map(Integration::Pagerduty).enumerate())
            .chain(receiver.emails.iter().cloned().map(Integration::Email).enumerate());
        for (i, integration) in integrations {
            let receiver_key = format!("{}/{}/{i}", receiver.name, integration.kind());
            tasks.spawn(Arc::clone(&self).notify_integration(
                Arc::clone(&shared),
                receiver.name.clone(),
                receiver_key,
                integration,
            ));
        }
        let mut all_ok = true;
        while let Some(result) = tasks.join_next().await {
            all_ok &= result.unwrap_or(false);
        }
        if all_ok {
            lock(&self.core).dispatcher.flushed(&flush);
        }
    }
}

/// One integration of a receiver.
#[derive(Debug, Clone)]
enum Integration {
    Webhook(config::WebhookConfig),
    Slack(config::SlackConfig),
    Pagerduty(config::PagerdutyConfig),
    Email(config::EmailConfig),
}

impl Integration {
    fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Slack(_) => "slack",
            Integration::Pagerduty(_) => "pagerduty",
            Integration::Email(_) => "email",
        }
    }

    fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(w) => w.send_resolved,
            Integration::Slack(s) => s.send_resolved,
            Integration::Pagerduty(p) => p.send_resolved,
            Integration::Email(e) => e.send_resolved,
        }
    }

    /// The URL to post to, read from its file when configured so.
    fn url(&self) -> Result<String, String> {
        let (url, file) = match self {
            Integration::Webhook(w) => (&w.url, &w.url_file),
            Integration::Slack(s) => (&s.api_url, &s.api_url_file),
            Integration::Pagerduty(p) => (&p.url, &None),
            Integration::Email(_) => (&None, &None),
        };
        match (url, file) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|t| t.trim().to_owned())
                .map_err(|e| format!("cannot read {}: {e}", file.display())),
            (None, None) => Err("no URL configured".to_owned()),
        }
    }
}

/// One flush on its way to a receiver's integrations.
struct Delivery {
    flush: Flush,
    /// The flush's alerts that are not muted.
    alerts: Vec<AmAlert>,
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    deadline: Instant,
}

impl Alertmanager {
    /// Dedup, deliver and log for one integration; false when the delivery
    /// failed.
    async fn notify_integration(
        self: Arc<Self>,
        d: Arc<Delivery>,
        receiver: String,
        receiver_key: String,
        integration: Integration,
    ) -> bool {
        let (flush, now) = (&d.flush, d.flush.now_ms);
        let needed = {
            let core = lock(&self.core);
            let entry = core.nflog.query(&flush.group_key, &receiver_key);
            let send_resolved = integration.send_resolved();
            nflog::needs_update(entry, &d.firing, &d.resolved, send_resolved, flush.repeat_interval_ms, now)
        };
        if !needed {
            debug!(group = %flush.group_key, receiver = %receiver_key, "notification deduplicated");
            return true;
        }
        let to_send: Vec<AmAlert> = if integration.send_resolved() {
            d.alerts.clone()
        } else {
            d.alerts.iter().filter(|a| !a.resolved_at(now)).cloned().collect()
        };
        // With only resolved alerts and send_resolved off, nothing is sent
        // but the log still records that the group is resolved.
        if !to_send.is_empty() {
            let sent = match &integration {
                Integration::Email(email) => self.send_email(email, &receiver, flush, &to_send, d.deadline).await,
                _ => self.post(&integration, &receiver, flush, &to_send, d.deadline).await,
            };
            if let Err(e) = sent {
                warn!(receiver = %receiver_key, group = %flush.group_key, error = %e, "notify failed");
                return false;
            }
        }
        let mut core = lock(&self.core);
        if let Err(e) = core.nflog.log(&flush.group_key, &receiver_key, d.firing.clone(), d.resolved.clone(), now) {
            warn!(error = %e, "cannot save the notification log");
        }
        true
    }
}

impl Alertmanager {
    /// The template data and library for one notification.
    fn renderer<'a>(
        &self,
        config: &'a AmConfig,
        receiver: &str,
        flush: &Flush,
        to_send: &[AmAlert],
    ) -> notify::Renderer<'a> {
        notify::Renderer {
            data: notify::template_data(receiver, &flush.group_labels, to_send, &self.external_url, flush.now_ms),
            library: &config.templates,
            now_ms: flush.now_ms,
        }
    }

    /// Webhook, Slack and PagerDuty: a JSON body posted with retries.
    async fn post(
        &self,
        integration: &Integration,
        receiver: &str,
        flush: &Flush,
        to_send: &[AmAlert],
        deadline: Instant,
    ) -> Result<(), String> {
        let now = flush.now_ms;
        let kind = integration.kind();
        let url = integration.url().inspect_err(|_| notify::count_failed(kind, &self.metrics))?;
        let (body, timeout) = match integration {
            Integration::Webhook(webhook) => (
                notify::webhook_message(
                    receiver,
                    &flush.group_key,
                    &flush.group_labels,
                    to_send,
                    &self.external_url,
                    webhook.max_alerts,
                    now,
                ),
                webhook.timeout.map_or(Duration::from_secs(10), |t| t.0),
            ),
            Integration::Slack(slack) => {
                let mut t =
                    notify::SlackText::defaults(receiver, &flush.group_labels, to_send, &self.external_url, now);
                let am = self.config();
                let r = self.renderer(&am, receiver, flush, to_send);
                let text = |what: &str, configured: &Option<String>, default: &mut String| -> Result<(), String> {
                    *default = r.or(what, configured.as_deref(), std::mem::take(default))?;
                    Ok(())
                };
                let expanded = (|| {
                    text("title", &slack.title, &mut t.title)?;
                    text("title_link", &slack.title_link, &mut t.title_link)?;
                    text("pretext", &slack.pretext, &mut t.pretext)?;
                    text("text", &slack.text, &mut t.text)?;
                    text("fallback", &slack.fallback, &mut t.fallback)?;
                    text("color", &slack.color, &mut t.color)?;
                    text("username", &slack.username, &mut t.username)?;
                    text("channel", &slack.channel, &mut t.channel)?;
                    text("icon_emoji", &slack.icon_emoji, &mut t.icon_emoji)?;
                    text("icon_url", &slack.icon_url, &mut t.icon_url)?;
                    text("footer", &slack.footer, &mut t.footer)?;
                    text("callback_id", &slack.callback_id, &mut t.callback_id)?;
                    for field in &slack.fields {
                        t.fields.push((
                            r.text("fields.title", &field.title)?,
                            r.text("fields.value", &field.value)?,
                            field.short.unwrap_or(slack.short_fields),
                        ));
                    }
                    Ok::<(), String>(())
                })();
                expanded.inspect_err(|_| notify::count_failed(kind, &self.metrics))?;
                if let Some(mrkdwn_in) = &slack.mrkdwn_in {
                    t.mrkdwn_in.clone_from(mrkdwn_in);
                }
                t.link_names = slack.link_names;
                (notify::slack_message(&t), Duration::from_secs(10))
            }
            Integration::Pagerduty(pd) => {
                let mut t =
                    notify::PagerdutyText::defaults(receiver, &flush.group_labels, to_send, &self.external_url, now);
                t.routing_key = crate::scrape::read_secret(
                    pd.routing_key.as_deref().unwrap_or_default(),
                    if pd.routing_key.is_some() { None } else { pd.routing_key_file.as_deref() },
                )
                .map_err(|e| format!("failed to read routing key from file: {e}"))
                .inspect_err(|_| notify::count_failed(kind, &self.metrics))?;
                let am = self.config();
                let r = self.renderer(&am, receiver, flush, to_send);
                let expanded = (|| {
                    for (what, configured, value) in [
                        ("description", &pd.description, &mut t.description),
                        ("client", &pd.client, &mut t.client),
                        ("client_url", &pd.client_url, &mut t.client_url),
                        ("severity", &pd.severity, &mut t.severity),
                        ("class", &pd.class, &mut t.class),
                        ("component", &pd.component, &mut t.component),
                        ("group", &pd.group, &mut t.group),
                    ] {
                        *value = r.or(what, configured.as_deref(), std::mem::take(value))?;
                    }
                    for (name, source) in &pd.details {
                        t.details.insert(name.clone(), r.text("details", source)?);
                    }
                    Ok::<(), String>(())
                })();
                expanded.inspect_err(|_| notify::count_failed(kind, &self.metrics))?;
                let firing = to_send.iter().any(|a| !a.resolved_at(now));
                (notify::pagerduty_message(&flush.group_key, firing, &t), Duration::from_secs(10))
            }
            Integration::Email(_) => return Err("email is not posted".to_owned()),
        };
        notify::deliver(kind, &self.client, &url, &body, timeout, deadline, &self.metrics).await
    }

    /// Email: the message is built once, then sent with retries.
    async fn send_email(
        &self,
        config: &config::EmailConfig,
        receiver: &str,
        flush: &Flush,
        to_send: &[AmAlert],
        deadline: Instant,
    ) -> Result<(), String> {
        use notify::email;
        let now = flush.now_ms;
        let am = self.config();
        let r = self.renderer(&am, receiver, flush, to_send);
        let defaults =
            |render: email::DefaultBody| render(receiver, &flush.group_labels, to_send, &self.external_url, now);
        // Alertmanager's order: addresses, then headers, text and HTML.
        let rendered = (|| {
            let from = r.text("from", config.from.as_deref().unwrap_or_default())?;
            let to = r.text("to", &config.to)?;
            let subject = notify::subject(&flush.group_labels, to_send, now);
            let mut headers = BTreeMap::new();
            for (name, source) in &config.headers {
                headers.insert(name.clone(), r.text(name, source)?);
            }
            headers.entry("Subject".to_owned()).or_insert(subject);
            headers.entry("To".to_owned()).or_insert_with(|| to.clone());
            headers.entry("From".to_owned()).or_insert_with(|| from.clone());
            let text = match &config.text {
                Some(source) => r.text("text", source)?,
                None => defaults(email::default_text),
            };
            let html = match &config.html {
                Some(source) => r.html("html", source)?,
                None => defaults(email::default_html),
            };
            Ok::<_, String>(email::Rendered { from, to, headers, text: Some(text), html: Some(html) })
        })()
        .inspect_err(|_| notify::count_failed("email", &self.metrics))?;
        let hostname = crate::api::hostname();
        let hostname = if hostname.is_empty() { "localhost.localdomain".to_owned() } else { hostname };
        let message = email::build(&rendered, &hostname, std::time::SystemTime::now())
            .inspect_err(|_| notify::count_failed("email", &self.metrics))?;
        notify::with_retries("email", deadline, &self.metrics, || {
            email::send(config, &message, Duration::from_secs(30))
        })
        .await
    }
}

/// The built-in Alertmanager's metrics under Alertmanager's names: the
/// notification counts, and alerts and silences by state.
#[derive(Debug)]
pub struct AlertmanagerCollector(pub Arc<Alertmanager>);

impl prometheus_client::collector::Collector for AlertmanagerCollector {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::gauge::ConstGauge;
        notify::encode_counts(&self.0.metrics(), &mut encoder)?;
        let now = self.0.now_ms();
        let (mut active, mut suppressed) = (0i64, 0i64);
        for alert in self.0.alerts().iter().filter(|a| !a.resolved_at(now)) {
            let status = self.0.status_of(&alert.labels);
            if status.silenced_by.is_empty() && !status.inhibited {
                active += 1;
            } else {
                suppressed += 1;
            }
        }
        let mut family = encoder.encode_descriptor(
            "alertmanager_alerts",
            "How many alerts by state.",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (state, n) in [("active", active), ("suppressed", suppressed)] {
            ConstGauge::new(n).encode(family.encode_family(&[("state", state)])?)?;
        }
        let mut counts = BTreeMap::from([("active", 0i64), ("expired", 0), ("pending", 0)]);
        for silence in self.0.silences() {
            *counts.entry(silence.state(now).as_str()).or_default() += 1;
        }
        let mut family = encoder.encode_descriptor(
            "alertmanager_silences",
            "How many silences by state.",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (state, n) in counts {
            ConstGauge::new(n).encode(family.encode_family(&[("state", state)])?)?;
        }
        Ok(())
    }
}

impl AlertSink for Alertmanager {
    fn send(&self, alerts: Vec<notifier::Alert>) {
        self.put(alerts);
    }
}

#[cfg(test)]
mod tests;
