//! Receivers: the message a webhook gets (Alertmanager's payload version 4,
//! field for field), Slack's and PagerDuty's bodies, email (`email`), and
//! delivery with retries.
//!
//! A failed delivery is retried with exponential backoff (0.5 s growing by
//! 1.5×, at most 60 s, as Alertmanager's `RetryStage`) until the group's
//! next flush is due; 4xx answers are not retried. Each delivery runs on
//! its own task, so a slow receiver delays nothing but itself.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use serde_json::{Value, json};

use super::dispatch::AmAlert;
use crate::rules::template::{self, Dialect, NotifyAlert, NotifyData, Template};

pub mod email;

/// Time as Go's `time.Time` marshals to JSON (RFC 3339, nanoseconds with
/// trailing zeros trimmed; the zero time for "unset").
pub fn go_time(ms: i64) -> String {
    if ms == 0 {
        return "0001-01-01T00:00:00Z".to_owned();
    }
    crate::api::params::format_rfc3339(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// The alerts still firing at `now_ms`, and those resolved.
fn firing_and_resolved(alerts: &[AmAlert], now_ms: i64) -> (Vec<&AmAlert>, Vec<&AmAlert>) {
    alerts.iter().partition(|a| !a.resolved_at(now_ms))
}

/// Labels (or annotations) every alert has with the same value.
fn common(alerts: &[AmAlert], pick: fn(&AmAlert) -> &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let Some(first) = alerts.first() else { return BTreeMap::new() };
    pick(first)
        .iter()
        .filter(|(k, v)| alerts.iter().all(|a| pick(a).get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The webhook body for a group notification (`template.Data` plus
/// `version`, `groupKey` and `truncatedAlerts`). `max_alerts` > 0 keeps
/// only that many alerts and counts the rest.
pub fn webhook_message(
    receiver: &str,
    group_key: &str,
    group_labels: &BTreeMap<String, String>,
    alerts: &[AmAlert],
    external_url: &str,
    max_alerts: u64,
    now_ms: i64,
) -> Value {
    let firing = alerts.iter().any(|a| !a.resolved_at(now_ms));
    let kept = if max_alerts > 0 { alerts.len().min(max_alerts as usize) } else { alerts.len() };
    let list: Vec<Value> = alerts[..kept]
        .iter()
        .map(|a| {
            json!({
                "status": if a.resolved_at(now_ms) { "resolved" } else { "firing" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": go_time(a.starts_at_ms),
                "endsAt": go_time(a.ends_at_ms),
                "generatorURL": a.generator_url,
                "fingerprint": format!("{:016x}", a.fingerprint()),
            })
        })
        .collect();
    json!({
        "receiver": receiver,
        "status": if firing { "firing" } else { "resolved" },
        "alerts": list,
        "groupLabels": group_labels,
        "commonLabels": common(alerts, |a| &a.labels),
        "commonAnnotations": common(alerts, |a| &a.annotations),
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": alerts.len() - kept,
    })
}

/// Alertmanager's default `__subject`:
/// `[FIRING:2] <group label values> (<other common label values>)`.
pub fn subject(group_labels: &BTreeMap<String, String>, alerts: &[AmAlert], now_ms: i64) -> String {
    template::notification_subject(&template_data("", group_labels, alerts, "", now_ms))
}

/// The link to the alerts of a receiver in the web UI (`__alertmanagerURL`).
pub fn alerts_url(external_url: &str, receiver: &str) -> String {
    format!("{external_url}/#/alerts?receiver={}", crate::rules::manager::query_escape(receiver))
}

/// Alertmanager's `template.Data` for one notification.
pub fn template_data(
    receiver: &str,
    group_labels: &BTreeMap<String, String>,
    alerts: &[AmAlert],
    external_url: &str,
    now_ms: i64,
) -> NotifyData {
    NotifyData {
        receiver: receiver.to_owned(),
        status: if alerts.iter().any(|a| !a.resolved_at(now_ms)) { "firing" } else { "resolved" }.to_owned(),
        alerts: alerts.iter().map(|a| notify_alert(a, now_ms)).collect(),
        group_labels: group_labels.clone(),
        common_labels: common(alerts, |a| &a.labels),
        common_annotations: common(alerts, |a| &a.annotations),
        external_url: external_url.to_owned(),
    }
}

/// An alert as templates see it.
fn notify_alert(a: &AmAlert, now_ms: i64) -> NotifyAlert {
    NotifyAlert {
        status: if a.resolved_at(now_ms) { "resolved" } else { "firing" }.to_owned(),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at_ms: a.starts_at_ms,
        ends_at_ms: a.ends_at_ms,
        generator_url: a.generator_url.clone(),
        fingerprint: format!("{:016x}", a.fingerprint()),
    }
}

/// Expands receiver fields' templates for one notification, with the
/// configuration's template files as the library.
pub struct Renderer<'a> {
    pub data: NotifyData,
    pub library: &'a [Template],
    pub now_ms: i64,
}

impl Renderer<'_> {
    /// A text field; `what` names it in errors.
    pub fn text(&self, what: &str, source: &str) -> Result<String, String> {
        self.expand(what, source, false)
    }

    /// An HTML body, escaped as `html/template` does.
    pub fn html(&self, what: &str, source: &str) -> Result<String, String> {
        self.expand(what, source, true)
    }

    fn expand(&self, what: &str, source: &str, html: bool) -> Result<String, String> {
        let template = Template::parse_dialect(what, source, Dialect::Alertmanager).map_err(|e| e.to_string())?;
        template.expand_notification(&self.data, self.library, html, self.now_ms)
    }

    /// `configured` expanded, or `default` when unset.
    pub fn or(&self, what: &str, configured: Option<&str>, default: String) -> Result<String, String> {
        configured.map_or(Ok(default), |source| self.text(what, source))
    }
}

/// The texts of a Slack message, after templates (or defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlackText {
    pub channel: String,
    pub username: String,
    pub icon_emoji: String,
    pub icon_url: String,
    pub link_names: bool,
    pub title: String,
    pub title_link: String,
    pub pretext: String,
    pub text: String,
    pub fallback: String,
    pub callback_id: String,
    pub footer: String,
    pub color: String,
    /// (title, value, short)
    pub fields: Vec<(String, String, bool)>,
    pub mrkdwn_in: Vec<String>,
}

impl SlackText {
    /// What Alertmanager's default Slack templates produce.
    pub fn defaults(
        receiver: &str,
        group_labels: &BTreeMap<String, String>,
        alerts: &[AmAlert],
        external_url: &str,
        now_ms: i64,
    ) -> SlackText {
        let title = subject(group_labels, alerts, now_ms);
        let title_link = alerts_url(external_url, receiver);
        let firing = alerts.iter().any(|a| !a.resolved_at(now_ms));
        SlackText {
            username: "Alertmanager".to_owned(),
            fallback: format!("{title} | {title_link}"),
            title,
            title_link,
            color: if firing { "danger" } else { "good" }.to_owned(),
            mrkdwn_in: ["fallback", "pretext", "text"].map(str::to_owned).to_vec(),
            ..SlackText::default()
        }
    }
}

/// The body Alertmanager posts to a Slack incoming webhook (its JSON
/// field for field, empty optional fields left out as Go's `omitempty`).
pub fn slack_message(t: &SlackText) -> Value {
    // Slack's limit on titles, counted in characters.
    let title: String = t.title.chars().take(1024).collect();
    let mut attachment = json!({
        "text": t.text,
        "fallback": t.fallback,
        "callback_id": t.callback_id,
        "footer": t.footer,
    });
    for (name, value) in
        [("title", &title), ("title_link", &t.title_link), ("pretext", &t.pretext), ("color", &t.color)]
    {
        if !value.is_empty() {
            attachment[name] = Value::from(value.as_str());
        }
    }
    if !t.fields.is_empty() {
        attachment["fields"] = t
            .fields
            .iter()
            .map(|(title, value, short)| json!({"title": title, "value": value, "short": short}))
            .collect();
    }
    if !t.mrkdwn_in.is_empty() {
        attachment["mrkdwn_in"] = json!(t.mrkdwn_in);
    }
    let mut body = json!({ "attachments": [attachment] });
    for (name, value) in
        [("channel", &t.channel), ("username", &t.username), ("icon_emoji", &t.icon_emoji), ("icon_url", &t.icon_url)]
    {
        if !value.is_empty() {
            body[name] = Value::from(value.as_str());
        }
    }
    if t.link_names {
        body["link_names"] = Value::from(true);
    }
    body
}

/// Alertmanager's `__text_alert_list` template: labels, annotations and
/// source of each alert.
fn text_alert_list(alerts: &[&AmAlert]) -> String {
    template::text_alert_list(&alerts.iter().map(|a| notify_alert(a, 0)).collect::<Vec<_>>())
}

/// The texts of a PagerDuty event, after templates (or defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PagerdutyText {
    pub routing_key: String,
    pub description: String,
    pub client: String,
    pub client_url: String,
    pub severity: String,
    pub class: String,
    pub component: String,
    pub group: String,
    pub details: BTreeMap<String, String>,
}

impl PagerdutyText {
    /// What Alertmanager's default PagerDuty templates produce.
    pub fn defaults(
        receiver: &str,
        group_labels: &BTreeMap<String, String>,
        alerts: &[AmAlert],
        external_url: &str,
        now_ms: i64,
    ) -> PagerdutyText {
        let (firing, resolved) = firing_and_resolved(alerts, now_ms);
        PagerdutyText {
            description: subject(group_labels, alerts, now_ms),
            client: "Alertmanager".to_owned(),
            client_url: alerts_url(external_url, receiver),
            severity: "error".to_owned(),
            details: BTreeMap::from([
                ("firing".to_owned(), text_alert_list(&firing)),
                ("resolved".to_owned(), text_alert_list(&resolved)),
                ("num_firing".to_owned(), firing.len().to_string()),
                ("num_resolved".to_owned(), resolved.len().to_string()),
            ]),
            ..PagerdutyText::default()
        }
    }
}

/// The Events API v2 body Alertmanager sends. The dedup key is the SHA-256
/// of the group key, so one incident follows one group.
pub fn pagerduty_message(group_key: &str, firing: bool, t: &PagerdutyText) -> Value {
    use sha2::Digest;
    // PagerDuty's limit on the summary, counted in characters.
    let summary: String = t.description.chars().take(1024).collect();
    let mut payload = json!({
        "summary": summary,
        // Alertmanager's `source` defaults to the client.
        "source": t.client,
        "severity": t.severity,
        "custom_details": t.details,
    });
    for (name, value) in [("class", &t.class), ("component", &t.component), ("group", &t.group)] {
        if !value.is_empty() {
            payload[name] = Value::from(value.as_str());
        }
    }
    let dedup: String = sha2::Sha256::digest(group_key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let mut body = json!({
        "routing_key": t.routing_key,
        "dedup_key": dedup,
        "event_action": if firing { "trigger" } else { "resolve" },
        "payload": payload,
    });
    for (name, value) in [("client", &t.client), ("client_url", &t.client_url)] {
        if !value.is_empty() {
            body[name] = Value::from(value.as_str());
        }
    }
    body
}

/// Counts per integration kind, under Alertmanager's metric names.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    /// integration → (notifications, failed notifications, requests, failed requests)
    counts: Mutex<BTreeMap<String, [u64; 4]>>,
}

impl NotifyMetrics {
    fn add(&self, integration: &str, index: usize, n: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.entry(integration.to_owned()).or_default()[index] += n;
    }

    /// (notifications, failed, requests, failed requests) of one integration.
    pub fn get(&self, integration: &str) -> [u64; 4] {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).get(integration).copied().unwrap_or_default()
    }
}

/// Encodes [`NotifyMetrics`] for `/metrics`.
#[derive(Debug)]
pub struct NotifyCollector(pub std::sync::Arc<NotifyMetrics>);

impl Collector for NotifyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_counts(&self.0, &mut encoder)
    }
}

/// Writes the notification counters into `encoder`.
pub fn encode_counts(metrics: &NotifyMetrics, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let counts = metrics.counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let names = [
        ("alertmanager_notifications", "The total number of attempted notifications."),
        ("alertmanager_notifications_failed", "The total number of failed notifications."),
        ("alertmanager_notification_requests", "The total number of attempted notification requests."),
        ("alertmanager_notification_requests_failed", "The total number of failed notification requests."),
    ];
    for (i, (name, help)) in names.into_iter().enumerate() {
        let metric_type = ConstCounter::new(0u64).metric_type();
        let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
        // Alertmanager shows every integration kind from the start.
        let mut all: BTreeMap<&str, u64> =
            BTreeMap::from([("email", 0), ("pagerduty", 0), ("slack", 0), ("webhook", 0)]);
        for (integration, c) in &counts {
            all.insert(integration, c[i]);
        }
        for (integration, value) in all {
            ConstCounter::new(value).encode(family.encode_family(&[("integration", integration)])?)?;
        }
    }
    Ok(())
}

/// Why one delivery attempt failed, and whether another may succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptError {
    pub message: String,
    pub retry: bool,
}

impl AttemptError {
    pub fn retry(message: String) -> AttemptError {
        AttemptError { message, retry: true }
    }

    pub fn fatal(message: String) -> AttemptError {
        AttemptError { message, retry: false }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the next wait
/// would pass `deadline`; counts notifications and requests under
/// `integration`. The same path for every receiver kind.
pub async fn with_retries<F, Fut>(
    integration: &str,
    deadline: Instant,
    metrics: &NotifyMetrics,
    mut attempt: F,
) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), AttemptError>>,
{
    metrics.add(integration, 0, 1);
    let mut wait = Duration::from_millis(500);
    loop {
        metrics.add(integration, 2, 1);
        let error = match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        metrics.add(integration, 3, 1);
        if !error.retry || Instant::now() + wait >= deadline {
            metrics.add(integration, 1, 1);
            return Err(error.message);
        }
        tracing::debug!(integration, error = %error.message, wait_ms = wait.as_millis() as u64, "notification failed; retrying");
        tokio::time::sleep(wait).await;
        wait = (wait.mul_f64(1.5)).min(Duration::from_secs(60));
    }
}

/// Counts a notification that failed before any request (a template that
/// cannot be executed, a secret file that cannot be read), as
/// Alertmanager counts a `Notify` that fails at once.
pub fn count_failed(integration: &str, metrics: &NotifyMetrics) {
    for index in 0..4 {
        metrics.add(integration, index, 1);
    }
}

/// Posts `body` to `url`, retrying with backoff until `deadline`; 4xx
/// answers are the receiver refusing the message and are not retried.
pub async fn deliver(
    integration: &str,
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    timeout: Duration,
    deadline: Instant,
    metrics: &NotifyMetrics,
) -> Result<(), String> {
    let text = body.to_string();
    with_retries(integration, deadline, metrics, || async {
        let attempt = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(text.clone())
            .send()
            .await;
        match attempt {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                Err(AttemptError {
                    message: format!("unexpected status code {}", status.as_u16()),
                    retry: status.is_server_error(),
                })
            }
            Err(e) => Err(AttemptError::retry(crate::scrape::scraper::error_chain(&e))),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pairs: &[(&str, &str)], annotations: &[(&str, &str)], ends: i64) -> AmAlert {
        let map = |p: &[(&str, &str)]| p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        AmAlert {
            labels: map(pairs),
            annotations: map(annotations),
            starts_at_ms: 1_700_000_000_123,
            ends_at_ms: ends,
            generator_url: "http://x/graph".to_owned(),
            updated_at_ms: 0,
            timeout: false,
        }
    }

    #[test]
    fn webhook_message_is_version_4() {
        let alerts = [
            alert(&[("alertname", "A"), ("job", "j"), ("i", "1")], &[("s", "x"), ("t", "1")], 0),
            alert(&[("alertname", "A"), ("job", "j"), ("i", "2")], &[("s", "x"), ("t", "2")], 1_700_000_100_000),
        ];
        let group = BTreeMap::from([("alertname".to_owned(), "A".to_owned())]);
        let got =
            webhook_message("team", "{}:{alertname=\"A\"}", &group, &alerts, "http://vigil", 1, 1_700_000_200_000);
        let want = json!({
            "receiver": "team",
            "status": "firing",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "A", "job": "j", "i": "1"},
                "annotations": {"s": "x", "t": "1"},
                "startsAt": "2023-11-14T22:13:20.123Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://x/graph",
                "fingerprint": format!("{:016x}", alerts[0].fingerprint()),
            }],
            "groupLabels": {"alertname": "A"},
            "commonLabels": {"alertname": "A", "job": "j"},
            "commonAnnotations": {"s": "x"},
            "externalURL": "http://vigil",
            "version": "4",
            "groupKey": "{}:{alertname=\"A\"}",
            "truncatedAlerts": 1,
        });
        assert_eq!(got, want);
        let resolved = webhook_message("team", "k", &group, &alerts[1..], "", 0, 1_700_000_200_000);
        assert_eq!(
            (resolved["status"].as_str(), resolved["alerts"][0]["status"].as_str()),
            (Some("resolved"), Some("resolved"))
        );
        assert_eq!(resolved["alerts"][0]["endsAt"], "2023-11-14T22:15:00Z");
    }

    /// A receiver answering with scripted status codes, counting requests.
    async fn scripted(statuses: Vec<u16>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&count);
        let app = axum::Router::new().fallback(axum::routing::post(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let status = statuses.get(n).or(statuses.last()).copied().unwrap_or(200);
            async move { axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK) }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, count)
    }

    #[tokio::test]
    async fn delivery_retries_server_errors_with_backoff_until_the_deadline() {
        use std::sync::atomic::Ordering;
        let client = reqwest::Client::new();
        let body = json!({"version": "4"});
        let timeout = Duration::from_secs(2);
        // (answers, deadline, succeeds, requests, metrics [notifications, failed, requests, failed requests])
        type Case = (Vec<u16>, u64, bool, usize, [u64; 4]);
        let cases: [Case; 3] = [
            // Two 503s, then OK: retried after 0.5 s and 0.75 s.
            (vec![503, 503, 200], 10_000, true, 3, [1, 0, 3, 2]),
            // A 4xx is the receiver refusing the message: not retried.
            (vec![400], 10_000, false, 1, [1, 1, 1, 1]),
            // Always failing: gives up when the next wait would pass the deadline.
            (vec![500], 1_000, false, 2, [1, 1, 2, 2]),
        ];
        for (answers, deadline_ms, ok, requests, counts) in cases {
            let (url, count) = scripted(answers.clone()).await;
            let metrics = NotifyMetrics::default();
            let started = Instant::now();
            let result = deliver(
                "webhook",
                &client,
                &url,
                &body,
                timeout,
                started + Duration::from_millis(deadline_ms),
                &metrics,
            )
            .await;
            assert_eq!(result.is_ok(), ok, "{answers:?}: {result:?}");
            assert_eq!(count.load(Ordering::SeqCst), requests, "{answers:?}");
            assert_eq!(metrics.get("webhook"), counts, "{answers:?}");
        }
        // A receiver that does not answer is cut off by the request timeout.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let started = Instant::now();
        let metrics = NotifyMetrics::default();
        let result = deliver(
            "webhook",
            &client,
            &url,
            &body,
            Duration::from_millis(200),
            started + Duration::from_millis(300),
            &metrics,
        )
        .await;
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
        drop(listener);
    }
}
