//! The notifier against local HTTP sinks: what it posts, batching, the
//! bounded queue, and that a dead or slow Alertmanager costs the sender
//! nothing and shows in the counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use super::*;
use crate::config::Config;

/// A fake Alertmanager: records every request body, answers after `delay`
/// with `status`.
#[derive(Clone)]
struct Sink {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    delay: Duration,
    status: StatusCode,
}

async fn receive(State(sink): State<Sink>, body: String) -> StatusCode {
    tokio::time::sleep(sink.delay).await;
    if let Ok(json) = serde_json::from_str(&body) {
        lock(&sink.bodies).push(json);
    }
    sink.status
}

/// Starts a sink on 127.0.0.1 and returns its address and bodies.
async fn start_sink(delay: Duration, status: StatusCode) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink { bodies: Arc::clone(&bodies), delay, status };
    let app = Router::new().route("/prefix/api/v2/alerts", post(receive)).with_state(sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, bodies)
}

fn config(text: &str) -> Config {
    Config::parse(text, std::path::Path::new("test.yml")).unwrap()
}

fn alert(name: &str, instance: &str) -> Alert {
    Alert {
        labels: BTreeMap::from([
            ("alertname".to_owned(), name.to_owned()),
            ("instance".to_owned(), instance.to_owned()),
        ]),
        annotations: BTreeMap::from([("summary".to_owned(), format!("{instance} is down"))]),
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: 1_700_000_240_500,
        generator_url: "http://h:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1".to_owned(),
    }
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn posts_v2_alerts_with_external_labels_and_relabeling_in_batches() {
    let (address, bodies) = start_sink(Duration::ZERO, StatusCode::OK).await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&format!(
            r#"
global:
  external_labels: {{cluster: eu, instance: from-external}}
alerting:
  alert_relabel_configs:
    - source_labels: [alertname]
      regex: Dropped
      action: drop
  alertmanagers:
    - path_prefix: /prefix/
      static_configs:
        - targets: ['{address}']
      alert_relabel_configs:
        - target_label: via
          replacement: am1
"#
        )))
        .unwrap();
    let url = format!("http://{address}/prefix/api/v2/alerts");
    assert_eq!(notifier.alertmanagers(), vec![url.clone()]);
    let mut alerts: Vec<Alert> = (0..100).map(|i| alert("Down", &format!("h{i:03}"))).collect();
    alerts.push(alert("Dropped", "x"));
    notifier.send(alerts);
    let counts = wait_for("100 alerts sent", || {
        let c = notifier.metrics().counts(&url);
        (c.sent == 100).then_some(c)
    })
    .await;
    assert_eq!(counts, AmCounts { sent: 100, errors: 0, dropped: 0, queue_length: 0 });
    let bodies = lock(&bodies).clone();
    let sizes: Vec<usize> = bodies.iter().map(|b| b.as_array().map_or(0, Vec::len)).collect();
    assert_eq!(sizes, vec![64, 36], "batches of at most 64");
    assert_eq!(
        bodies[0][0],
        serde_json::json!({
            // The alert's own instance wins over the external label.
            "labels": {"alertname": "Down", "instance": "h000", "cluster": "eu", "via": "am1"},
            "annotations": {"summary": "h000 is down"},
            "startsAt": "2023-11-14T22:13:20Z",
            "endsAt": "2023-11-14T22:17:20.5Z",
            "generatorURL": "http://h:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        })
    );
    let metrics = {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(NotifierCollector(notifier.metrics())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    };
    for line in [
        format!("prometheus_notifications_sent_total{{alertmanager=\"{url}\"}} 100"),
        format!("prometheus_notifications_errors_total{{alertmanager=\"{url}\"}} 0"),
        format!("prometheus_notifications_queue_length{{alertmanager=\"{url}\"}} 0"),
        "prometheus_notifications_queue_capacity 10000".to_owned(),
        "prometheus_notifications_alertmanagers_discovered 1".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing {line:?} in\n{metrics}");
    }
    notifier.stop().await;
}

#[tokio::test]
async fn a_dead_or_slow_alertmanager_blocks_neither_the_sender_nor_the_others() {
    let (good, good_bodies) = start_sink(Duration::ZERO, StatusCode::OK).await;
    let (slow, _) = start_sink(Duration::from_secs(5), StatusCode::OK).await;
    let (failing, _) = start_sink(Duration::ZERO, StatusCode::INTERNAL_SERVER_ERROR).await;
    // A port nobody listens on.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&format!(
            r#"
alerting:
  alertmanagers:
    - path_prefix: /prefix
      timeout: 300ms
      static_configs:
        - targets: ['{dead}', '{slow}', '{failing}', '{good}']
"#
        )))
        .unwrap();
    let started = Instant::now();
    for i in 0..5 {
        notifier.send(vec![alert("Down", &format!("h{i}"))]);
    }
    assert!(started.elapsed() < Duration::from_millis(100), "send only queues: {:?}", started.elapsed());
    let url = |a: &str| format!("http://{a}/prefix/api/v2/alerts");
    wait_for("the good one got all five", || (notifier.metrics().counts(&url(&good)).sent == 5).then_some(())).await;
    assert_eq!(lock(&good_bodies).iter().map(|b| b.as_array().map_or(0, Vec::len)).sum::<usize>(), 5);
    for bad in [&dead, &slow, &failing] {
        let counts = wait_for("errors counted", || {
            let c = notifier.metrics().counts(&url(bad));
            (c.errors == 5).then_some(c)
        })
        .await;
        assert_eq!((counts.sent, counts.dropped), (0, 5), "{bad}");
    }
    notifier.stop().await;
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_alerts() {
    let (address, bodies) = start_sink(Duration::ZERO, StatusCode::OK).await;
    let notifier = Notifier::new(NotifierOptions { queue_capacity: 3, max_batch_size: 64, drain_on_shutdown: true });
    notifier
        .apply_config(&config(&format!(
            "alerting:\n  alertmanagers:\n    - path_prefix: prefix\n      static_configs: [{{targets: ['{address}']}}]\n"
        )))
        .unwrap();
    let url = format!("http://{address}/prefix/api/v2/alerts");
    // One call with five alerts: the first two do not fit.
    notifier.send((0..5).map(|i| alert("Down", &format!("h{i}"))).collect());
    wait_for("three sent", || (notifier.metrics().counts(&url).sent == 3).then_some(())).await;
    let counts = notifier.metrics().counts(&url);
    assert_eq!((counts.dropped, counts.errors), (2, 0));
    let instances: Vec<String> = lock(&bodies)
        .iter()
        .flat_map(|b| b.as_array().cloned().unwrap_or_default())
        .map(|a| a["labels"]["instance"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(instances, ["h2", "h3", "h4"]);
    notifier.stop().await;
}

#[test]
fn alertmanager_urls_follow_prometheus() {
    let cases = [
        (
            "static_configs: [{targets: ['a:9093', 'b:9093']}]",
            Ok(vec!["http://a:9093/api/v2/alerts", "http://b:9093/api/v2/alerts"]),
        ),
        (
            "scheme: https\n      path_prefix: /am/\n      static_configs: [{targets: ['a:9093']}]",
            Ok(vec!["https://a:9093/am/api/v2/alerts"]),
        ),
        (
            "static_configs: [{targets: ['a:9093', 'b:9093']}]\n      relabel_configs: [{source_labels: [__address__], regex: 'b:.*', action: drop}]",
            Ok(vec!["http://a:9093/api/v2/alerts"]),
        ),
        ("static_configs: [{targets: ['a:9093/x']}]", Err(())),
    ];
    for (text, want) in cases {
        let config = config(&format!("alerting:\n  alertmanagers:\n    - {text}\n"));
        let got = alertmanager_urls(&config.alerting.alertmanagers[0]).map_err(|_| ());
        let want = want.map(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>());
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn bad_alerting_sections_are_refused_with_their_line() {
    let cases = [
        (
            "alerting:\n  alertmanagers:\n    - api_version: v1\n",
            "test.yml:3:1: expected Alertmanager api version to be one of [v2] but got \"v1\"",
        ),
        (
            "alerting:\n  alertmanagers:\n    - scheme: ftp\n",
            "test.yml:3:1: invalid Alertmanager scheme \"ftp\": must be http or https",
        ),
        (
            "alerting:\n  alertmanagers:\n    - timeout: soon\n",
            "test.yml:3:7: alerting.alertmanagers[0]: not a valid duration string: \"soon\"",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse(text, std::path::Path::new("test.yml")).unwrap_err().to_string();
        assert_eq!(err, want, "{text}");
    }
}
