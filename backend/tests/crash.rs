//! Crash safety: Vigil is killed with SIGKILL at random moments while it
//! ingests a busy target, ten times over, and restarted on the same data
//! folder. Every round it must open, and everything a query saw before the
//! kill (so: committed, acknowledged) must read back the same after it.
//!
//! The block range is one second, so the head is cut into blocks, the WAL
//! checkpointed and blocks compacted all through the rounds: kills land in
//! the middle of all of them.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{free_port, metric, temp_dir};
use serde_json::Value;

const SERIES: usize = 2000;
/// The width of a block: tiny, so blocks are cut every second.
const BLOCK_RANGE: &str = "1s";

/// A target whose 2,000 counters move on every scrape.
async fn start_busy_target() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let scrapes = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let n = scrapes.fetch_add(1, Ordering::Relaxed);
            async move {
                let mut body = String::with_capacity(SERIES * 40);
                body.push_str(&format!("crash_scrapes_total {n}\n"));
                for i in 0..SERIES {
                    body.push_str(&format!("crash_counter_total{{i=\"{i}\"}} {}\n", n * (i as u64 + 1)));
                }
                body
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// A vigil process, killed on drop so a failed assertion leaves none behind.
struct VigilProcess(Child);

impl Drop for VigilProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_vigil(port: u16, config: &std::path::Path, data: &std::path::Path) -> VigilProcess {
    VigilProcess(
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["--log.level", "warn", "--web.listen-address", &format!("127.0.0.1:{port}"), "--config.file"])
            .arg(config)
            .arg("--storage.tsdb.path")
            .arg(data)
            .args(["--storage.tsdb.min-block-duration", BLOCK_RANGE])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vigil"),
    )
}

async fn query_range(port: u16, query: &str, start_ms: i64, end_ms: i64) -> Option<Value> {
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/query_range?query={query}&start={}&end={}&step=0.1",
        start_ms as f64 / 1000.0,
        end_ms as f64 / 1000.0
    );
    let body = reqwest::get(&url).await.ok()?.text().await.ok()?;
    let json: Value = serde_json::from_str(&body).ok()?;
    (json["status"] == "success").then(|| json["data"]["result"].clone())
}

async fn wait_ready(port: u16) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/-/ready")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("vigil did not become ready after a restart: the database did not open");
}

/// A config scraping the busy target every 100 ms, written into `dir`.
fn busy_config(dir: &std::path::Path, target: u16) -> std::path::PathBuf {
    let config = dir.join("vigil.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: busy\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
        ),
    )
    .expect("write the test config");
    config
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[tokio::test]
async fn sigkill_during_ingestion_loses_nothing_acknowledged() {
    let target = start_busy_target().await;
    let dir = temp_dir("vigil-crash");
    let config = busy_config(&dir, target);
    let data = dir.join("data");
    // A small deterministic generator, seeded and printed so a failure can
    // be replayed.
    let mut seed = (now_ms() as u64) | 1;
    eprintln!("crash test seed {seed}");
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let first_ms = now_ms();
    let mut seen: Vec<(i64, i64, Value, Value)> = Vec::new();
    for round in 0..10 {
        let port = free_port();
        let vigil = start_vigil(port, &config, &data);
        wait_ready(port).await;
        // Everything seen in earlier rounds is still there, unchanged.
        for (start, end, scrapes, counter) in &seen {
            let again = query_range(port, "crash_scrapes_total", *start, *end).await;
            assert_eq!(
                again.as_ref(),
                Some(scrapes),
                "round {round}: samples of [{start}, {end}] changed after a SIGKILL"
            );
            let again = query_range(port, "crash_counter_total%7Bi%3D%221999%22%7D", *start, *end).await;
            assert_eq!(again.as_ref(), Some(counter), "round {round}: counter samples of [{start}, {end}] changed");
        }
        // Ingest for a random while, look at what is committed, then kill
        // at a random moment after that. The window looked at ends 500 ms
        // ago: at least 1.2 s of ingestion gives it more than five points.
        tokio::time::sleep(Duration::from_millis(1200 + random(800))).await;
        let end = now_ms() - 500;
        let start = end - 1500;
        let scrapes = query_range(port, "crash_scrapes_total", start, end).await.expect("query before kill");
        let counter =
            query_range(port, "crash_counter_total%7Bi%3D%221999%22%7D", start, end).await.expect("query before kill");
        let points = scrapes[0]["values"].as_array().map_or(0, Vec::len);
        assert!(points > 5, "round {round}: too little was ingested to test anything ({points} points)");
        seen.push((start, end, scrapes, counter));
        tokio::time::sleep(Duration::from_millis(random(400))).await;
        // SAFETY: kill(2) on the PID of a child we spawned.
        assert_eq!(unsafe { libc::kill(vigil.0.id() as i32, libc::SIGKILL) }, 0);
        drop(vigil);
    }
    // A last start: the whole history from the first round is readable.
    let port = free_port();
    let vigil = start_vigil(port, &config, &data);
    wait_ready(port).await;
    let all = query_range(port, "crash_scrapes_total", first_ms, now_ms()).await.expect("final query");
    assert!(all[0]["values"].as_array().map_or(0, Vec::len) > 50);
    drop(vigil);
    // Blocks were cut (and compacted: some are above level 1), and the WAL
    // was checkpointed.
    let mut levels = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        if let Ok(meta) = std::fs::read_to_string(entry.path().join("meta.json")) {
            let meta: Value = serde_json::from_str(&meta).expect("meta.json is JSON");
            levels.push(meta["compaction"]["level"].as_u64().unwrap_or(0));
        }
    }
    assert!(levels.len() >= 2, "too few blocks were cut: {levels:?}");
    assert!(levels.iter().any(|l| *l >= 2), "no block was compacted: {levels:?}");
    let wal: Vec<String> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "the WAL was never checkpointed: {wal:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Block folders (with a meta.json) in a data folder.
fn block_count(data: &std::path::Path) -> usize {
    std::fs::read_dir(data)
        .map_or(0, |entries| entries.flatten().filter(|e| e.path().join("meta.json").exists()).count())
}

#[tokio::test]
async fn data_cut_into_blocks_survives_a_restart_and_answers_range_queries() {
    let target = start_busy_target().await;
    let dir = temp_dir("vigil-blocks");
    let config = busy_config(&dir, target);
    let data = dir.join("data");
    let first_ms = now_ms();
    let port = free_port();
    let vigil = start_vigil(port, &config, &data);
    wait_ready(port).await;
    // Wait for a few blocks to be cut.
    for _ in 0..200 {
        if block_count(&data) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(block_count(&data) >= 3, "no blocks were cut");
    assert!(metric(port, "prometheus_tsdb_blocks_loaded").await.is_some_and(|n| n >= 1.0));
    assert!(metric(port, "prometheus_tsdb_head_truncations_total").await.is_some_and(|n| n >= 1.0));
    let lowest = metric(port, "prometheus_tsdb_lowest_timestamp").await.expect("lowest timestamp");
    assert!(lowest >= first_ms as f64 && lowest < now_ms() as f64, "{lowest}");
    // A range the head no longer holds, and one across blocks and head.
    let old = (first_ms, first_ms + 2000);
    let recent = (now_ms() - 3000, now_ms() - 200);
    let before_old = query_range(port, "crash_scrapes_total", old.0, old.1).await.expect("query blocks");
    let before_recent = query_range(port, "crash_scrapes_total", recent.0, recent.1).await.expect("query");
    let points = |v: &Value| v[0]["values"].as_array().map_or(0, Vec::len);
    assert!(points(&before_old) > 5 && points(&before_recent) > 5, "{before_old} {before_recent}");

    // A clean stop, then a start on the same folder.
    // SAFETY: kill(2) on the PID of a child we spawned.
    assert_eq!(unsafe { libc::kill(vigil.0.id() as i32, libc::SIGTERM) }, 0);
    let mut vigil = vigil;
    let _ = vigil.0.wait();
    drop(vigil);
    let port = free_port();
    let vigil = start_vigil(port, &config, &data);
    wait_ready(port).await;
    assert_eq!(query_range(port, "crash_scrapes_total", old.0, old.1).await.as_ref(), Some(&before_old));
    assert_eq!(query_range(port, "crash_scrapes_total", recent.0, recent.1).await.as_ref(), Some(&before_recent));
    let counter = query_range(port, "crash_counter_total%7Bi%3D%221234%22%7D", old.0, old.1).await.expect("counter");
    assert_eq!(points(&counter), points(&before_old), "every series was kept in the blocks");
    assert!(metric(port, "prometheus_tsdb_blocks_loaded").await.is_some_and(|n| n >= 1.0));
    drop(vigil);
    let _ = std::fs::remove_dir_all(&dir);
}
