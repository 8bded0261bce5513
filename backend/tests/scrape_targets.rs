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

/// Starts `openssl s_server -WWW` serving the files of `dir` over TLS on a
/// free port, with `args` (certificates, client verification), and waits
/// until it listens.
fn start_openssl_server(dir: &Path, args: &[&str]) -> (ChildGuard, u16) {
    let port = free_port();
    let server = ChildGuard(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept", &format!("127.0.0.1:{port}")])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

#[tokio::test]
async fn tls_with_private_ca_and_client_certificate() {
    let dir = temp_dir("vigil-tls");
    make_certificates(&dir);
    std::fs::write(dir.join("metrics"), "tls_metric 7\n").unwrap();
    // -Verify 1: the client must present a certificate signed by the CA.
    let (server, tls_port) =
        start_openssl_server(&dir, &["-cert", "server.pem", "-key", "server.key", "-Verify", "1", "-CAfile", "ca.pem"]);

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

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}")))
}

/// Seconds since the epoch of an RFC 3339 UTC time such as
/// `2024-05-01T10:00:00.123Z`; `None` if it is not one.
fn parse_rfc3339_utc(text: &str) -> Option<f64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let fraction: f64 = format!("0.{fraction}").parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60 + s) as f64 + fraction)
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname").trim().to_owned()
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test]
async fn targets_api_shows_active_and_dropped_targets_as_prometheus_does() {
    let port = start_raw_target(Misbehaviour::Fine).await;
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:
  - job_name: api
    keep_dropped_targets: 2
    static_configs:
      - targets: ['127.0.0.1:{port}', 'drop-me:1', 'drop-me:2', 'drop-me:3']
        labels: {{env: test}}
    relabel_configs:
      - {{source_labels: [__address__], regex: 'drop-me:.*', action: drop}}
      - {{target_label: __scrape_timeout__, replacement: 500ms}}
  - job_name: other
    static_configs: [{{targets: ['localhost:{port}']}}]
"
    );
    let vigil = Vigil::start(free_port(), &config);
    let before = now_seconds();
    let data = eventually(Duration::from_secs(20), "both targets scraped", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/targets")).await;
        let active = json["data"]["activeTargets"].as_array()?;
        (active.len() == 2 && active.iter().all(|t| t["health"] == "up")).then(|| json["data"].clone())
    })
    .await;

    // The shapes of api.go's TargetDiscovery, Target and DroppedTarget.
    assert_eq!(keys(&data), ["activeTargets", "droppedTargetCounts", "droppedTargets"]);
    let target = data["activeTargets"].as_array().unwrap().iter().find(|t| t["scrapePool"] == "api").unwrap().clone();
    assert_eq!(
        keys(&target),
        [
            "discoveredLabels",
            "globalUrl",
            "health",
            "labels",
            "lastError",
            "lastScrape",
            "lastScrapeDuration",
            "scrapeInterval",
            "scrapePool",
            "scrapeTimeout",
            "scrapeUrl"
        ]
    );
    let address = format!("127.0.0.1:{port}");
    assert_eq!(
        target["discoveredLabels"],
        serde_json::json!({
            "__address__": address, "__metrics_path__": "/metrics", "__scheme__": "http",
            "__scrape_interval__": "1s", "__scrape_timeout__": "1s", "env": "test", "job": "api",
        })
    );
    assert_eq!(target["labels"], serde_json::json!({"env": "test", "instance": address, "job": "api"}));
    assert_eq!(target["scrapeUrl"], format!("http://{address}/metrics"));
    // A localhost address is replaced by the hostname of the default
    // external URL, as getGlobalURL does.
    let hostname = machine_hostname();
    assert_eq!(target["globalUrl"], format!("http://{hostname}:{port}/metrics"));
    assert_eq!((target["health"].as_str(), target["lastError"].as_str()), (Some("up"), Some("")));
    // Interval and timeout as the target's labels say, after relabeling.
    assert_eq!((target["scrapeInterval"].as_str(), target["scrapeTimeout"].as_str()), (Some("1s"), Some("500ms")));
    let last_scrape = target["lastScrape"].as_str().unwrap();
    let at = parse_rfc3339_utc(last_scrape).unwrap_or_else(|| panic!("not RFC 3339: {last_scrape}"));
    assert!(at > before - 2.0 && at < now_seconds() + 1.0, "{last_scrape}");
    let duration = target["lastScrapeDuration"].as_f64().expect("a number of seconds");
    assert!(duration > 0.0 && duration < 0.5, "{duration}");
    let other = data["activeTargets"].as_array().unwrap().iter().find(|t| t["scrapePool"] == "other").unwrap().clone();
    assert_eq!(other["globalUrl"], format!("http://{hostname}:{port}/metrics"));
    assert_eq!(other["scrapeTimeout"], "1s");

    // keep_dropped_targets: 2 lists two, the count says three.
    let dropped = data["droppedTargets"].as_array().unwrap();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    for (i, d) in dropped.iter().enumerate() {
        assert_eq!(keys(d), ["discoveredLabels", "scrapePool"]);
        assert_eq!(d["scrapePool"], "api");
        assert_eq!(
            d["discoveredLabels"],
            serde_json::json!({
                "__address__": format!("drop-me:{}", i + 1), "__metrics_path__": "/metrics", "__scheme__": "http",
                "__scrape_interval__": "1s", "__scrape_timeout__": "1s", "env": "test", "job": "api",
            })
        );
    }
    assert_eq!(data["droppedTargetCounts"], serde_json::json!({"api": 3, "other": 0}));

    // The state filter.
    let counts = |json: &Value| {
        let d = &json["data"];
        (d["activeTargets"].as_array().map(Vec::len), d["droppedTargets"].as_array().map(Vec::len))
    };
    let (status, json) = get_json(&vigil.url("/api/v1/targets?state=active")).await;
    assert_eq!((status, counts(&json)), (200, (Some(2), Some(0))));
    assert_eq!(json["data"]["droppedTargetCounts"], Value::Null, "nil in Prometheus");
    let (_, json) = get_json(&vigil.url("/api/v1/targets?state=dropped")).await;
    assert_eq!(counts(&json), (Some(0), Some(2)));
    assert_eq!(json["data"]["droppedTargetCounts"]["api"], 3);
    let (_, json) = get_json(&vigil.url("/api/v1/targets?state=ANY")).await;
    assert_eq!(counts(&json), (Some(2), Some(2)));
    // Prometheus answers an unknown state with nothing, not an error.
    let (status, json) = get_json(&vigil.url("/api/v1/targets?state=bogus")).await;
    assert_eq!((status, counts(&json)), (200, (Some(0), Some(0))));
    // scrapePool filters the lists, not the counts.
    let (_, json) = get_json(&vigil.url("/api/v1/targets?scrapePool=other")).await;
    assert_eq!(counts(&json), (Some(1), Some(0)));
    assert_eq!(json["data"]["droppedTargetCounts"], serde_json::json!({"api": 3, "other": 0}));
}

#[tokio::test]
async fn insecure_skip_verify_accepts_a_self_signed_certificate() {
    let dir = temp_dir("vigil-self-signed");
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "self.key",
            "-out",
            "self.pem",
            "-days",
            "2",
            "-subj",
            "/CN=self-signed",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
    );
    std::fs::write(dir.join("metrics"), "self_signed_metric 3\n").unwrap();
    let (server, tls_port) = start_openssl_server(&dir, &["-cert", "self.pem", "-key", "self.key"]);
    let target = format!("127.0.0.1:{tls_port}");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:
  - job_name: insecure
    scheme: https
    tls_config: {{insecure_skip_verify: true}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: verified
    scheme: https
    static_configs: [{{targets: ['{target}']}}]
  - job_name: verified_explicitly
    scheme: https
    tls_config: {{insecure_skip_verify: false}}
    static_configs: [{{targets: ['{target}']}}]
"
    );
    let vigil = Vigil::start(free_port(), &config);
    let health = settled_health(&vigil, 3).await;
    assert_eq!(health["insecure"], ("up".to_owned(), String::new()));
    for job in ["verified", "verified_explicitly"] {
        assert_eq!(health[job].0, "down", "{job}");
        assert!(health[job].1.to_lowercase().contains("certificate"), "{job}: {health:?}");
    }
    let (_, json) = get_json(&vigil.url("/api/v1/query?query=self_signed_metric")).await;
    let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(result.len(), 1, "{json}");
    assert_eq!((result[0]["metric"]["job"].as_str(), result[0]["value"][1].as_str()), (Some("insecure"), Some("3")));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The API's view of one target: (health, lastScrape in seconds).
async fn target_state(vigil: &Vigil, instance: &str, pool: &str) -> Option<(String, f64)> {
    let (_, json) = get_json(&vigil.url("/api/v1/targets?state=active")).await;
    let target = json["data"]["activeTargets"]
        .as_array()?
        .iter()
        .find(|t| t["labels"]["instance"] == instance && t["scrapePool"] == pool)?
        .clone();
    let last = parse_rfc3339_utc(target["lastScrape"].as_str()?).unwrap_or(0.0);
    Some((target["health"].as_str()?.to_owned(), last))
}

/// Checks, with a range query at a fine step, that `up` of a target has a
/// value at every step from `start` to now: a staleness marker would leave
/// a hole until the next scrape.
async fn assert_up_without_gap(vigil: &Vigil, instance: &str, pool: &str, start: f64) {
    let end = now_seconds() - 0.5;
    let step = 0.1;
    let query = format!("up{{instance=\"{instance}\",job=\"{pool}\"}}");
    let url = vigil.url(&format!(
        "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={step}",
        query.replace('{', "%7B").replace('}', "%7D").replace('"', "%22").replace('=', "%3D").replace(',', "%2C")
    ));
    let (_, json) = get_json(&url).await;
    let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(result.len(), 1, "{json}");
    let values = result[0]["values"].as_array().unwrap();
    let times: Vec<f64> = values.iter().filter_map(|v| v[0].as_f64()).collect();
    let expected = ((end - start) / step).floor() as usize + 1;
    let holes: Vec<(f64, f64)> = times.windows(2).filter(|w| w[1] - w[0] > step * 1.5).map(|w| (w[0], w[1])).collect();
    assert!(
        times.len() + 1 >= expected && holes.is_empty(),
        "{pool}/{instance}: {} of {expected} steps have `up`; holes: {holes:?}",
        times.len()
    );
    assert!(values.iter().all(|v| v[1] == "1"), "{values:?}");
}

#[tokio::test]
async fn targets_that_stay_keep_their_loop_across_reloads_and_discovery_changes() {
    let (a, b, c, d) = (
        start_raw_target(Misbehaviour::Fine).await,
        start_raw_target(Misbehaviour::Fine).await,
        start_raw_target(Misbehaviour::Fine).await,
        start_raw_target(Misbehaviour::Fine).await,
    );
    let (a, b, c, d) =
        (format!("127.0.0.1:{a}"), format!("127.0.0.1:{b}"), format!("127.0.0.1:{c}"), format!("127.0.0.1:{d}"));
    let dir = temp_dir("vigil-continuity");
    std::fs::create_dir_all(dir.join("sd")).unwrap();
    let write_sd = |targets: &[&str]| {
        let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        // Written whole and renamed, so the watcher never reads half a file.
        std::fs::write(dir.join("sd/tmp"), format!("[{{\"targets\": [{}]}}]", list.join(","))).unwrap();
        std::fs::rename(dir.join("sd/tmp"), dir.join("sd/t.json")).unwrap();
    };
    write_sd(&[&c]);
    let config_path = dir.join("vigil.yml");
    let write_config = |static_targets: &[&str], extra: &str| {
        let list: Vec<String> = static_targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &config_path,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:
  - job_name: static
    static_configs: [{{targets: [{}]}}]
{extra}  - job_name: files
    file_sd_configs: [{{files: ['sd/*.json'], refresh_interval: 1s}}]
",
                list.join(",")
            ),
        )
        .unwrap();
    };
    write_config(&[&a], "");
    let vigil = Vigil::start_with_config_file(free_port(), &config_path);
    let reload = || async {
        let response = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.expect("POST /-/reload");
        assert_eq!(response.status(), 200);
    };
    let up_since = |instance: String, pool: &'static str| {
        let vigil = &vigil;
        async move {
            eventually(Duration::from_secs(20), "the target up", || async {
                let (health, last) = target_state(vigil, &instance, pool).await?;
                (health == "up").then_some(last)
            })
            .await
        }
    };
    let a_first = up_since(a.clone(), "static").await;
    let c_first = up_since(c.clone(), "files").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 1. A static target joins the job: A's loop goes on.
    let (_, a_before) = target_state(&vigil, &a, "static").await.unwrap();
    write_config(&[&a, &b], "");
    reload().await;
    let (health, a_after) = target_state(&vigil, &a, "static").await.expect("A still listed");
    assert_eq!(health, "up", "a restarted loop would be unknown until it scrapes");
    assert!(a_after >= a_before, "lastScrape went back: {a_before} → {a_after}");
    up_since(b.clone(), "static").await;

    // 2. A file_sd target joins: C's loop goes on.
    write_sd(&[&c, &d]);
    up_since(d.clone(), "files").await;
    assert_eq!(target_state(&vigil, &c, "files").await.map(|s| s.0), Some("up".to_owned()));

    // 3. The job's scrape settings change: loops restart, but A keeps its
    // health and its series go on.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    write_config(
        &[&a, &b],
        "    scrape_timeout: 900ms\n    metric_relabel_configs: [{source_labels: [__name__], regex: nothing_here, action: drop}]\n",
    );
    let (_, a_before) = target_state(&vigil, &a, "static").await.unwrap();
    reload().await;
    let (health, a_after) = target_state(&vigil, &a, "static").await.expect("A still listed");
    assert_eq!(health, "up", "health survives a loop restart");
    assert!(a_after >= a_before);
    eventually(Duration::from_secs(10), "A scraped with the new settings", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/targets?scrapePool=static")).await;
        let t =
            json["data"]["activeTargets"].as_array()?.iter().find(|t| t["labels"]["instance"] == a.as_str())?.clone();
        let last = parse_rfc3339_utc(t["lastScrape"].as_str()?)?;
        (t["scrapeTimeout"] == "900ms" && last > a_after).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // No staleness marker was written for A or C at any point.
    assert_up_without_gap(&vigil, &a, "static", a_first + 0.2).await;
    assert_up_without_gap(&vigil, &c, "files", c_first + 0.2).await;
    let _ = std::fs::remove_dir_all(&dir);
}
