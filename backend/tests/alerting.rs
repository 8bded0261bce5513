//! Alerting end to end: a `vigil` evaluating an alerting rule every second
//! sends the alert to Debian's real `prometheus-alertmanager`, where
//! `amtool alert query` finds it with Vigil's labels, external labels and
//! annotations; when the rule stops firing, the resolution reaches
//! Alertmanager too. With `--alertmanager.config.file`, Vigil's built-in
//! Alertmanager and the real one, given the same alerts and the same
//! routing, post the same webhook, Slack and PagerDuty messages; and a restart of
//! Vigil does not notify again. Email goes to a small SMTP sink
//! (`smtp_sink`), from both Alertmanagers, with the same envelope and
//! headers; a mail server that is down is retried and counted as failed
//! without holding up the other receivers.

mod common;
mod smtp_sink;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::{Arc, Mutex};

use common::{Vigil, eventually, free_port, temp_dir};
use serde_json::Value;
use smtp_sink::SmtpSink;

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const AMTOOL: &str = "/usr/bin/amtool";

fn require(tool: &str) {
    assert!(
        Path::new(tool).exists(),
        "{tool} is missing: install it with `apt-get install prometheus-alertmanager` (or run `cargo xtask test`, which does)"
    );
}

/// A running Alertmanager, killed by PID when dropped.
struct Alertmanager {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Alertmanager {
    fn start(config: &str) -> Alertmanager {
        require(ALERTMANAGER);
        let dir = temp_dir("vigil-am");
        std::fs::write(dir.join("alertmanager.yml"), config).expect("write alertmanager.yml");
        let port = free_port();
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // The URL its messages link to; Vigil is given the same.
            .arg(format!("--web.external-url={EXTERNAL_URL}"))
            // No gossip: a lone instance on this machine.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = Alertmanager { child, port, dir };
        am.wait_ready();
        am
    }

    /// Polls `/-/ready` so alerts sent next are not refused.
    fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = stream.write_all(b"GET /-/ready HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("prometheus-alertmanager on port {} did not become ready", self.port);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `amtool alert query` with extra arguments, as JSON.
    fn query(&self, args: &[&str]) -> Option<serde_json::Value> {
        require(AMTOOL);
        let output = Command::new(AMTOOL)
            .arg(format!("--alertmanager.url={}", self.url()))
            .args(["-o", "json", "alert", "query"])
            .args(args)
            .output()
            .expect("run amtool");
        if !output.status.success() {
            return None;
        }
        serde_json::from_slice(&output.stdout).ok()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const EXTERNAL_URL: &str = "http://alerts.example:9093";

const AM_CONFIG: &str = "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n";

#[tokio::test]
async fn alerts_reach_the_real_alertmanager_and_resolve() {
    let am = Alertmanager::start(AM_CONFIG);
    let port = free_port();
    let dir = temp_dir("vigil-alerting");
    // Fires at once; a reload later makes it stop.
    let rules = r#"groups:
  - name: g
    rules:
      - alert: VigilTestAlert
        expr: absent(nonexistent_metric)
        labels:
          severity: page
        annotations:
          summary: "value {{ $value }}"
"#;
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(
        &config_path,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n  external_labels: {{cluster: test}}\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{}']}}]\nscrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            am.port
        ),
    )
    .unwrap();
    let vigil = Vigil::start_with_config_file(port, &config_path);

    let alert = eventually(Duration::from_secs(30), "the alert in amtool alert query", || async {
        let alerts = am.query(&["alertname=VigilTestAlert"])?;
        alerts.as_array()?.first().cloned()
    })
    .await;
    assert_eq!(alert["labels"]["alertname"], "VigilTestAlert");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["cluster"], "test", "external labels are added");
    assert_eq!(alert["annotations"]["summary"], "value 1");
    assert_eq!(alert["status"]["state"], "active");
    let generator = alert["generatorURL"].as_str().unwrap_or("");
    assert!(generator.contains("/graph?g0.expr=absent%28nonexistent_metric%29"), "generator URL {generator}");
    // Firing alerts are valid for 4 × max(resend delay 1m, interval 1s).
    let starts = alert["startsAt"].as_str().unwrap_or("");
    let ends = alert["endsAt"].as_str().unwrap_or("");
    assert!(ends > starts, "endsAt {ends} after startsAt {starts}");

    // Vigil's own metrics count the sent alert.
    let metrics = reqwest::get(vigil.url("/metrics")).await.unwrap().text().await.unwrap();
    let sent_line = format!("prometheus_notifications_sent_total{{alertmanager=\"{}/api/v2/alerts\"}}", am.url());
    assert!(
        metrics.lines().any(|l| l.starts_with(&sent_line) && !l.ends_with(" 0")),
        "no {sent_line} > 0 in\n{metrics}"
    );

    // Make the rule stop firing: the resolution is sent at once, and
    // Alertmanager no longer lists the alert as active.
    std::fs::write(dir.join("rules.yml"), rules.replace("absent(nonexistent_metric)", "absent(up)")).unwrap();
    let reload = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.unwrap();
    assert!(reload.status().is_success(), "reload: {}", reload.status());
    eventually(Duration::from_secs(30), "the alert resolved in Alertmanager", || async {
        let active = am.query(&["alertname=VigilTestAlert"])?;
        active.as_array()?.is_empty().then_some(())
    })
    .await;
    drop(vigil);
}

/// Webhook messages received, by path (`/am` for the real Alertmanager,
/// `/vigil` for Vigil's).
#[derive(Clone, Default)]
struct Hooks(Arc<Mutex<Vec<(String, Value)>>>);

impl Hooks {
    fn of(&self, path: &str) -> Vec<Value> {
        self.0.lock().unwrap().iter().filter(|(p, _)| p == path).map(|(_, v)| v.clone()).collect()
    }
}

/// Starts a webhook sink on 127.0.0.1 and returns its port.
async fn start_hooks(hooks: Hooks) -> u16 {
    use axum::extract::State;
    async fn receive(State(hooks): State<Hooks>, uri: axum::http::Uri, body: String) -> &'static str {
        if let Ok(json) = serde_json::from_str(&body) {
            hooks.0.lock().unwrap().push((uri.path().to_owned(), json));
        }
        "ok"
    }
    let app = axum::Router::new().fallback(axum::routing::post(receive)).with_state(hooks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the webhook sink");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// Notification templates both Alertmanagers load (`templates:`), used by
/// the Slack, PagerDuty and email fields of the tests' receivers.
const TEMPLATES: &str = r#"{{ define "slack.vigil.title" }}{{ .Status | title }}: {{ .CommonLabels.alertname }} on {{ range .Alerts }}{{ .Labels.instance }} {{ end }}{{ end }}
{{ define "vigil.instances" -}}
{{ range $i, $a := .Alerts }}{{ if $i }}, {{ end }}{{ $a.Labels.instance }}{{ end }}
{{- end }}
{{ define "mail.summary" }}{{ range .Alerts }}{{ .Annotations.summary }}{{ end }} ({{ .Alerts.Firing | len }} firing){{ end }}
"#;

/// Writes [`TEMPLATES`] to a file of its own and returns its path.
fn templates_file() -> PathBuf {
    let path = temp_dir("vigil-templates").join("notifications.tmpl");
    std::fs::write(&path, TEMPLATES).expect("write the templates");
    path
}

/// The routing both Alertmanagers run, posting webhooks to `/<who>`, Slack
/// messages to `/<who>-slack` and PagerDuty events to `/<who>-pd` on the
/// sink. Slack's title, text and fields and PagerDuty's description and
/// details are templates.
fn routing(hook_port: u16, who: &str, templates: &Path) -> String {
    format!(
        "global:\n  slack_api_url: 'http://127.0.0.1:{hook_port}/{who}-slack'\ntemplates: ['{}']\nroute:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: 'http://127.0.0.1:{hook_port}/{who}'\n    slack_configs:\n      - channel: '#alerts'\n        send_resolved: true\n        title: '{{{{ template \"slack.vigil.title\" . }}}}'\n        text: '{{{{ range .Alerts }}}}{{{{ .Annotations.summary }}}}; {{{{ end }}}}'\n        fields:\n          - title: Instances\n            value: '{{{{ template \"vigil.instances\" . }}}}'\n    pagerduty_configs:\n      - routing_key: abc123\n        url: 'http://127.0.0.1:{hook_port}/{who}-pd'\n        severity: critical\n        description: '{{{{ .CommonLabels.alertname }}}}: {{{{ .Alerts | len }}}} alerts'\n        details:\n          instances: '{{{{ template \"vigil.instances\" . }}}}'\n",
        templates.display()
    )
}

/// The first message of a path matching `pick`.
fn first(hooks: &Hooks, path: &str, pick: impl Fn(&Value) -> bool) -> Option<Value> {
    hooks.of(path).into_iter().find(|m| pick(m))
}

#[tokio::test]
async fn the_built_in_alertmanager_posts_what_alertmanager_posts_and_remembers_across_restarts() {
    let templates = templates_file();
    let hooks = Hooks::default();
    let hook_port = start_hooks(hooks.clone()).await;
    let am = Alertmanager::start(&routing(hook_port, "am", &templates));
    let dir = temp_dir("vigil-routing");
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: DiskFull\n        expr: absent(nonexistent_metric)\n        labels: {severity: page, instance: 'db:9100', job: node}\n        annotations: {summary: 'disk full on {{ $labels.instance }}'}\n      - alert: DiskFull\n        expr: absent(nonexistent_metric)\n        labels: {severity: page, instance: 'web:9100', job: node}\n        annotations: {summary: 'disk full on {{ $labels.instance }}'}\n";
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(dir.join("am.yml"), routing(hook_port, "vigil", &templates)).unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(
        &config_path,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            am.port
        ),
    )
    .unwrap();
    let data = dir.join("data");
    let am_flag = format!("--alertmanager.config.file={}", dir.join("am.yml").display());
    let url_flag = format!("--web.external-url={EXTERNAL_URL}");
    let start = || {
        let port = free_port();
        Vigil::start_with_flags_in(port, &config_path, &data, &[&am_flag, &url_flag])
    };
    let vigil = start();

    // Both rules fire; both Alertmanagers group them into one message.
    let (real, ours) = eventually(Duration::from_secs(30), "a firing message from both", || async {
        let real = hooks.of("/am");
        let ours = hooks.of("/vigil");
        let complete = |m: &[Value]| m.iter().find(|m| m["alerts"].as_array().is_some_and(|a| a.len() == 2)).cloned();
        Some((complete(&real)?, complete(&ours)?))
    })
    .await;
    assert_eq!(real["status"], "firing");
    assert_eq!(ours, real, "Vigil's webhook message differs from Alertmanager's");
    let firing_slack = |m: &Value| m["attachments"][0]["color"] == "danger";
    let (real, ours) = eventually(Duration::from_secs(30), "a firing Slack message from both", || async {
        Some((first(&hooks, "/am-slack", firing_slack)?, first(&hooks, "/vigil-slack", firing_slack)?))
    })
    .await;
    assert_eq!(ours, real, "Vigil's Slack message differs from Alertmanager's");
    let trigger = |m: &Value| m["event_action"] == "trigger";
    let (real, ours) = eventually(Duration::from_secs(30), "a PagerDuty trigger from both", || async {
        Some((first(&hooks, "/am-pd", trigger)?, first(&hooks, "/vigil-pd", trigger)?))
    })
    .await;
    assert_eq!(ours, real, "Vigil's PagerDuty event differs from Alertmanager's");

    // A restart on the same data: the notification log remembers the group
    // was notified, so nothing is sent again within the repeat interval.
    drop(vigil);
    let sent_before = hooks.of("/vigil").len();
    let slack_before = hooks.of("/vigil-slack").len();
    let pd_before = hooks.of("/vigil-pd").len();
    let vigil = start();
    eventually(Duration::from_secs(30), "the restarted Vigil to fire again", || async {
        let text = reqwest::get(vigil.url("/api/v1/alerts")).await.ok()?.text().await.ok()?;
        text.contains("\"firing\"").then_some(())
    })
    .await;
    // Longer than group_wait plus a group_interval.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(hooks.of("/vigil").len(), sent_before, "re-notified after a restart: {:?}", hooks.of("/vigil"));
    assert_eq!(hooks.of("/vigil-slack").len(), slack_before, "Slack re-notified after a restart");
    assert_eq!(hooks.of("/vigil-pd").len(), pd_before, "PagerDuty re-notified after a restart");

    // Both rules stop firing: both send the same resolved message.
    std::fs::write(dir.join("rules.yml"), rules.replace("absent(nonexistent_metric)", "absent(vector(1))")).unwrap();
    let reload = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.unwrap();
    assert!(reload.status().is_success(), "reload: {}", reload.status());
    let (real, ours) = eventually(Duration::from_secs(30), "a resolved message from both", || async {
        let resolved = |m: Vec<Value>| m.into_iter().find(|m| m["status"] == "resolved");
        Some((resolved(hooks.of("/am"))?, resolved(hooks.of("/vigil"))?))
    })
    .await;
    // The real Alertmanager kept the alerts' first start across Vigil's
    // restart; Vigil's built-in one (like a restarted Alertmanager, which
    // keeps no alerts on disk either) knows the start after the restart.
    let starts = |m: &Value| -> Vec<String> {
        m["alerts"]
            .as_array()
            .map_or(Vec::new(), |a| a.iter().map(|a| a["startsAt"].as_str().unwrap_or("").to_owned()).collect())
    };
    for (ours, real) in starts(&ours).iter().zip(starts(&real)) {
        assert!(*ours >= real, "startsAt {ours} before {real}");
    }
    let without_starts = |mut m: Value| {
        for alert in m["alerts"].as_array_mut().into_iter().flatten() {
            alert.as_object_mut().map(|a| a.remove("startsAt"));
        }
        m
    };
    assert_eq!(without_starts(ours), without_starts(real), "resolved messages differ");
    let resolved_slack = |m: &Value| m["attachments"][0]["color"] == "good";
    let (real, ours) = eventually(Duration::from_secs(30), "a resolved Slack message from both", || async {
        Some((first(&hooks, "/am-slack", resolved_slack)?, first(&hooks, "/vigil-slack", resolved_slack)?))
    })
    .await;
    assert_eq!(ours, real, "resolved Slack messages differ");
    let resolve = |m: &Value| m["event_action"] == "resolve";
    let (real, ours) = eventually(Duration::from_secs(30), "a PagerDuty resolve from both", || async {
        Some((first(&hooks, "/am-pd", resolve)?, first(&hooks, "/vigil-pd", resolve)?))
    })
    .await;
    // The alert list in the details shows each alert's source link, equal in
    // both; only start times could differ and they are not in the event.
    assert_eq!(ours, real, "PagerDuty resolve events differ");
}

/// Runs `amtool` against a URL and returns its standard output.
fn amtool(url: &str, args: &[&str]) -> String {
    require(AMTOOL);
    let output = Command::new(AMTOOL).arg(format!("--alertmanager.url={url}")).args(args).output().expect("run amtool");
    assert!(
        output.status.success(),
        "amtool {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn amtool_silences_an_alert_in_vigil() {
    let templates = templates_file();
    let hooks = Hooks::default();
    let hook_port = start_hooks(hooks.clone()).await;
    let dir = temp_dir("vigil-amtool");
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: SilenceMe\n        expr: absent(nonexistent_metric)\n        for: 2s\n      - alert: Other\n        expr: absent(nonexistent_metric)\n        for: 2s\n";
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(dir.join("am.yml"), routing(hook_port, "vigil", &templates)).unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(&config_path, "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\n").unwrap();
    let am_flag = format!("--alertmanager.config.file={}", dir.join("am.yml").display());
    let vigil = Vigil::start_with_flags_in(free_port(), &config_path, &dir.join("data"), &[&am_flag]);
    let url = vigil.url("");

    // Silence one alert before it fires.
    let id = amtool(
        &url,
        &["silence", "add", "alertname=SilenceMe", "--comment=maintenance", "--author=tester", "--duration=1h"],
    );
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "a silence id: {id:?}");
    let listed = amtool(&url, &["silence", "query", "-o", "json"]);
    let silences: Value = serde_json::from_str(&listed).expect("amtool silence query JSON");
    assert_eq!(silences[0]["id"], id.as_str());
    assert_eq!(silences[0]["status"]["state"], "active");
    assert_eq!(silences[0]["createdBy"], "tester");
    assert_eq!(
        silences[0]["matchers"][0],
        serde_json::json!({"name": "alertname", "value": "SilenceMe", "isRegex": false, "isEqual": true})
    );

    // The other alert is delivered; the silenced one is not, and amtool
    // shows it only among silenced alerts.
    eventually(Duration::from_secs(30), "Other delivered", || async {
        hooks.of("/vigil").iter().any(|m| m["groupLabels"]["alertname"] == "Other").then_some(())
    })
    .await;
    let active = amtool(&url, &["alert", "query", "-o", "json"]);
    let active: Value = serde_json::from_str(&active).expect("amtool alert query JSON");
    let names = |v: &Value| -> Vec<String> {
        v.as_array().map_or(Vec::new(), |a| {
            a.iter().map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_owned()).collect()
        })
    };
    assert_eq!(names(&active), ["Other"]);
    let silenced = amtool(&url, &["alert", "query", "--silenced", "-o", "json"]);
    let silenced: Value = serde_json::from_str(&silenced).expect("amtool alert query --silenced JSON");
    let silenced_one =
        silenced.as_array().and_then(|a| a.iter().find(|a| a["labels"]["alertname"] == "SilenceMe")).cloned();
    let silenced_one = silenced_one.expect("SilenceMe among silenced alerts");
    assert_eq!(silenced_one["status"]["state"], "suppressed");
    assert_eq!(silenced_one["status"]["silencedBy"][0], id.as_str());
    // Longer than group_wait and a group_interval: still not delivered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !hooks.of("/vigil").iter().any(|m| m["groupLabels"]["alertname"] == "SilenceMe"),
        "a silenced alert was delivered: {:?}",
        hooks.of("/vigil")
    );

    // Expiring the silence lets it through at the group's next flush.
    amtool(&url, &["silence", "expire", &id]);
    let expired = amtool(&url, &["silence", "query", "--expired", "-o", "json"]);
    assert!(expired.contains("\"expired\""), "{expired}");
    eventually(Duration::from_secs(30), "SilenceMe delivered after expiry", || async {
        hooks.of("/vigil").iter().any(|m| m["groupLabels"]["alertname"] == "SilenceMe").then_some(())
    })
    .await;
    let receivers = reqwest::get(vigil.url("/api/v2/receivers")).await.unwrap().text().await.unwrap();
    assert_eq!(receivers, r#"[{"name":"hook"}]"#);

    // `amtool alert add` posts to /api/v2/alerts; the alert is routed too.
    amtool(&url, &["alert", "add", "alertname=Manual", "severity=low", "--annotation=summary=by hand"]);
    let all = amtool(&url, &["alert", "query", "alertname=Manual", "-o", "json"]);
    let all: Value = serde_json::from_str(&all).expect("amtool alert query JSON");
    assert_eq!(all[0]["labels"], serde_json::json!({"alertname": "Manual", "severity": "low"}));
    assert_eq!(all[0]["annotations"]["summary"], "by hand");
    assert_eq!(all[0]["receivers"][0]["name"], "hook");
    eventually(Duration::from_secs(30), "Manual delivered", || async {
        hooks.of("/vigil").iter().any(|m| m["groupLabels"]["alertname"] == "Manual").then_some(())
    })
    .await;

    // Alertmanager's own metrics, from Vigil's /metrics.
    let metrics = reqwest::get(vigil.url("/metrics")).await.unwrap().text().await.unwrap();
    for line in [
        "alertmanager_silences{state=\"expired\"} 1",
        "alertmanager_alerts{state=\"active\"} 3",
        "alertmanager_notifications_failed_total{integration=\"webhook\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?} in\n{metrics}");
    }
    let sent = metrics
        .lines()
        .find_map(|l| l.strip_prefix("alertmanager_notifications_total{integration=\"webhook\"} "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(sent.is_some_and(|n| n >= 2), "webhook notifications counted: {sent:?}");
}

/// The bundled example passes Debian's `amtool check-config` and loads in
/// Vigil: the same file works in both.
#[test]
fn the_example_alertmanager_config_is_valid_for_both() {
    require(AMTOOL);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/alertmanager.yml");
    let output = Command::new(AMTOOL).arg("check-config").arg(&example).output().expect("run amtool check-config");
    assert!(
        output.status.success(),
        "amtool check-config refused {}: {}{}",
        example.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let config = vigil::alerting::config::AmConfig::load(&example).unwrap_or_else(|e| panic!("Vigil refused it: {e}"));
    assert_eq!(config.receivers.len(), 4);
    assert_eq!(config.route.routes.len(), 4);
    assert_eq!(config.receivers[3].emails.len(), 1);
    let defined: Vec<&str> = config.templates.iter().flat_map(|t| t.defined()).collect();
    assert_eq!(defined, ["vigil.email.subject", "vigil.slack.text", "vigil.slack.title"]);
    assert_eq!(config.inhibit_rules.len(), 1);
    assert!(config.time_intervals.contains_key("night"));
}

/// The metric's value in a `/metrics` text, when present.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn email_reaches_an_smtp_server_as_alertmanagers_does() {
    let sink = SmtpSink::start(Some("alerts:s3cret")).await;
    let templates = templates_file();
    // Both Alertmanagers mail the sink; `from` tells them apart.
    let routing = |who: &str| {
        format!(
            "global:\n  smtp_smarthost: '127.0.0.1:{}'\n  smtp_from: '{who}@example.org'\n  smtp_require_tls: false\n  smtp_auth_username: alerts\n  smtp_auth_password: s3cret\n  smtp_hello: vigil.test\ntemplates: ['{}']\nroute:\n  receiver: mail\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: mail\n    email_configs:\n      - to: 'oncall@example.org, Team Lead <lead@example.org>'\n        send_resolved: true\n        headers: {{x-team: storage, X-Summary: '{{{{ template \"mail.summary\" . }}}}'}}\n",
            sink.port,
            templates.display()
        )
    };
    let am = Alertmanager::start(&routing("am"));
    let dir = temp_dir("vigil-email");
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: DiskFull\n        expr: absent(nonexistent_metric)\n        labels: {severity: page, instance: 'db:9100'}\n        annotations: {summary: 'disk <full> ({{ $value }})'}\n";
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(dir.join("am.yml"), routing("vigil")).unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(
        &config_path,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            am.port
        ),
    )
    .unwrap();
    let am_flag = format!("--alertmanager.config.file={}", dir.join("am.yml").display());
    let url_flag = format!("--web.external-url={EXTERNAL_URL}");
    let vigil = Vigil::start_with_flags_in(free_port(), &config_path, &dir.join("data"), &[&am_flag, &url_flag]);

    let from = |who: &str, subject: &str| {
        let (who, subject) = (format!("{who}@example.org"), subject.to_owned());
        move |m: &smtp_sink::Received| {
            m.mail_from == who && m.header("Subject").is_some_and(|s| s.starts_with(&subject))
        }
    };
    let (real, ours) = eventually(Duration::from_secs(30), "a firing mail from both", || async {
        let messages = sink.messages();
        let real = messages.iter().find(|m| from("am", "[FIRING")(m))?.clone();
        let ours = messages.iter().find(|m| from("vigil", "[FIRING")(m))?.clone();
        Some((real, ours))
    })
    .await;
    // The SMTP conversation: greeting, credentials, envelope.
    for m in [&real, &ours] {
        assert_eq!(m.hello, "vigil.test");
        assert_eq!(m.auth.as_deref(), Some("alerts:s3cret"));
        assert_eq!(m.rcpt_to, ["oncall@example.org", "lead@example.org"]);
    }
    // The headers Alertmanager writes, with the same values.
    assert_eq!(ours.header("X-Summary").as_deref(), Some("disk <full> (1) (1 firing)"));
    for header in ["Subject", "To", "X-Team", "X-Summary", "MIME-Version"] {
        assert_eq!(ours.header(header), real.header(header), "{header}");
    }
    assert_eq!(ours.header("Subject").as_deref(), Some("[FIRING:1] DiskFull (db:9100 page)"));
    assert_eq!(ours.header("From").as_deref(), Some("vigil@example.org"));
    assert!(ours.header("Message-Id").is_some_and(|id| id.starts_with('<') && id.ends_with('>')));
    assert!(ours.header("Date").is_some_and(|d| d.ends_with("+0000")), "{:?}", ours.header("Date"));
    assert!(ours.header("Content-Type").is_some_and(|t| t.starts_with("multipart/alternative")));
    // A text part, then the HTML part (the preferred one, last).
    let parts = ours.parts();
    let types: Vec<&str> = parts.iter().map(|(t, _)| t.split(';').next().unwrap_or("")).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let (text, html) = (&parts[0].1, &parts[1].1);
    assert!(text.contains(" - instance = db:9100\n - severity = page\n"), "{text}");
    assert!(text.contains(" - summary = disk <full> (1)\n"), "{text}");
    assert!(text.contains("http://alerts.example:9093/#/alerts?receiver=mail"), "{text}");
    assert!(html.contains("disk &lt;full&gt; (1)"), "{html}");
    assert!(html.contains(">db:9100</td>"), "{html}");

    // The rule stops firing: send_resolved mails the resolution.
    std::fs::write(dir.join("rules.yml"), rules.replace("absent(nonexistent_metric)", "absent(vector(1))")).unwrap();
    let reload = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.unwrap();
    assert!(reload.status().is_success(), "reload: {}", reload.status());
    let (real, ours) = eventually(Duration::from_secs(30), "a resolved mail from both", || async {
        let messages = sink.messages();
        let real = messages.iter().find(|m| from("am", "[RESOLVED]")(m))?.clone();
        let ours = messages.iter().find(|m| from("vigil", "[RESOLVED]")(m))?.clone();
        Some((real, ours))
    })
    .await;
    assert_eq!(ours.header("Subject"), real.header("Subject"));
    assert_eq!(ours.header("Subject").as_deref(), Some("[RESOLVED] DiskFull (db:9100 page)"));
    assert!(ours.parts()[0].1.contains("Alerts Resolved:"), "{:?}", ours.parts());

    let metrics = reqwest::get(vigil.url("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(metric(&metrics, "alertmanager_notifications_total{integration=\"email\"}"), Some(2.0));
    assert_eq!(metric(&metrics, "alertmanager_notifications_failed_total{integration=\"email\"}"), Some(0.0));
}

/// AUTH LOGIN (when the server offers only that) with the password read
/// from `auth_password_file`, and the `headers`, `text` and `html` fields
/// as templates.
#[tokio::test]
async fn email_logs_in_with_a_password_file_and_templated_parts() {
    let sink = SmtpSink::start_with(Some("mailer:from-file"), "LOGIN").await;
    let templates = templates_file();
    let dir = temp_dir("vigil-email-login");
    std::fs::write(dir.join("password"), "from-file\n").unwrap();
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: Login\n        expr: absent(nonexistent_metric)\n        labels: {instance: 'a:1'}\n        annotations: {summary: 'first <b>'}\n";
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(
        dir.join("am.yml"),
        format!(
            "templates: ['{}']\nroute:\n  receiver: mail\n  group_wait: 1s\nreceivers:\n  - name: mail\n    email_configs:\n      - to: '{{{{ .CommonLabels.alertname | toLower }}}}@example.org'\n        from: vigil@example.org\n        smarthost: '127.0.0.1:{}'\n        require_tls: false\n        auth_username: mailer\n        auth_password_file: password\n        headers: {{Subject: '{{{{ template \"mail.summary\" . }}}}'}}\n        text: '{{{{ range .Alerts }}}}{{{{ .Annotations.summary }}}} at {{{{ .StartsAt.Format \"2006\" }}}}{{{{ end }}}}'\n        html: '<p>{{{{ range .Alerts }}}}{{{{ .Annotations.summary }}}}{{{{ end }}}}</p>'\n",
            templates.display(),
            sink.port
        ),
    )
    .unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(&config_path, "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\n").unwrap();
    let am_flag = format!("--alertmanager.config.file={}", dir.join("am.yml").display());
    let _vigil = Vigil::start_with_flags_in(free_port(), &config_path, &dir.join("data"), &[&am_flag]);
    let mail = eventually(Duration::from_secs(30), "a mail", || async { sink.messages().into_iter().next() }).await;
    assert_eq!(mail.auth.as_deref(), Some("mailer:from-file"));
    assert_eq!(mail.rcpt_to, ["login@example.org"]);
    assert_eq!(mail.header("Subject").as_deref(), Some("first <b> (1 firing)"));
    assert_eq!(mail.header("To").as_deref(), Some("login@example.org"));
    let parts = mail.parts();
    let year = &parts[0].1[parts[0].1.len().saturating_sub(4)..];
    assert!(year.starts_with("20"), "{parts:?}");
    assert_eq!(parts[0].1, format!("first <b> at {year}"));
    // The HTML part escapes values, not the template's own markup.
    assert_eq!(parts[1].1, "<p>first &lt;b&gt;</p>");
}

/// `require_tls` defaults to true, as Alertmanager's: a server that offers
/// no STARTTLS gets no mail, and the failure is counted.
#[tokio::test]
async fn email_requires_starttls_by_default() {
    let sink = SmtpSink::start(None).await;
    let dir = temp_dir("vigil-email-tls");
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: Tls\n        expr: absent(nonexistent_metric)\n";
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(
        dir.join("am.yml"),
        format!(
            "global:\n  smtp_smarthost: '127.0.0.1:{}'\n  smtp_from: vigil@example.org\nroute:\n  receiver: mail\n  group_wait: 1s\nreceivers:\n  - name: mail\n    email_configs: [{{to: oncall@example.org}}]\n",
            sink.port
        ),
    )
    .unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(&config_path, "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\n").unwrap();
    let am_flag = format!("--alertmanager.config.file={}", dir.join("am.yml").display());
    let vigil = Vigil::start_with_flags_in(free_port(), &config_path, &dir.join("data"), &[&am_flag]);
    eventually(Duration::from_secs(30), "the refused STARTTLS counted", || async {
        let text = reqwest::get(vigil.url("/metrics")).await.ok()?.text().await.ok()?;
        metric(&text, "alertmanager_notification_requests_failed_total{integration=\"email\"}").filter(|n| *n >= 1.0)
    })
    .await;
    assert!(sink.messages().is_empty(), "mail sent without TLS: {:?}", sink.messages());
}

#[tokio::test]
async fn a_mail_server_that_is_down_is_retried_counted_and_delays_no_one() {
    let hooks = Hooks::default();
    let hook_port = start_hooks(hooks.clone()).await;
    // Nothing listens there: every connection is refused.
    let dead_port = free_port();
    let dir = temp_dir("vigil-email-down");
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: absent(nonexistent_metric)\n";
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(
        dir.join("am.yml"),
        format!(
            "route:\n  receiver: both\n  group_wait: 1s\n  group_interval: 3s\nreceivers:\n  - name: both\n    email_configs:\n      - to: oncall@example.org\n        from: vigil@example.org\n        smarthost: '127.0.0.1:{dead_port}'\n        require_tls: false\n    webhook_configs:\n      - url: 'http://127.0.0.1:{hook_port}/vigil'\n    slack_configs:\n      - api_url: 'http://127.0.0.1:{hook_port}/vigil-slack'\n        title: '{{{{ tz \"Mars/Olympus\" (index .Alerts 0).StartsAt }}}}'\n"
        ),
    )
    .unwrap();
    let config_path = dir.join("vigil.yml");
    std::fs::write(&config_path, "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\n").unwrap();
    let am_flag = format!("--alertmanager.config.file={}", dir.join("am.yml").display());
    let vigil = Vigil::start_with_flags_in(free_port(), &config_path, &dir.join("data"), &[&am_flag]);

    // The webhook is delivered at the first flush, while email retries.
    eventually(Duration::from_secs(30), "the webhook delivered", || async {
        (!hooks.of("/vigil").is_empty()).then_some(())
    })
    .await;
    let metrics = eventually(Duration::from_secs(30), "the failed email counted", || async {
        let text = reqwest::get(vigil.url("/metrics")).await.ok()?.text().await.ok()?;
        (metric(&text, "alertmanager_notifications_failed_total{integration=\"email\"}")? >= 1.0).then_some(text)
    })
    .await;
    let requests = metric(&metrics, "alertmanager_notification_requests_total{integration=\"email\"}").unwrap_or(0.0);
    let failed = metric(&metrics, "alertmanager_notification_requests_failed_total{integration=\"email\"}");
    assert!(requests >= 2.0, "email was not retried: {requests} requests");
    assert_eq!(failed, Some(requests), "every request failed");
    assert_eq!(metric(&metrics, "alertmanager_notifications_failed_total{integration=\"webhook\"}"), Some(0.0));
    // A template that parses but fails when it runs: counted as a failed
    // notification, not retried, nothing posted.
    let slack_failed = eventually(Duration::from_secs(30), "the failed Slack template counted", || async {
        let text = reqwest::get(vigil.url("/metrics")).await.ok()?.text().await.ok()?;
        metric(&text, "alertmanager_notifications_failed_total{integration=\"slack\"}").filter(|n| *n >= 1.0)
    })
    .await;
    assert!(slack_failed >= 1.0);
    assert!(hooks.of("/vigil-slack").is_empty(), "a message was posted: {:?}", hooks.of("/vigil-slack"));
}

/// Vigil's notification templates and `amtool template render` (Debian's
/// amtool, Alertmanager's own template package) print the same for the
/// same data, template files and texts, in text and HTML.
#[test]
fn notification_templates_render_as_amtool_does() {
    use vigil::rules::template::{Dialect, NotifyAlert, NotifyData, Template};
    require(AMTOOL);
    const DEFAULT_TMPL: &str = "/usr/share/prometheus/alertmanager/default.tmpl";
    require(DEFAULT_TMPL);
    let dir = temp_dir("vigil-amtool-render");
    let map = |p: &[(&str, &str)]| p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let data = NotifyData {
        receiver: "team x".to_owned(),
        status: "firing".to_owned(),
        alerts: vec![
            NotifyAlert {
                status: "firing".to_owned(),
                labels: map(&[("alertname", "DiskFull"), ("instance", "db:9100"), ("severity", "page")]),
                annotations: map(&[("summary", "disk <full> & \"more\"")]),
                starts_at_ms: 1_700_000_000_123,
                ends_at_ms: 0,
                generator_url: "http://vigil/graph?g0.expr=x".to_owned(),
                fingerprint: "0123456789abcdef".to_owned(),
            },
            NotifyAlert {
                status: "resolved".to_owned(),
                labels: map(&[("alertname", "DiskFull"), ("instance", "web:9100"), ("severity", "page")]),
                annotations: map(&[("summary", "ok")]),
                starts_at_ms: 1_700_000_000_000,
                ends_at_ms: 1_700_000_060_000,
                generator_url: "http://vigil/graph?g0.expr=y".to_owned(),
                fingerprint: "fedcba9876543210".to_owned(),
            },
        ],
        group_labels: map(&[("alertname", "DiskFull")]),
        common_labels: map(&[("alertname", "DiskFull"), ("severity", "page")]),
        common_annotations: map(&[]),
        external_url: "http://vigil:9090".to_owned(),
    };
    // The same data as Alertmanager's `template.Data` JSON.
    let alerts: Vec<Value> = data
        .alerts
        .iter()
        .map(|a| {
            let time = |ms: i64| vigil::alerting::notify::go_time(ms);
            serde_json::json!({"status": a.status, "labels": a.labels, "annotations": a.annotations,
                "startsAt": time(a.starts_at_ms), "endsAt": time(a.ends_at_ms),
                "generatorURL": a.generator_url, "fingerprint": a.fingerprint})
        })
        .collect();
    let json = serde_json::json!({"receiver": data.receiver, "status": data.status, "alerts": alerts,
        "groupLabels": data.group_labels, "commonLabels": data.common_labels,
        "commonAnnotations": data.common_annotations, "externalURL": data.external_url});
    std::fs::write(dir.join("data.json"), json.to_string()).unwrap();
    std::fs::write(dir.join("a.tmpl"), TEMPLATES).unwrap();
    std::fs::write(dir.join("b.tmpl"), "{{ define \"vigil.instances\" }}override {{ len . }}{{ end }}\n").unwrap();
    let library: Vec<Template> = ["a.tmpl", "b.tmpl"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            Template::parse_dialect(name, &text, Dialect::Alertmanager).unwrap()
        })
        .collect();
    let cases = [
        r#"[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}"#,
        r#"{{ template "slack.vigil.title" . }}|{{ template "vigil.instances" .Alerts }}|{{ template "mail.summary" . }}"#,
        r#"{{ range .Alerts }}{{ .Status }} {{ .Labels.SortedPairs }} {{ .Annotations.summary }} {{ .StartsAt }} {{ .EndsAt }} {{ .StartsAt.Format "Mon Jan _2 15:04:05.000 2006" }}
{{ end }}"#,
        r#"{{ .CommonLabels }} {{ .CommonLabels.Names }} {{ .GroupLabels.Values }} {{ .CommonAnnotations }} {{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}"#,
        r#"{{ range $i, $p := .CommonLabels.SortedPairs }}{{ $i }}:{{ $p.Name }}={{ $p.Value | title }} {{ end }}{{ reReplaceAll "(\\w+):(\\d+)" "$2@$1" "db:9100" }} {{ match "^Disk" .CommonLabels.alertname }} {{ stringSlice "a" "b" | join "," }}"#,
        r#"{{ define "local" }}<{{ . }}>{{ end }}{{ template "local" .Receiver }}{{ block "blk" .Status }}[{{ . | toLower }}]{{ end }} {{ printf "%s=%d" .Status (len .Alerts) }}"#,
        // Alertmanager's default templates, which Vigil renders itself.
        r#"{{ template "__subject" . }}|{{ template "slack.default.fallback" . }}|{{ template "pagerduty.default.clientURL" . }}|{{ template "slack.default.pretext" . }}
{{ template "__text_alert_list" .Alerts.Firing }}{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        r#"<p>{{ (index .Alerts 0).Annotations.summary }}</p>{{ "<br>" | safeHtml }}{{ "a+b" }} {{ .Alerts.Firing }}"#,
    ];
    let mut wrong = Vec::new();
    for (i, text) in cases.iter().enumerate() {
        for html in [false, true] {
            let output = Command::new(AMTOOL)
                .args(["template", "render"])
                // Debian's amtool renders without Alertmanager's default
                // templates unless given the file its package ships.
                .arg(format!("--template.glob={DEFAULT_TMPL}"))
                .arg(format!("--template.glob={}/*.tmpl", dir.display()))
                .arg(format!("--template.data={}", dir.join("data.json").display()))
                .arg(format!("--template.text={text}"))
                .arg(format!("--template.type={}", if html { "html" } else { "text" }))
                .output()
                .expect("run amtool template render");
            assert!(output.status.success(), "amtool: {}", String::from_utf8_lossy(&output.stderr));
            let want = String::from_utf8_lossy(&output.stdout).into_owned();
            let template = Template::parse_dialect("t", text, Dialect::Alertmanager).unwrap();
            let got = template.expand_notification(&data, &library, html, 0).unwrap_or_else(|e| e);
            if got != want {
                wrong.push(format!("case {i} (html: {html}):\n  vigil:  {got}\n  amtool: {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
