//! Scraping real HTTP and HTTPS servers the way users' targets behave:
//! basic auth and bearer tokens (inline and from files), gzip bodies, TLS
//! with a private CA and client certificates (Debian's `openssl s_server`),
//! and the errors a target shows when any of it is wrong.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use common::{Vigil, eventually, free_port, temp_dir};
use serde_json::Value;

const BODY: &str = "# TYPE test_metric gauge\ntest_metric{kind=\"auth\"} 42\n";

/// A target that wants `Authorization` to be exactly one of the accepted
/// values, and gzips its answer when asked to.
async fn start_auth_target() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|headers: HeaderMap| async move {
            // What Prometheus 2.42 sends (scrape/scrape.go, acceptHeader),
            // so targets that negotiate on it answer Vigil the same way.
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            if accept
                != "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            {
                return (StatusCode::NOT_ACCEPTABLE, format!("unexpected Accept: {accept}")).into_response();
            }
            if headers.get("X-Prometheus-Scrape-Timeout-Seconds").and_then(|v| v.to_str().ok()) != Some("1") {
                return (StatusCode::BAD_REQUEST, "missing X-Prometheus-Scrape-Timeout-Seconds: 1").into_response();
            }
            let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
            // "user:secret" and "Bearer token-123".
            if auth != "Basic dXNlcjpzZWNyZXQ=" && auth != "Bearer token-123" {
                return (StatusCode::UNAUTHORIZED, "no").into_response();
            }
            let gzip =
                headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("gzip"));
            if gzip {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let _ = encoder.write_all(BODY.as_bytes());
                let bytes = encoder.finish().unwrap_or_default();
                ([(header::CONTENT_ENCODING, "gzip"), (header::CONTENT_TYPE, "text/plain; version=0.0.4")], bytes)
                    .into_response()
            } else {
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], BODY).into_response()
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

async fn targets(vigil: &Vigil) -> Vec<Value> {
    let body = reqwest::get(vigil.url("/api/v1/targets")).await.expect("GET targets").text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&body).unwrap_or_default();
    json["data"]["activeTargets"].as_array().cloned().unwrap_or_default()
}

/// Waits until all `count` targets have been scraped once, then returns
/// (job, (health, lastError)) for each, jobs with several targets included.
async fn targets_by_job(vigil: &Vigil, count: usize) -> Vec<(String, (String, String))> {
    eventually(Duration::from_secs(20), "every target scraped", || async {
        let targets = targets(vigil).await;
        let done = targets.len() == count && targets.iter().all(|t| t["health"] != "unknown");
        done.then(|| {
            targets
                .iter()
                .map(|t| {
                    let text = |key: &str| t[key].as_str().unwrap_or("").to_owned();
                    (text("scrapePool"), (text("health"), text("lastError")))
                })
                .collect()
        })
    })
    .await
}

/// Waits until every target has been scraped once, then returns
/// (job → (health, lastError)); a job with several targets keeps one.
async fn settled_health(vigil: &Vigil, targets: usize) -> std::collections::BTreeMap<String, (String, String)> {
    targets_by_job(vigil, targets).await.into_iter().collect()
}

#[tokio::test]
async fn basic_auth_bearer_tokens_and_gzip() {
    let target = start_auth_target().await;
    let dir = temp_dir("vigil-auth");
    std::fs::write(dir.join("password"), "secret\n").unwrap();
    std::fs::write(dir.join("token"), "token-123\n").unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{target}");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:
  - job_name: basic_file
    basic_auth: {{username: user, password_file: {dir}/password}}
    static_configs: [{{targets: ['{address}']}}]
  - job_name: bearer_inline
    authorization: {{credentials: token-123}}
    enable_compression: false
    static_configs: [{{targets: ['{address}']}}]
  - job_name: bearer_file
    authorization: {{type: Bearer, credentials_file: {dir}/token}}
    static_configs: [{{targets: ['{address}']}}]
  - job_name: legacy_bearer
    bearer_token_file: {dir}/token
    static_configs: [{{targets: ['{address}']}}]
  - job_name: over_target_limit
    target_limit: 1
    static_configs: [{{targets: ['{address}', 'localhost:{target}']}}]
  - job_name: wrong_password
    basic_auth: {{username: user, password: nope}}
    static_configs: [{{targets: ['{address}']}}]
  - job_name: missing_file
    authorization: {{credentials_file: {dir}/absent}}
    static_configs: [{{targets: ['{address}']}}]
",
        dir = dir.display()
    );
    let vigil = Vigil::start(port, &config);
    let all = targets_by_job(&vigil, 8).await;
    let over_limit: Vec<&(String, String)> =
        all.iter().filter(|(job, _)| job == "over_target_limit").map(|(_, h)| h).collect();
    assert_eq!(over_limit.len(), 2, "{all:?}");
    for (health, error) in over_limit {
        assert_eq!(
            (health.as_str(), error.as_str()),
            ("down", "target_limit exceeded (number of targets: 2, limit: 1)")
        );
    }
    let health = settled_health(&vigil, 8).await;
    for job in ["basic_file", "bearer_inline", "bearer_file", "legacy_bearer"] {
        assert_eq!(health[job], ("up".to_owned(), String::new()), "{job}");
    }
    assert_eq!(
        health["wrong_password"],
        ("down".to_owned(), "server returned HTTP status 401 Unauthorized".to_owned())
    );
    assert_eq!(health["missing_file"].0, "down");
    assert!(health["missing_file"].1.starts_with(&format!("cannot read {}/absent", dir.display())), "{health:?}");

    let body = reqwest::get(vigil.url("/api/v1/query?query=test_metric")).await.unwrap().text().await.unwrap();
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["data"]["result"].as_array().map(Vec::len), Some(4), "one series per successful job: {json}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A child process (a peer server), killed on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output =
        Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl (apt-get install -y openssl)");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A private CA, a server certificate for 127.0.0.1 and a client one.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Vigil Test CA",
        ],
    );
    // The server is valid for 127.0.0.1 and for a name no DNS knows, which
    // only `tls_config.server_name` can reach.
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:metrics.vigil.test\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ext) in [("server", "san.ext"), ("client", "client.ext")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    }
}

#[tokio::test]
async fn tls_with_private_ca_and_client_certificate() {
    let dir = temp_dir("vigil-tls");
    make_certificates(&dir);
    std::fs::write(dir.join("metrics"), "tls_metric 7\n").unwrap();
    let tls_port = free_port();
    // -Verify 1: the client must present a certificate signed by the CA.
    let server = ChildGuard(
        Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-WWW",
                "-accept",
                &format!("127.0.0.1:{tls_port}"),
                "-cert",
                "server.pem",
                "-key",
                "server.key",
            ])
            .args(["-Verify", "1", "-CAfile", "ca.pem"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }

    let d = dir.display();
    let target = format!("127.0.0.1:{tls_port}");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:
  - job_name: trusted
    scheme: https
    tls_config: {{ca_file: {d}/ca.pem, cert_file: {d}/client.pem, key_file: {d}/client.key}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: untrusted
    scheme: https
    static_configs: [{{targets: ['{target}']}}]
  - job_name: server_name
    scheme: https
    tls_config: {{ca_file: {d}/ca.pem, cert_file: {d}/client.pem, key_file: {d}/client.key, server_name: metrics.vigil.test}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: wrong_server_name
    scheme: https
    tls_config: {{ca_file: {d}/ca.pem, cert_file: {d}/client.pem, key_file: {d}/client.key, server_name: other.vigil.test}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: insecure_no_client_cert
    scheme: https
    tls_config: {{insecure_skip_verify: true}}
    static_configs: [{{targets: ['{target}']}}]
"
    );
    let vigil = Vigil::start(free_port(), &config);
    let health = settled_health(&vigil, 5).await;
    assert_eq!(health["trusted"], ("up".to_owned(), String::new()));
    assert_eq!(health["server_name"], ("up".to_owned(), String::new()));
    assert_eq!(health["wrong_server_name"].0, "down", "the certificate is not valid for that name");
    assert_eq!(health["untrusted"].0, "down");
    assert!(health["untrusted"].1.to_lowercase().contains("certificate"), "{health:?}");
    assert_eq!(health["insecure_no_client_cert"].0, "down", "the server demands a client certificate");

    let body = reqwest::get(vigil.url("/api/v1/query?query=tls_metric")).await.unwrap().text().await.unwrap();
    assert!(body.contains("\"job\":\"trusted\"") && body.contains("\"7\""), "{body}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_ca_file_is_refused_at_startup() {
    let dir = temp_dir("vigil-bad-ca");
    std::fs::write(dir.join("ca.pem"), "not a certificate").unwrap();
    let config = dir.join("vigil.yml");
    std::fs::write(
        &config,
        format!("scrape_configs:\n  - job_name: j\n    tls_config: {{ca_file: {}/ca.pem}}\n", dir.display()),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["--web.listen-address", &format!("127.0.0.1:{}", free_port()), "--config.file"])
        .arg(&config)
        // Never the default `data/`, which would land in the source tree.
        .arg("--storage.tsdb.path")
        .arg(dir.join("data"))
        .output()
        .expect("run vigil");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("job \"j\": unable to use specified CA cert"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// How a raw misbehaving target answers.
#[derive(Clone, Copy)]
enum Misbehaviour {
    Garbage,
    /// Promises more bytes than it sends, then closes.
    Truncated,
    /// More bytes than the job's body_size_limit.
    Oversize,
    InvalidUtf8,
    /// Accepts the connection and never answers.
    Hang,
    Fine,
}

/// A raw TCP target, so it can break HTTP in ways a framework would not.
async fn start_raw_target(behaviour: Misbehaviour) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let (length, body): (usize, Vec<u8>) = match behaviour {
                    Misbehaviour::Garbage => (0, b"<html>this is { not metrics\n".to_vec()),
                    Misbehaviour::Truncated => (1000, b"metric_a 1\nmetric_b".to_vec()),
                    Misbehaviour::Oversize => (0, "big_metric 1\n".repeat(500).into_bytes()),
                    Misbehaviour::InvalidUtf8 => (0, b"m{a=\"\xff\xfe\"} 1\n".to_vec()),
                    Misbehaviour::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    Misbehaviour::Fine => (0, b"fine_metric 1\n".to_vec()),
                };
                let length = if length == 0 { body.len() } else { length };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn misbehaving_targets_are_down_with_a_clear_error_and_the_rest_keeps_scraping() {
    let behaviours = [
        ("garbage", Misbehaviour::Garbage),
        ("truncated", Misbehaviour::Truncated),
        ("oversize", Misbehaviour::Oversize),
        ("invalid_utf8", Misbehaviour::InvalidUtf8),
        ("hang", Misbehaviour::Hang),
        ("fine", Misbehaviour::Fine),
    ];
    let mut jobs = String::new();
    for (name, behaviour) in behaviours {
        let port = start_raw_target(behaviour).await;
        jobs.push_str(&format!(
            "  - job_name: {name}\n    body_size_limit: 1KB\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ));
    }
    let config = format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n{jobs}");
    let vigil = Vigil::start(free_port(), &config);
    let health = settled_health(&vigil, behaviours.len()).await;

    let expect_down = [
        ("garbage", "line 1, column 1: invalid metric name"),
        ("truncated", "error decoding response body"),
        ("oversize", "body size limit exceeded (limit: 1024 bytes)"),
        ("invalid_utf8", "response body is not valid UTF-8 at byte 5"),
        ("hang", "operation timed out"),
    ];
    for (job, want) in expect_down {
        let (state, error) = &health[job];
        assert_eq!(state, "down", "{job}: {error}");
        assert!(error.contains(want), "{job}: lastError {error:?} lacks {want:?}");
    }
    assert_eq!(health["fine"], ("up".to_owned(), String::new()));

    // The good target's data is there, and `up` says who failed.
    let body = reqwest::get(vigil.url("/api/v1/query?query=up")).await.unwrap().text().await.unwrap();
    let json: Value = serde_json::from_str(&body).unwrap();
    let mut up: Vec<(String, String)> = json["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (r["metric"]["job"].as_str().unwrap_or("").to_owned(), r["value"][1].as_str().unwrap_or("").to_owned())
        })
        .collect();
    up.sort();
    let want: Vec<(String, String)> =
        [("fine", "1"), ("garbage", "0"), ("hang", "0"), ("invalid_utf8", "0"), ("oversize", "0"), ("truncated", "0")]
            .iter()
            .map(|(j, v)| (j.to_string(), v.to_string()))
            .collect();
    assert_eq!(up, want);
}

#[tokio::test]
async fn scrapes_the_real_node_exporter() {
    const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: install it with `apt-get install -y prometheus-node-exporter` (or `cargo xtask setup --test-packages`)"
    );
    let exporter_port = free_port();
    let exporter = ChildGuard(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node exporter"),
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    );
    let vigil = Vigil::start(free_port(), &config);
    let health = settled_health(&vigil, 1).await;
    assert_eq!(health["node"], ("up".to_owned(), String::new()));
    for query in ["node_exporter_build_info", "node_cpu_seconds_total", "node_memory_MemTotal_bytes"] {
        let body =
            reqwest::get(vigil.url(&format!("/api/v1/query?query={query}"))).await.unwrap().text().await.unwrap();
        let json: Value = serde_json::from_str(&body).unwrap();
        let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
        assert!(!result.is_empty(), "{query}: {json}");
        assert_eq!(result[0]["metric"]["job"], "node", "{query}");
    }
    let samples =
        reqwest::get(vigil.url("/api/v1/query?query=scrape_samples_scraped")).await.unwrap().text().await.unwrap();
    let json: Value = serde_json::from_str(&samples).unwrap();
    let scraped: f64 = json["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(scraped > 100.0, "node exporter exposes hundreds of samples, got {scraped}");
    drop(exporter);
}
