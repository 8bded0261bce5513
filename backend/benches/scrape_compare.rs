//! Vigil and Debian's Prometheus scrape the same synthetic targets side by
//! side, in the same run, and we compare CPU seconds per million samples and
//! resident memory per series.
//!
//! Run: `cargo bench -p vigil --bench scrape_compare` (needs
//! `/usr/bin/prometheus`: `apt-get install -y prometheus`). Knobs, as
//! environment variables: `TARGETS` (default 20), `SERIES` per target
//! (default 5000), `DURATION_SECONDS` of scraping (default 60); the interval is 1s.

use std::time::Duration;

mod support;
use support::{Server, Targets, cpu_seconds, dir_bytes, env_or, samples_ingested, status_bytes, wait_ready};

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let targets = env_or("TARGETS", 20);
    let series = env_or("SERIES", 5000);
    let seconds = env_or("DURATION_SECONDS", 60) as u64;
    let serving = Targets::start(targets, series);
    let dir = std::env::temp_dir().join(format!("vigil-scrape-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = serving.write_config(&dir);
    let vigil = Server::vigil(&config, &dir.join("vigil"));
    let prometheus = Server::prometheus(&config, &dir.join("prometheus"), &[]);
    wait_ready(vigil.port, Duration::from_secs(30), Duration::from_millis(100));
    wait_ready(prometheus.port, Duration::from_secs(30), Duration::from_millis(100));
    let started_cpu: Vec<f64> = [&vigil, &prometheus].iter().map(|s| cpu_seconds(s.child.id())).collect();
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    eprintln!("scraping {targets} targets x {series} series every 1s for {seconds}s with both servers...");
    std::thread::sleep(Duration::from_secs(seconds));
    let end = start + seconds;

    println!(
        "| server | CPU s | samples ingested | CPU s per million samples | RSS MiB | RSS bytes per series | WAL bytes per sample |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut per_million = Vec::new();
    let mut per_series = Vec::new();
    let wal_dirs = [dir.join("vigil").join("wal"), dir.join("prometheus").join("wal")];
    for ((server, cpu0), wal_dir) in [&vigil, &prometheus].iter().zip(started_cpu).zip(&wal_dirs) {
        let cpu = cpu_seconds(server.child.id()) - cpu0;
        let rss = status_bytes(server.child.id(), "VmRSS");
        let samples = samples_ingested(server.port, start + 1, end - 1);
        let series_total = (targets * (series + 5)) as f64;
        per_million.push(cpu / (samples / 1e6));
        per_series.push(rss / series_total);
        // Both WALs hold every sample of the run (neither has compacted
        // into blocks within a minute), so bytes per sample compare directly.
        let wal = dir_bytes(wal_dir) as f64;
        println!(
            "| {} | {cpu:.2} | {samples:.0} | {:.3} | {:.0} | {:.0} | {:.1} |",
            server.name,
            cpu / (samples / 1e6),
            rss / 1048576.0,
            rss / series_total,
            wal / samples
        );
    }
    println!(
        "\nratio vigil/prometheus: CPU per sample {:.2}x, RSS per series {:.2}x ({targets} targets x {series} series, {seconds}s, 1s interval)",
        per_million[0] / per_million[1],
        per_series[0] / per_series[1]
    );
    drop(vigil);
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&dir);
}
