//! The whole pipeline on a clock the test moves: group_wait, group_interval
//! and repeat_interval over hours of alerting time in seconds of real time,
//! dedup, and a route muted by a time interval.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Alertmanager, Clock};
use crate::notifier;

#[derive(Debug)]
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

type Received = Arc<Mutex<Vec<Value>>>;

async fn sink() -> (String, Received) {
    let received: Received = Arc::default();
    let store = Arc::clone(&received);
    let app = axum::Router::new().fallback(axum::routing::post(move |body: String| {
        let store = Arc::clone(&store);
        async move {
            if let Ok(v) = serde_json::from_str(&body) {
                store.lock().unwrap_or_else(|e| e.into_inner()).push(v);
            }
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn alert(name: &str, starts: i64, ends: i64) -> notifier::Alert {
    notifier::Alert {
        labels: [("alertname".to_owned(), name.to_owned())].into(),
        annotations: Default::default(),
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: String::new(),
    }
}

/// Messages received so far, as (alertname group label, status).
fn messages(received: &Received) -> Vec<(String, String)> {
    received
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|m| {
            (
                m["groupLabels"]["alertname"].as_str().unwrap_or("").to_owned(),
                m["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Waits (real time) until `want` messages arrived, then a little longer to
/// be sure no more come.
async fn expect(received: &Received, want: &[(&str, &str)], when: &str) {
    let want: Vec<(String, String)> = want.iter().map(|(a, s)| ((*a).to_owned(), (*s).to_owned())).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while messages(received).len() < want.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The runtime looks at the clock at least every second.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(messages(received), want, "{when}");
}

#[tokio::test]
async fn group_wait_dedup_repeat_interval_and_mute_intervals_on_a_moved_clock() {
    let (url, received) = sink().await;
    let dir = std::env::temp_dir().join(format!("vigil-am-clock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("am.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n  routes:\n    - matchers: [alertname=Muted]\n      mute_time_intervals: [always]\nreceivers:\n  - name: hook\n    webhook_configs: [{{url: '{url}'}}]\ntime_intervals:\n  - name: always\n    time_intervals: [{{times: [{{start_time: '00:00', end_time: '24:00'}}]}}]\n"
        ),
    )
    .unwrap();
    // 2026-11-25T00:00:00Z
    let t0 = 1_795_564_800_000;
    let clock = Arc::new(ManualClock(AtomicI64::new(t0)));
    let am = Alertmanager::new(&config, Some(&dir), "http://vigil".to_owned(), Arc::clone(&clock) as Arc<dyn Clock>)
        .unwrap();
    tokio::spawn(Arc::clone(&am).run());
    let set = |ms: i64| clock.0.store(ms, Ordering::SeqCst);
    // Prometheus-style: firing alerts end 4 minutes after each send, and
    // are resent every minute while they fire.
    let resend = |now: i64| am.put(vec![alert("Disk", t0, now + 240_000), alert("Muted", t0, now + 240_000)]);

    resend(t0);
    set(t0 + 29_000);
    resend(t0 + 29_000);
    expect(&received, &[], "group_wait not over").await;
    set(t0 + 30_000);
    expect(&received, &[("Disk", "firing")], "after group_wait").await;
    // Nothing changed: the next flush (group_interval) sends nothing.
    let mut now = t0 + 30_000;
    for _ in 0..3 {
        now += 300_000;
        set(now);
        resend(now);
    }
    expect(&received, &[("Disk", "firing")], "deduplicated within the repeat interval").await;
    // Four hours on, the next flush repeats the notification.
    while now < t0 + 30_000 + 4 * 3_600_000 {
        now += 300_000;
        set(now);
        resend(now);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    now += 300_000;
    set(now);
    resend(now);
    expect(&received, &[("Disk", "firing"), ("Disk", "firing")], "after the repeat interval").await;
    // The alert resolves: sent at the next flush.
    am.put(vec![alert("Disk", t0, now + 1000)]);
    set(now + 300_000);
    expect(&received, &[("Disk", "firing"), ("Disk", "firing"), ("Disk", "resolved")], "resolved").await;
    let _ = std::fs::remove_dir_all(&dir);
}
