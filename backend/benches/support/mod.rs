//! What the side-by-side benchmarks share: free ports, server processes
//! killed by PID, readiness checks and `/proc` readings. A folder module, so
//! Cargo does not take it for a benchmark of its own.
#![allow(dead_code)] // Each bench uses a different part.

use std::io::{Read as _, Write as _};
use std::process::Child;
use std::time::{Duration, Instant};

/// A whole number from the environment, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A port nothing listens on now, on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A server process, killed by PID on drop.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// The `vigil` binary of this build on a free port, with `config` and
    /// the storage in `data`, logging only errors.
    pub fn vigil(config: &std::path::Path, data: &std::path::Path) -> Server {
        Server::vigil_with(config, data, &[])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `/-/ready` on `port` answers 200 (Vigil and Prometheus both
/// serve it), polling every `poll`; panics after `limit`.
pub fn wait_ready(port: u16, limit: Duration, poll: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /-/ready HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.contains(" 200 ") {
                return;
            }
        }
        std::thread::sleep(poll);
    }
    panic!("server on port {port} never became ready");
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`, …) in bytes; 0 if
/// the process or the field is gone.
pub fn status_bytes(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb * 1024.0)
}

impl Server {
    /// [`Server::vigil`] with extra flags.
    pub fn vigil_with(config: &std::path::Path, data: &std::path::Path, extra: &[&str]) -> Server {
        let port = free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["--log.level", "error", "--web.listen-address", &format!("127.0.0.1:{port}"), "--config.file"])
            .arg(config)
            .arg("--storage.tsdb.path")
            .arg(data)
            .args(extra)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start vigil");
        Server { name: "vigil", child, port }
    }

    /// Debian's `/usr/bin/prometheus` on a free port, with `config`, the
    /// storage in `data` and `extra` flags, logging only errors.
    pub fn prometheus(config: &std::path::Path, data: &std::path::Path, extra: &[&str]) -> Server {
        assert!(
            std::path::Path::new("/usr/bin/prometheus").exists(),
            "/usr/bin/prometheus is missing: install it with `apt-get install -y prometheus`"
        );
        let port = free_port();
        let child = std::process::Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus");
        Server { name: "prometheus", child, port }
    }
}

/// A `/metrics` body of `series` counters in 50-series families, moving
/// with `tick` (the synthetic target of the scraping benches).
pub fn synthetic_body(series: usize, tick: u64) -> String {
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

/// Synthetic targets served on 127.0.0.1 by a runtime of their own, for as
/// long as this lives.
pub struct Targets {
    _runtime: tokio::runtime::Runtime,
    addresses: Vec<String>,
}

impl Targets {
    /// `count` targets of `series` series each.
    pub fn start(count: usize, series: usize) -> Targets {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let tick = Arc::new(AtomicU64::new(1));
        let mut addresses = Vec::new();
        for _ in 0..count {
            let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
            addresses.push(format!("'127.0.0.1:{}'", listener.local_addr().expect("addr").port()));
            let tick = Arc::clone(&tick);
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let tick = Arc::clone(&tick);
                    async move { synthetic_body(series, tick.fetch_add(1, Ordering::Relaxed)) }
                }),
            );
            runtime.spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
        }
        Targets { _runtime: runtime, addresses }
    }

    /// Writes `bench.yml` into `dir`: job `bench` scraping every target
    /// every second; returns its path.
    pub fn write_config(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let config = dir.join("bench.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [{}]\n",
                self.addresses.join(", ")
            ),
        )
        .expect("write config");
        config
    }
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
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
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
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

fn get_json(port: u16, path_and_query: &str) -> serde_json::Value {
    let url = format!("http://127.0.0.1:{port}{path_and_query}");
    let output = std::process::Command::new("curl").args(["-s", &url]).output().expect("curl");
    serde_json::from_slice(&output.stdout).unwrap_or_default()
}

/// Sums `scrape_samples_scraped` of the bench job over the run: the
/// samples the server says it ingested, counted the same way for both.
pub fn samples_ingested(port: u16, start: u64, end: u64) -> f64 {
    let json = get_json(
        port,
        &format!(
            "/api/v1/query_range?query=scrape_samples_scraped%7Bjob%3D%22bench%22%7D&start={start}&end={end}&step=1"
        ),
    );
    let mut total = 0.0;
    for series in json["data"]["result"].as_array().into_iter().flatten() {
        // One point per step at a 1s step and 1s interval: each scrape once.
        for point in series["values"].as_array().into_iter().flatten() {
            total += point[1].as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        }
    }
    total
}

/// The number of series an instant query at `at` (seconds) returns; 0 on
/// any failure.
pub fn instant_query(port: u16, query: &str, at: u64) -> usize {
    let mut encoded = String::new();
    for b in query.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => encoded.push(b as char),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    let json = get_json(port, &format!("/api/v1/query?query={encoded}&time={at}"));
    json["data"]["result"].as_array().map_or(0, Vec::len)
}
