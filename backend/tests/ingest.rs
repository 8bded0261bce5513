//! Ingestion behaviour seen from outside, as Prometheus behaves: the
//! out-of-order window set in `prometheus.yml` (and changed by a reload),
//! and no staleness markers written by a clean stop.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Vigil, eventually, free_port, metric, query_value, temp_dir};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A target exposing one series with an explicit timestamp that goes one
/// second further back on every scrape: every sample after the first is
/// out of order.
async fn start_backwards_target(first_ms: i64) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let next = Arc::new(AtomicI64::new(first_ms));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let t = next.fetch_sub(1000, Ordering::Relaxed);
            async move { format!("backwards_value {} {t}\n", t / 1000) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

fn config(target: u16, window: &str) -> String {
    format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nstorage:\n  tsdb:\n    out_of_order_time_window: {window}\nscrape_configs:\n  - job_name: backwards\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    )
}

#[tokio::test]
async fn the_out_of_order_window_comes_from_the_config_and_reloads() {
    let first = now_ms();
    let target = start_backwards_target(first).await;
    let dir = temp_dir("vigil-ooo");
    let config_path = dir.join("vigil.yml");
    std::fs::write(&config_path, config(target, "10m")).unwrap();
    let port = free_port();
    let vigil = Vigil::start_with_config_file(port, &config_path);

    // Within the window: accepted, counted, and queryable at their times.
    let appended = "prometheus_tsdb_head_out_of_order_samples_appended_total";
    eventually(Duration::from_secs(20), "out-of-order samples accepted", || async {
        metric(port, appended).await.filter(|n| *n >= 3.0)
    })
    .await;
    let second_back = (first - 2000) as f64 / 1000.0;
    assert_eq!(query_value(port, "backwards_value", second_back).await, Some(second_back.floor()));
    assert_eq!(metric(port, "prometheus_tsdb_out_of_order_samples_total").await, Some(0.0));

    // A reload turns the window off: they are refused and counted.
    std::fs::write(&config_path, config(target, "0s")).unwrap();
    let response = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.expect("POST /-/reload");
    assert_eq!(response.status(), 200);
    eventually(Duration::from_secs(20), "out-of-order samples refused", || async {
        metric(port, "prometheus_tsdb_out_of_order_samples_total").await.filter(|n| *n >= 2.0)
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Prometheus writes no staleness markers when it shuts down: its scrape
/// loops see the server's context cancelled and "presume the server is
/// shutting down and will restart where it was" (scrape.go,
/// `endOfRunStaleness`). So after a restart, the last value before the stop
/// is still the value at the moment of the stop.
#[tokio::test]
async fn a_clean_stop_writes_no_staleness_markers() {
    let dir = temp_dir("vigil-clean-stop");
    let config_path = dir.join("vigil.yml");
    let port = free_port();
    std::fs::write(&config_path, Vigil::self_scrape_config(port)).unwrap();
    let data = dir.join("data");
    let mut vigil = Vigil::start_with_flags_in(port, &config_path, &data, &[]);
    let up = || async move { query_value(port, "up{job=\"vigil\"}", now_ms() as f64 / 1000.0).await };
    eventually(Duration::from_secs(20), "a scrape of itself", || async { up().await.filter(|v| *v == 1.0) }).await;

    // SAFETY: kill(2) with a PID we spawned and a valid signal number.
    assert_eq!(unsafe { libc::kill(vigil.child.id() as i32, libc::SIGTERM) }, 0);
    let status = vigil.child.wait().expect("wait for vigil");
    assert!(status.success(), "a clean stop exits 0: {status}");
    let stopped = now_ms() as f64 / 1000.0 + 0.1;
    drop(vigil);

    let _restarted = Vigil::start_with_flags_in(port, &config_path, &data, &[]);
    // A staleness marker written at the stop would end `up` there.
    assert_eq!(query_value(port, "up{job=\"vigil\"}", stopped).await, Some(1.0));
    let _ = std::fs::remove_dir_all(&dir);
}
