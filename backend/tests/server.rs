//! End-to-end tests of the `vigil` binary over HTTP: it scrapes itself,
//! answers the query API in Prometheus's JSON, serves its metrics and health,
//! and refuses bad configs and busy ports with clear errors.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Vigil, eventually, free_port, temp_dir};
use serde_json::Value;

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("HTTP request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {body}"));
    (status, json)
}

#[tokio::test]
async fn scrapes_itself_and_answers_queries() {
    let vigil = Vigil::start_scraping_itself();

    // `up` appears once the first self-scrape has landed.
    let up = eventually(Duration::from_secs(15), "up == 1 from the self-scrape", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/query?query=up")).await;
        let result = json["data"]["result"].as_array()?.first()?.clone();
        (result["value"][1] == "1").then_some(result)
    })
    .await;
    assert_eq!(up["metric"]["job"], "vigil");
    assert_eq!(up["metric"]["instance"], format!("127.0.0.1:{}", vigil.port));
    assert_eq!(up["metric"]["__name__"], "up");

    // Scraped series carry the target labels.
    let (status, json) = get_json(&vigil.url("/api/v1/query?query=process_resident_memory_bytes{job=\"vigil\"}")).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"], "success");
    assert_eq!(json["data"]["resultType"], "vector");
    let rss: f64 = json["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse().ok()).expect("rss value");
    assert!(rss > 1e6, "resident memory {rss}");

    // A range query returns a matrix with one point per step.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // `end` is rounded up so the first scrape (at a fraction of a second) is inside.
    let url = vigil.url(&format!("/api/v1/query_range?query=up&start={}&end={}&step=1", now - 2, now + 1));
    let (status, json) = get_json(&url).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["resultType"], "matrix");
    let values = json["data"]["result"][0]["values"].as_array().unwrap_or_else(|| panic!("no values in {json}"));
    assert!(!values.is_empty() && values.len() <= 4, "{values:?}");

    // The same query by POST form, as Grafana sends it.
    let response = reqwest::Client::new()
        .post(vigil.url("/api/v1/query"))
        .form(&[("query", "up")])
        .send()
        .await
        .expect("POST query");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn bad_queries_get_prometheus_errors() {
    let vigil = Vigil::start_scraping_itself();
    let cases = [
        ("/api/v1/query?query=up%7B", "invalid parameter \"query\": 1:4: parse error: unexpected end of input"),
        ("/api/v1/query?query=", "invalid parameter \"query\": 1:1: parse error"),
        ("/api/v1/query?query=up&time=yesterday", "invalid parameter \"time\""),
        (
            "/api/v1/query_range?query=up&start=10&end=0&step=1",
            "invalid parameter \"end\": end timestamp must not be before start time",
        ),
        ("/api/v1/query_range?query=up&start=0&end=10", "invalid parameter \"step\": missing"),
        ("/api/v1/query_range?query=up&start=0&end=100000&step=1", "exceeded maximum resolution of 11,000 points"),
    ];
    for (path, want) in cases {
        let (status, json) = get_json(&vigil.url(path)).await;
        assert_eq!(status, 400, "{path}: {json}");
        assert_eq!(json["status"], "error", "{path}");
        assert_eq!(json["errorType"], "bad_data", "{path}");
        let error = json["error"].as_str().unwrap_or("");
        assert!(error.starts_with(want), "{path}: got {error:?}, want prefix {want:?}");
    }
    // The server keeps working after bad input.
    let (status, _) = get_json(&vigil.url("/api/v1/query?query=up")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn serves_metrics_and_health() {
    let vigil = Vigil::start_scraping_itself();
    for (path, want) in [("/-/healthy", "Vigil is Healthy."), ("/-/ready", "Vigil is Ready.")] {
        let response = reqwest::get(vigil.url(path)).await.expect("GET");
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.text().await.unwrap_or_default().contains(want), "{path}");
    }
    let response = reqwest::get(vigil.url("/metrics")).await.expect("GET /metrics");
    let content_type = response.headers()["content-type"].to_str().unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.expect("metrics body");
    for metric in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "prometheus_http_requests_total{handler=\"/-/healthy\",code=\"200\"} 1",
    ] {
        assert!(text.contains(metric), "/metrics lacks {metric:?}:\n{text}");
    }
}

fn vigil_exits_with_error(args: &[&str]) -> String {
    // A storage folder of its own: the default `data/` would land in the
    // source tree when startup gets far enough to open it.
    let data = temp_dir("vigil-exits-data");
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .arg("--storage.tsdb.path")
        .arg(&data)
        .output()
        .expect("run vigil");
    let _ = std::fs::remove_dir_all(&data);
    assert!(!output.status.success(), "vigil {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_config_and_busy_port_are_clear_errors() {
    let dir = temp_dir("vigil-bad-config");
    let missing = dir.join("missing.yml");
    let stderr = vigil_exits_with_error(&["--config.file", missing.to_str().unwrap_or_default()]);
    assert!(stderr.contains(&format!("{}: cannot read", missing.display())), "{stderr}");

    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
    )
    .unwrap();
    let stderr = vigil_exits_with_error(&["--config.file", bad.to_str().unwrap_or_default()]);
    assert!(
        stderr.contains(&format!("{}:5:5: scrape_configs[0]: unknown field `scrape_intervall`", bad.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let good = dir.join("good.yml");
    std::fs::write(&good, "scrape_configs: []\n").unwrap();
    let port = free_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold the port");
    let address = format!("127.0.0.1:{port}");
    let stderr =
        vigil_exits_with_error(&["--config.file", good.to_str().unwrap_or_default(), "--web.listen-address", &address]);
    assert!(stderr.contains(&format!("cannot listen on {address}")) && stderr.contains("in use"), "{stderr}");

    let stderr = vigil_exits_with_error(&[
        "--config.file",
        good.to_str().unwrap_or_default(),
        "--web.listen-address",
        "nonsense",
    ]);
    assert!(stderr.contains("invalid --web.listen-address \"nonsense\""), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The jobs in `/api/v1/targets`, as (scrapePool, health, a label) rows.
async fn active_targets(vigil: &Vigil) -> Vec<(String, String, String)> {
    let (_, json) = get_json(&vigil.url("/api/v1/targets?state=active")).await;
    json["data"]["activeTargets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .map(|t| {
                    (
                        t["scrapePool"].as_str().unwrap_or("").to_owned(),
                        t["health"].as_str().unwrap_or("").to_owned(),
                        t["labels"]["from"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn file_discovery_and_reload_keep_running_targets() {
    let port = free_port();
    let dir = temp_dir("vigil-reload");
    let self_job = format!("  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n");
    let files_job = "  - job_name: files\n    file_sd_configs:\n      - files: ['sd/*.json']\n";
    std::fs::create_dir_all(dir.join("sd")).unwrap();
    let target_file = |from: &str| format!(r#"[{{"targets": ["127.0.0.1:{port}"], "labels": {{"from": "{from}"}}}}]"#);
    std::fs::write(dir.join("sd/a.json"), target_file("first")).unwrap();
    let config_path = dir.join("vigil.yml");
    let write_config = |jobs: &str| {
        std::fs::write(
            &config_path,
            format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"),
        )
        .unwrap()
    };
    write_config(&format!("{self_job}{files_job}"));
    let vigil = Vigil::start_with_config_file(port, &config_path);

    // The file's target is scraped, with the file's labels (paths in the
    // config are relative to the config file).
    eventually(Duration::from_secs(15), "both targets up", || async {
        let mut targets = active_targets(&vigil).await;
        targets.sort();
        (targets == [("files".into(), "up".into(), "first".into()), ("self".into(), "up".into(), String::new())])
            .then_some(())
    })
    .await;

    // Editing the file is picked up without a reload.
    std::fs::write(dir.join("sd/a.json"), target_file("second")).unwrap();
    eventually(Duration::from_secs(10), "the changed file's target", || async {
        active_targets(&vigil).await.iter().any(|t| t.0 == "files" && t.2 == "second").then_some(())
    })
    .await;

    // An invalid config is refused with its position; the old one keeps running.
    std::fs::write(&config_path, "scrape_configs:\n  - job_name: self\n    scrape_intervl: 1s\n").unwrap();
    let response = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.expect("POST /-/reload");
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap_or_default();
    assert!(body.contains("vigil.yml:3:5") && body.contains("unknown field `scrape_intervl`"), "{body}");
    assert_eq!(active_targets(&vigil).await.len(), 2);

    // A valid one drops the files job; the self job keeps its target.
    write_config(&self_job);
    let response = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.expect("POST /-/reload");
    assert_eq!(response.status(), 200);
    assert_eq!(active_targets(&vigil).await, [("self".to_owned(), "up".to_owned(), String::new())]);
    // The removed target's series end with a staleness marker: no `up`.
    eventually(Duration::from_secs(5), "no `up` for the removed job", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/query?query=up{job=\"files\"}")).await;
        (json["data"]["result"] == serde_json::json!([])).then_some(())
    })
    .await;

    // SIGHUP reloads too.
    write_config(&format!("{self_job}{files_job}"));
    // SAFETY: kill(2) with a PID we spawned and a valid signal number.
    assert_eq!(unsafe { libc::kill(vigil.child.id() as i32, libc::SIGHUP) }, 0);
    eventually(Duration::from_secs(10), "the files job back after SIGHUP", || async {
        (active_targets(&vigil).await.len() == 2).then_some(())
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn metadata_apis_show_what_targets_expose() {
    let vigil = Vigil::start_scraping_itself();
    let url = vigil.url("/api/v1/targets/metadata?metric=process_cpu_seconds&match_target=%7Bjob%3D%22vigil%22%7D");
    let entry = eventually(Duration::from_secs(15), "metadata of process_cpu_seconds", || async {
        let (_, json) = get_json(&url).await;
        json["data"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(entry["type"], "counter");
    assert_eq!(entry["target"]["job"], "vigil");
    assert_eq!(entry["help"], "Total user and system CPU time spent in seconds");
    assert!(entry.get("metric").is_none(), "metric is omitted when asked for: {entry}");

    let (_, json) = get_json(&vigil.url("/api/v1/metadata?metric=process_resident_memory_bytes")).await;
    assert_eq!(json["data"]["process_resident_memory_bytes"][0]["type"], "gauge", "{json}");

    let (status, json) = get_json(&vigil.url("/api/v1/targets/metadata?match_target=%7Bjob%3D")).await;
    assert_eq!((status, json["errorType"].as_str()), (400, Some("bad_data")), "{json}");
    let (_, json) = get_json(&vigil.url("/api/v1/targets?state=dropped")).await;
    assert_eq!(json["data"]["activeTargets"], serde_json::json!([]));
}

#[tokio::test]
async fn series_labels_and_label_values() {
    let vigil = Vigil::start_scraping_itself();
    eventually(Duration::from_secs(15), "a first scrape", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/query?query=up")).await;
        json["data"]["result"].as_array().filter(|r| !r.is_empty()).map(|_| ())
    })
    .await;

    let (status, json) = get_json(&vigil.url("/api/v1/series?match[]=up&match[]=scrape_duration_seconds")).await;
    assert_eq!(status, 200, "{json}");
    let names: Vec<&str> = json["data"].as_array().unwrap().iter().filter_map(|s| s["__name__"].as_str()).collect();
    assert_eq!(names, ["scrape_duration_seconds", "up"]);

    // `handler` comes from the HTTP request metrics, which exist only once a
    // scrape after the first request has been stored: wait for it.
    eventually(Duration::from_secs(15), "the label names of the HTTP metrics", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/labels")).await;
        let labels: Vec<String> =
            json["data"].as_array()?.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        ["__name__", "handler", "instance", "job"].iter().all(|want| labels.iter().any(|l| l == want)).then_some(())
    })
    .await;
    let (_, json) = get_json(&vigil.url("/api/v1/label/__name__/values?match[]=%7Bjob%3D%22vigil%22%7D")).await;
    let names: Vec<&str> = json["data"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(names.contains(&"up") && names.contains(&"process_cpu_seconds_total"), "{names:?}");
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");

    let (_, json) = get_json(&vigil.url("/api/v1/label/__name__/values?limit=2")).await;
    assert_eq!(json["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["warnings"][0], "results truncated due to limit");

    let (status, json) = get_json(&vigil.url("/api/v1/series")).await;
    assert_eq!((status, json["error"].as_str()), (400, Some("no match[] parameter provided")));
    let (status, _) = get_json(&vigil.url("/api/v1/series?match[]=up%7B")).await;
    assert_eq!(status, 400);
}

/// Debian's `promtool` is a real Prometheus API client written in Go: it
/// must read Vigil's answers.
#[tokio::test]
async fn promtool_queries_vigil() {
    const PROMTOOL: &str = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install it with `apt-get install -y prometheus`"
    );
    let vigil = Vigil::start_scraping_itself();
    let server = vigil.url("");
    eventually(Duration::from_secs(15), "a first scrape", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/query?query=up")).await;
        json["data"]["result"].as_array().filter(|r| !r.is_empty()).map(|_| ())
    })
    .await;
    let run = |args: &[&str]| {
        let output = Command::new(PROMTOOL).args(args).output().expect("run promtool");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "promtool {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let out = run(&["query", "instant", &server, "up"]);
    assert!(out.contains("up{instance=") && out.contains("job=\"vigil\"") && out.contains("=> 1 @"), "{out}");
    let out = run(&["query", "series", "--match=up", &server]);
    assert!(out.contains("__name__=\"up\""), "{out}");
    let out = run(&["query", "labels", &server, "job"]);
    assert!(out.trim() == "vigil", "{out}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let out = run(&[
        "query",
        "range",
        &format!("--start={}", now - 60),
        &format!("--end={}", now + 1),
        "--step=1s",
        &server,
        "up",
    ]);
    assert!(out.contains("up{instance=") && out.contains("1 @["), "{out}");
}
