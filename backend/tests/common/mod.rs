//! Starting a real `vigil` process for integration tests: on 127.0.0.1, on
//! a free port, with its own config and data folder, stopped by PID on drop.

#![allow(dead_code)] // Each test binary uses a different part.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    listener.local_addr().expect("local address").port()
}

/// A running Vigil, killed when dropped.
pub struct Vigil {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Vigil {
    /// Starts Vigil scraping itself every second and waits until it is ready.
    pub fn start_scraping_itself() -> Vigil {
        let port = free_port();
        Vigil::start(port, &Vigil::self_scrape_config(port))
    }

    pub fn start(port: u16, config: &str) -> Vigil {
        let dir = temp_dir("vigil-it");
        let config_path = dir.join("vigil.yml");
        std::fs::write(&config_path, config).expect("write test config");
        Vigil::start_in(port, &config_path, dir)
    }

    /// Starts Vigil with a given config file and storage folder.
    pub fn start_with_args(config_path: &std::path::Path, data: &std::path::Path) -> Vigil {
        Vigil::spawn(free_port(), config_path, data, temp_dir("vigil-it"))
    }

    /// Starts Vigil on a config file the test keeps editing.
    pub fn start_with_config_file(port: u16, config_path: &std::path::Path) -> Vigil {
        Vigil::start_in(port, config_path, temp_dir("vigil-it"))
    }

    fn start_in(port: u16, config_path: &std::path::Path, dir: PathBuf) -> Vigil {
        let data = dir.join("data");
        Vigil::spawn(port, config_path, &data, dir)
    }

    /// As [`Vigil::start`], with extra command-line flags.
    pub fn start_with_flags(port: u16, config: &str, flags: &[&str]) -> Vigil {
        let dir = temp_dir("vigil-it");
        let config_path = dir.join("vigil.yml");
        std::fs::write(&config_path, config).expect("write test config");
        let data = dir.join("data");
        Vigil::spawn_with(port, &config_path, &data, dir, flags)
    }

    /// Starts Vigil on a config file and storage folder the test keeps (so
    /// it can be restarted on them), with extra flags.
    pub fn start_with_flags_in(
        port: u16,
        config_path: &std::path::Path,
        data: &std::path::Path,
        flags: &[&str],
    ) -> Vigil {
        Vigil::spawn_with(port, config_path, data, temp_dir("vigil-it"), flags)
    }

    /// The self-scraping configuration of [`Vigil::start_scraping_itself`].
    pub fn self_scrape_config(port: u16) -> String {
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        )
    }

    /// Starts the binary on 127.0.0.1:`port` and waits until it is ready;
    /// `dir` is removed when the returned value is dropped.
    fn spawn(port: u16, config_path: &std::path::Path, data: &std::path::Path, dir: PathBuf) -> Vigil {
        Vigil::spawn_with(port, config_path, data, dir, &[])
    }

    fn spawn_with(
        port: u16,
        config_path: &std::path::Path,
        data: &std::path::Path,
        dir: PathBuf,
        flags: &[&str],
    ) -> Vigil {
        let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(flags)
            .arg("--config.file")
            .arg(config_path)
            .arg("--storage.tsdb.path")
            .arg(data)
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the vigil binary");
        let vigil = Vigil { child, port, dir };
        vigil.wait_ready(Duration::from_secs(20));
        vigil
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
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
        panic!("vigil on port {} did not become ready within {timeout:?}", self.port);
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh, empty folder under the system temp dir.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let unique = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    let dir = std::env::temp_dir().join(unique);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Polls `check` until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A sample value from a server's `/metrics` (no labels), if there.
pub async fn metric(port: u16, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The value of the first series an instant query at `time` (seconds)
/// returns; `None` when it returns none or fails.
pub async fn query_value(port: u16, query: &str, time: f64) -> Option<f64> {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let response = reqwest::Client::new()
        .get(url)
        .query(&[("query", query.to_owned()), ("time", format!("{time:.3}"))])
        .send()
        .await
        .ok()?;
    let json: serde_json::Value = response.json().await.ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}
