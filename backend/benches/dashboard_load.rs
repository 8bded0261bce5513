//! Dashboard load time in headless Chromium: from navigation start to
//! `vigil:all-panels-drawn` (the mark the app sets once no panel is still
//! loading), for a 16-panel dashboard of 20 series × 720 points each and a
//! 144-panel one, on synthetic data (`vigil::tsdb::import::synthetic`)
//! imported with `vigil tsdb import`. Also the wasm's size, raw and
//! gzipped, and (with `HEAP_MINUTES`) the JS heap over a stretch of 5 s
//! auto-refresh.
//!
//! `cargo bench -p vigil --bench dashboard_load` after building the UI into
//! `dist/` (`cargo xtask build-ui`); `RUNS` (default 5) loads per variant,
//! `HEAP_MINUTES` (default 0) minutes of refresh to watch the heap.

#[path = "../tests/browser_support/mod.rs"]
mod browser_support;
mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use browser_support::{Browser, panel_reports};
use serde_json::{Value, json};
use support::{Server, env_or, wait_ready};
use vigil::tsdb::import::synthetic::{self, Spec};

/// Panel queries of 20 series each (one per host), cycled over the panels.
const QUERIES: [&str; 4] = [
    "node_memory_usage_bytes",
    "sum by (job, instance) (rate(http_requests_total[5m]))",
    "cpu_temperature_celsius{core=\"0\"}",
    "sum by (job, instance) (rate(http_request_duration_seconds_count[5m]))",
];

/// A dashboard of `panels` time-series panels, `per_row` to a row, each
/// asking for 720 points.
fn dashboard(uid: &str, panels: usize, per_row: u32) -> Value {
    let w = 24 / per_row;
    let list: Vec<Value> = (0..panels)
        .map(|i| {
            let i32 = i as u32;
            json!({
                "id": i + 1,
                "type": "timeseries",
                "title": format!("Panel {}", i + 1),
                "gridPos": {"x": (i32 % per_row) * w, "y": (i32 / per_row) * 8, "w": w, "h": 8},
                "maxDataPoints": 720,
                "targets": [{"refId": "A", "expr": QUERIES[i % QUERIES.len()], "legendFormat": "{{instance}}"}],
            })
        })
        .collect();
    json!({"uid": uid, "title": format!("Bench {panels} panels"), "panels": list, "time": {"from": "now-3h", "to": "now"}})
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The wasm in `dist/`: (raw bytes, gzip -9 bytes).
fn wasm_sizes() -> Option<(u64, u64)> {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    let wasm = std::fs::read_dir(dist)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))?;
    let bytes = std::fs::read(&wasm).ok()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes).ok()?;
    Some((bytes.len() as u64, gz.finish().ok()?.len() as u64))
}

/// Loads `url` and waits for the mark; returns its time after navigation
/// start in ms and the panels' reports.
async fn load_once(browser: &Browser, url: &str, panels: usize) -> (f64, Vec<browser_support::PanelReport>) {
    let driver = &browser.driver;
    // A blank page between runs, so every run is a fresh navigation.
    driver.goto("about:blank").await.expect("blank page");
    driver.goto(url).await.expect("open the dashboard");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mark: Option<f64> = driver
            .execute(
                "const m = performance.getEntriesByName('vigil:all-panels-drawn'); return m.length ? m[0].startTime : null;",
                Vec::new(),
            )
            .await
            .and_then(|v| v.convert())
            .unwrap_or(None);
        if let Some(ms) = mark {
            let reports = panel_reports(driver).await.expect("panel states");
            assert_eq!(reports.len(), panels, "every panel is on the page");
            return (ms, reports);
        }
        assert!(Instant::now() < deadline, "the dashboard never marked vigil:all-panels-drawn");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() {
    let runs = env_or("RUNS", 5).max(1);
    let heap_minutes = env_or("HEAP_MINUTES", 0);
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/index.html").exists(),
        "dist/ has no app: run `cargo xtask build-ui` first, then this bench (vigil embeds dist/ when built)"
    );
    // 4 jobs × 5 instances = 20 hosts, so each query gives 20 series; three
    // hours at 15 s = 720 points each.
    let spec = Spec { duration_s: 3 * 3600, jobs: 4, instances: 5, ..Spec::small() };
    let dir = std::env::temp_dir().join(format!("vigil-dashboard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data = dir.join("data.om");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&data).expect("create data file"));
        synthetic::write_openmetrics(&spec, &mut file).expect("write data file");
        file.flush().expect("flush data file");
    }
    let imported = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["tsdb", "import", "openmetrics"])
        .arg(&data)
        .arg("--storage.tsdb.path")
        .arg(dir.join("vigil"))
        .stderr(Stdio::null())
        .status()
        .expect("run vigil tsdb import");
    assert!(imported.success(), "vigil tsdb import failed");
    let config = dir.join("empty.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").expect("write config");
    let _vigil = Server::vigil(&config, &dir.join("vigil"));
    let port = _vigil.port;
    wait_ready(port, Duration::from_secs(30), Duration::from_millis(50));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for (uid, panels, per_row) in [("bench-16", 16, 4), ("bench-144", 144, 6)] {
        let answer = client
            .post(format!("{base}/api/dashboards/db"))
            .json(&json!({"dashboard": dashboard(uid, panels, per_row), "overwrite": true}))
            .send()
            .await
            .expect("create dashboard");
        assert!(answer.status().is_success(), "creating {uid} failed: {:?}", answer.text().await);
    }
    // The data's own three hours, as an absolute range in ms.
    let (from, to) = (spec.start_s * 1000, (spec.start_s + spec.duration_s) * 1000);

    let browser = Browser::start(1600, 1000).await.expect("start Chromium");
    println!(
        "dashboard load, navigation start to vigil:all-panels-drawn, {runs} runs each (headless Chromium, 1600×1000):"
    );
    for (uid, panels) in [("bench-16", 16), ("bench-144", 144)] {
        let url = format!("{base}/d/{uid}?from={from}&to={to}");
        // One unmeasured load warms the server's caches and the browser's.
        load_once(&browser, &url, panels).await;
        let mut times = Vec::new();
        let mut series = 0;
        let mut points = 0;
        for _ in 0..runs {
            let (ms, reports) = load_once(&browser, &url, panels).await;
            assert!(reports.iter().all(|r| r.1 == "drawn"), "every panel drew: {reports:?}");
            series = reports.iter().map(|r| r.2).sum::<u64>();
            points = reports.iter().map(|r| r.3).sum::<u64>();
            times.push(ms);
        }
        let (min, max) =
            (times.iter().copied().fold(f64::INFINITY, f64::min), times.iter().copied().fold(0.0, f64::max));
        println!(
            "  {panels:>3} panels ({series} series, {points} points drawn): median {:.0} ms, min {min:.0} ms, max {max:.0} ms",
            median(&mut times)
        );
    }
    match wasm_sizes() {
        Some((raw, gz)) => println!("wasm: {:.0} KiB raw, {:.0} KiB gzip -9", raw as f64 / 1024.0, gz as f64 / 1024.0),
        None => println!("wasm: not found in dist/"),
    }

    if heap_minutes > 0 {
        // 5 s auto-refresh: every panel re-fetched and redrawn each time.
        let url = format!("{base}/d/bench-16?from={from}&to={to}&refresh=5s");
        browser.driver.goto(&url).await.expect("open the dashboard");
        println!("JS heap with 5 s auto-refresh (16 panels), after a forced GC:");
        let started = Instant::now();
        for minute in 0..=heap_minutes {
            let target = Duration::from_secs(60 * minute as u64);
            if let Some(wait) = target.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            let used: f64 = browser
                .driver
                .execute("if (window.gc) { gc(); } return performance.memory.usedJSHeapSize;", Vec::new())
                .await
                .and_then(|v| v.convert())
                .unwrap_or(f64::NAN);
            println!("  {minute:>2} min: {:.1} MiB", used / 1048576.0);
        }
    }
    browser.quit().await;
    let _ = std::fs::remove_dir_all(&dir);
}
