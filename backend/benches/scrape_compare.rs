//! Vigil and Debian's Prometheus scrape the same synthetic targets side by
//! side, in the same run, and we compare CPU seconds per million samples and
//! resident memory per series.
//!
//! Run: `cargo bench -p vigil --bench scrape_compare` (needs
//! `/usr/bin/prometheus`: `apt-get install -y prometheus`). Knobs, as
//! environment variables: `TARGETS` (default 20), `SERIES` per target
//! (default 5000), `DURATION_SECONDS` of scraping (default 60); the interval is 1s.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod support;
use support::{Server, env_or, free_port, status_bytes, wait_ready};

fn body(series: usize, tick: u64) -> String {
    let mut out = String::with_capacity(series * 80);
    for i in 0..series {
        let family = i / 50;
        if i % 50 == 0 {
            out.push_str(&format!(
                "# HELP bench_metric_{family} Synthetic family {family}.\n# TYPE bench_metric_{family} counter\n"
            ));
        }
        out.push_str(&format!(
            "bench_metric_{family}_total{{cpu=\"{}\",mode=\"m{}\"}} {}\n",
            i % 50,
            i % 7,
            tick * (i as u64 % 13 + 1)
        ));
    }
    out
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks / hz
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Sums `scrape_samples_scraped` of the bench job over the run: the
/// samples the server says it ingested, counted the same way for both.
fn samples_ingested(port: u16, start: u64, end: u64) -> f64 {
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/query_range?query=scrape_samples_scraped%7Bjob%3D%22bench%22%7D&start={start}&end={end}&step=1"
    );
    let output = Command::new("curl").args(["-s", &url]).output().expect("curl");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let mut total = 0.0;
    for series in json["data"]["result"].as_array().into_iter().flatten() {
        // One point per step at a 1s step and 1s interval: each scrape once.
        let mut last_value = f64::NAN;
        for point in series["values"].as_array().into_iter().flatten() {
            let v: f64 = point[1].as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            let _ = last_value;
            last_value = v;
            total += v;
        }
    }
    total
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let targets = env_or("TARGETS", 20);
    let series = env_or("SERIES", 5000);
    let seconds = env_or("DURATION_SECONDS", 60) as u64;
    assert!(
        std::path::Path::new("/usr/bin/prometheus").exists(),
        "/usr/bin/prometheus is missing: install it with `apt-get install -y prometheus`"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let tick = Arc::new(AtomicU64::new(1));
    let mut addresses = Vec::new();
    for _ in 0..targets {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        addresses.push(format!("'127.0.0.1:{}'", listener.local_addr().expect("addr").port()));
        let tick = Arc::clone(&tick);
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let tick = Arc::clone(&tick);
                async move { body(series, tick.fetch_add(1, Ordering::Relaxed)) }
            }),
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    let dir = std::env::temp_dir().join(format!("vigil-scrape-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("bench.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [{}]\n",
            addresses.join(", ")
        ),
    )
    .expect("write config");

    let vigil = Server::vigil(&config, &dir.join("vigil"));
    let prom_port = free_port();
    let prometheus = Server {
        name: "prometheus",
        child: Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prometheus").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
        port: prom_port,
    };
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
