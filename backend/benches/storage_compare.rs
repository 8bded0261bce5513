//! Vigil and Debian's Prometheus store the same synthetic targets side by
//! side, in the same run, with short blocks so both cut and compact blocks
//! within minutes; then both are stopped and started again on their data.
//! Reported for each: CPU seconds per million samples, RSS per active
//! series, WAL bytes per sample held in the WAL, bytes per sample in blocks
//! (after cutting and compaction) and restart time (WAL replay until
//! `/-/ready` and a query sees the last scrape).
//!
//! Run: `cargo bench -p vigil --bench storage_compare` (needs
//! `/usr/bin/prometheus`: `apt-get install -y prometheus`). Knobs:
//! `TARGETS` (default 10), `SERIES` per target (default 10000),
//! `DURATION_SECONDS` (default 420), `BLOCK_SECONDS`, the minimum block
//! duration of both (default 60; Prometheus's hidden
//! `--storage.tsdb.min-block-duration`); the scrape interval is 1s.

use std::path::Path;
use std::time::{Duration, Instant};

mod support;
use support::{
    Server, Targets, cpu_seconds, dir_bytes, env_or, instant_query, samples_ingested, status_bytes, wait_ready,
};

/// Samples and bytes of every block folder (a ULID-named folder with a
/// `meta.json`) directly under `dir`.
fn block_totals(dir: &Path) -> (u64, u64, usize) {
    let (mut samples, mut bytes, mut blocks) = (0, 0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let meta = entry.path().join("meta.json");
        let Ok(text) = std::fs::read_to_string(&meta) else { continue };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        samples += json["stats"]["numSamples"].as_u64().unwrap_or(0);
        bytes += dir_bytes(&entry.path());
        blocks += 1;
    }
    (samples, bytes, blocks)
}

/// Sends SIGTERM (a clean stop) and waits for the process to exit.
fn stop(server: &mut Server) {
    // SAFETY: kill only sends a signal to a child this bench started.
    unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = server.child.wait();
}

/// Time from spawning until `/-/ready` answers and an instant query at
/// `at` (seconds) sees the bench job's `up` series.
fn time_to_serve(start: impl FnOnce() -> Server, at: u64) -> (Server, Duration) {
    let began = Instant::now();
    let server = start();
    wait_ready(server.port, Duration::from_secs(600), Duration::from_millis(20));
    while instant_query(server.port, "up{job=\"bench\"}", at) == 0 {
        assert!(began.elapsed() < Duration::from_secs(600), "{} never served the last scrape", server.name);
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, began.elapsed())
}

fn main() {
    let targets = env_or("TARGETS", 10);
    let series = env_or("SERIES", 10_000);
    let seconds = env_or("DURATION_SECONDS", 420) as u64;
    let block = env_or("BLOCK_SECONDS", 60);
    let serving = Targets::start(targets, series);
    let dir = std::env::temp_dir().join(format!("vigil-storage-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = serving.write_config(&dir);
    let block_flag = format!("--storage.tsdb.min-block-duration={block}s");
    let (vigil_dir, prom_dir) = (dir.join("vigil"), dir.join("prometheus"));
    let start_vigil = || Server::vigil_with(&config, &vigil_dir, &[&block_flag]);
    let start_prometheus = || Server::prometheus(&config, &prom_dir, &[&block_flag]);
    let mut vigil = start_vigil();
    let mut prometheus = start_prometheus();
    wait_ready(vigil.port, Duration::from_secs(30), Duration::from_millis(100));
    wait_ready(prometheus.port, Duration::from_secs(30), Duration::from_millis(100));
    let cpu0: Vec<f64> = [&vigil, &prometheus].iter().map(|s| cpu_seconds(s.child.id())).collect();
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    eprintln!("{targets} targets x {series} series every 1s for {seconds}s, {block}s blocks, both servers...");
    std::thread::sleep(Duration::from_secs(seconds));
    let end = start + seconds;
    let series_total = (targets * (series + 5)) as f64;

    struct Row {
        cpu_per_million: f64,
        rss_per_series: f64,
        wal_per_sample: f64,
        block_per_sample: f64,
        restart: Duration,
    }
    let mut rows = Vec::new();
    let mut measured = Vec::new();
    for (server, cpu0) in [(&vigil, cpu0[0]), (&prometheus, cpu0[1])] {
        let cpu = cpu_seconds(server.child.id()) - cpu0;
        let rss = status_bytes(server.child.id(), "VmRSS");
        let samples = samples_ingested(server.port, start + 1, end - 1);
        measured.push((cpu, rss, samples));
    }
    // Stop both, so the WAL and the blocks are what the restart reads.
    let last_scrape = end.saturating_sub(2);
    stop(&mut vigil);
    stop(&mut prometheus);
    let mut disk = Vec::new();
    for data in [&vigil_dir, &prom_dir] {
        let (block_samples, block_bytes, blocks) = block_totals(data);
        let wal_bytes = dir_bytes(&data.join("wal"));
        disk.push((block_samples, block_bytes, blocks, wal_bytes));
    }
    // One at a time, so neither slows the other's replay.
    let (vigil, vigil_restart) = time_to_serve(start_vigil, last_scrape);
    drop(vigil);
    let (prometheus, prom_restart) = time_to_serve(start_prometheus, last_scrape);
    drop(prometheus);

    println!(
        "| server | CPU s | samples | CPU s per million samples | RSS bytes per series | blocks | samples in blocks | block bytes per sample | WAL bytes | WAL bytes per sample not in blocks | restart s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, name) in ["vigil", "prometheus"].iter().enumerate() {
        let (cpu, rss, samples) = measured[i];
        let (block_samples, block_bytes, blocks, wal_bytes) = disk[i];
        let restart = if i == 0 { vigil_restart } else { prom_restart };
        // The WAL holds what no block holds yet (checkpoints drop the rest).
        let in_wal = (samples - block_samples as f64).max(1.0);
        let row = Row {
            cpu_per_million: cpu / (samples / 1e6),
            rss_per_series: rss / series_total,
            wal_per_sample: wal_bytes as f64 / in_wal,
            block_per_sample: block_bytes as f64 / (block_samples.max(1) as f64),
            restart,
        };
        println!(
            "| {name} | {cpu:.2} | {samples:.0} | {:.3} | {:.0} | {blocks} | {block_samples} | {:.2} | {wal_bytes} | {:.1} | {:.2} |",
            row.cpu_per_million,
            row.rss_per_series,
            row.block_per_sample,
            row.wal_per_sample,
            row.restart.as_secs_f64()
        );
        rows.push(row);
    }
    let (v, p) = (&rows[0], &rows[1]);
    println!(
        "\nratios vigil/prometheus ({targets} targets x {series} series, {seconds}s, {block}s blocks): \
         CPU per sample {:.2}x (goal <= 0.5), RSS per series {:.2}x (goal <= 0.5), \
         block bytes per sample {:.2}x (goal <= 0.8), WAL bytes per sample {:.2}x, restart {:.2}x (goal <= 0.5)",
        v.cpu_per_million / p.cpu_per_million,
        v.rss_per_series / p.rss_per_series,
        v.block_per_sample / p.block_per_sample,
        v.wal_per_sample / p.wal_per_sample,
        v.restart.as_secs_f64() / p.restart.as_secs_f64()
    );
    drop(serving);
    let _ = std::fs::remove_dir_all(&dir);
}
