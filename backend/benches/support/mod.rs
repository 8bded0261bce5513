//! What the side-by-side benchmarks share: free ports, server processes
//! killed by PID, readiness checks and `/proc` readings. A folder module, so
//! Cargo does not take it for a benchmark of its own.

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
        let port = free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["--log.level", "error", "--web.listen-address", &format!("127.0.0.1:{port}"), "--config.file"])
            .arg(config)
            .arg("--storage.tsdb.path")
            .arg(data)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start vigil");
        Server { name: "vigil", child, port }
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
