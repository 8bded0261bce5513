//! The dashboard API of a real `vigil` process, as Grafana's HTTP API
//! clients use it: create, read, search, update with version checks,
//! overwrite, history and restore, delete, folders; persistence across a
//! restart; provisioning from a folder with a good and a bad file; and the
//! refusals of bad input (size limit, malformed JSON, wrong types).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Vigil, eventually, free_port, temp_dir};
use serde_json::{Value, json};

const CONFIG: &str = "global:\n  scrape_interval: 15s\n";

/// Starts Vigil on `data` with extra flags, its log written to a file the
/// test can read; waits until it answers.
async fn start(data: &Path, flags: &[&str]) -> (Vigil, PathBuf) {
    let dir = temp_dir("vigil-dash");
    let config = dir.join("vigil.yml");
    std::fs::write(&config, CONFIG).expect("write config");
    let log = dir.join("vigil.log");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(flags)
        .arg("--config.file")
        .arg(&config)
        .arg("--storage.tsdb.path")
        .arg(data)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create log file"))
        .spawn()
        .expect("start the vigil binary");
    let vigil = Vigil { child, port, dir };
    let ready = vigil.url("/-/ready");
    eventually(Duration::from_secs(20), "vigil to be ready", || async {
        reqwest::get(&ready).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    (vigil, log)
}

async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {text}"));
    (status, json)
}

async fn get(vigil: &Vigil, path: &str) -> (u16, Value) {
    call(reqwest::Method::GET, &vigil.url(path), None).await
}

async fn post(vigil: &Vigil, path: &str, body: Value) -> (u16, Value) {
    call(reqwest::Method::POST, &vigil.url(path), Some(body)).await
}

async fn post_raw(vigil: &Vigil, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(vigil.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("non-JSON answer ({e}): {text}")))
}

fn titles(hits: &Value) -> Vec<&str> {
    hits.as_array().map(|a| a.iter().filter_map(|h| h["title"].as_str()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn create_read_search_update_conflict_history_restore_delete() {
    let data = temp_dir("vigil-dash-data");
    let (vigil, _) = start(&data, &[]).await;

    // Create: no uid, so one is generated; Grafana's answer shape.
    let (status, created) = post(
        &vigil,
        "/api/dashboards/db",
        json!({"dashboard": {"id": null, "uid": null, "title": "Production Overview", "tags": ["prod", "web"],
               "panels": [{"type": "timeseries", "title": "RPS"}], "schemaVersion": 39}, "overwrite": false}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let uid = created["uid"].as_str().expect("uid").to_owned();
    assert_eq!(uid.len(), 14, "{created}");
    assert_eq!(created["status"], "success");
    assert_eq!(created["version"], 1);
    assert_eq!(created["slug"], "production-overview");
    assert_eq!(created["url"], format!("/d/{uid}/production-overview"));
    assert!(created["id"].as_i64().is_some_and(|id| id > 0), "{created}");

    let (status, got) = get(&vigil, &format!("/api/dashboards/uid/{uid}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["dashboard"]["title"], "Production Overview");
    assert_eq!(got["dashboard"]["uid"], uid.as_str());
    assert_eq!(got["dashboard"]["version"], 1);
    assert_eq!(got["dashboard"]["panels"][0]["type"], "timeseries");
    let meta = &got["meta"];
    assert_eq!(
        (meta["type"].clone(), meta["slug"].clone(), meta["version"].clone()),
        (json!("db"), json!("production-overview"), json!(1))
    );
    assert_eq!((meta["folderUid"].clone(), meta["folderTitle"].clone()), (json!(""), json!("General")));
    assert_eq!(meta["provisioned"], false);
    assert!(meta["created"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() >= 20), "{meta}");

    // A second dashboard in a folder, for search.
    let (status, folder) = post(&vigil, "/api/folders", json!({"uid": "team-a", "title": "Team A"})).await;
    assert_eq!(status, 200, "{folder}");
    assert_eq!(folder["url"], "/dashboards/f/team-a/team-a");
    let (status, _) = post(&vigil, "/api/folders", json!({"uid": "team-a", "title": "Again"})).await;
    assert_eq!(status, 409);
    let (status, other) = post(
        &vigil,
        "/api/dashboards/db",
        json!({"dashboard": {"title": "Web latency", "uid": "web-lat", "tags": ["web"]}, "folderUid": "team-a"}),
    )
    .await;
    assert_eq!(status, 200, "{other}");

    let cases: &[(&str, &[&str])] = &[
        ("/api/search", &["Production Overview", "Team A", "Web latency"]),
        ("/api/search?query=PRODUCTION", &["Production Overview"]),
        ("/api/search?tag=web", &["Production Overview", "Web latency"]),
        ("/api/search?tag=web&tag=prod", &["Production Overview"]),
        ("/api/search?type=dash-folder", &["Team A"]),
        ("/api/search?type=dash-db&limit=1", &["Production Overview"]),
        ("/api/search?folderUIDs=team-a", &["Web latency"]),
        ("/api/search?dashboardUIDs=web-lat", &["Web latency"]),
        ("/api/search?query=nothing-like-this", &[]),
    ];
    for (path, want) in cases {
        let (status, hits) = get(&vigil, path).await;
        assert_eq!(status, 200, "{path}: {hits}");
        assert_eq!(titles(&hits), *want, "{path}");
    }
    let (_, hits) = get(&vigil, "/api/search?query=web%20latency").await;
    let hit = &hits[0];
    for (key, want) in [
        ("uid", json!("web-lat")),
        ("url", json!("/d/web-lat/web-latency")),
        ("uri", json!("db/web-latency")),
        ("slug", json!("web-latency")),
        ("type", json!("dash-db")),
        ("tags", json!(["web"])),
        ("isStarred", json!(false)),
        ("folderUid", json!("team-a")),
        ("folderTitle", json!("Team A")),
        ("folderUrl", json!("/dashboards/f/team-a/team-a")),
    ] {
        assert_eq!(hit[key], want, "{key} in {hit}");
    }
    let (_, tags) = get(&vigil, "/api/dashboards/tags").await;
    assert_eq!(tags, json!([{"term": "prod", "count": 1}, {"term": "web", "count": 2}]));

    // Update based on the current version, then a save based on the old one
    // is refused, and nothing is lost.
    let update = |version: i64, title: &str| json!({"dashboard": {"uid": uid, "title": title, "version": version, "tags": ["prod"]}, "message": "edit"});
    let (status, saved) = post(&vigil, "/api/dashboards/db", update(1, "Production Overview v2")).await;
    assert_eq!((status, saved["version"].clone()), (200, json!(2)), "{saved}");
    let (status, refused) = post(&vigil, "/api/dashboards/db", update(1, "Someone else's edit")).await;
    assert_eq!(status, 412, "{refused}");
    assert_eq!(
        refused,
        json!({"status": "version-mismatch", "message": "The dashboard has been changed by someone else"})
    );
    let (_, got) = get(&vigil, &format!("/api/dashboards/uid/{uid}")).await;
    assert_eq!(got["dashboard"]["title"], "Production Overview v2");

    // Same title in the same folder: name-exists; overwrite skips the checks.
    let (status, clash) =
        post(&vigil, "/api/dashboards/db", json!({"dashboard": {"title": "Production Overview v2"}})).await;
    assert_eq!((status, clash["status"].clone()), (412, json!("name-exists")), "{clash}");
    let mut forced = update(1, "Forced");
    forced["overwrite"] = json!(true);
    let (status, saved) = post(&vigil, "/api/dashboards/db", forced).await;
    assert_eq!((status, saved["version"].clone()), (200, json!(3)), "{saved}");

    // History: every version, newest first; one version with its data.
    let (status, history) = get(&vigil, &format!("/api/dashboards/uid/{uid}/versions")).await;
    assert_eq!(status, 200, "{history}");
    let versions = history["versions"].as_array().expect("versions");
    assert_eq!(versions.iter().map(|v| v["version"].as_i64().unwrap_or(-1)).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(versions[0]["parentVersion"], 2);
    assert_eq!(versions[1]["message"], "edit");
    assert_eq!(versions[0]["uid"], uid.as_str());
    let (_, limited) = get(&vigil, &format!("/api/dashboards/uid/{uid}/versions?limit=1&start=1")).await;
    assert_eq!(limited["versions"].as_array().map(|v| v.len()), Some(1));
    assert_eq!(limited["versions"][0]["version"], 2);
    let (status, v1) = get(&vigil, &format!("/api/dashboards/uid/{uid}/versions/1")).await;
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["data"]["title"], "Production Overview");
    let (status, _) = get(&vigil, &format!("/api/dashboards/uid/{uid}/versions/99")).await;
    assert_eq!(status, 404);

    // Restore version 1: it becomes version 4.
    let (status, restored) = post(&vigil, &format!("/api/dashboards/uid/{uid}/restore"), json!({"version": 1})).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!((restored["version"].clone(), restored["status"].clone()), (json!(4), json!("success")));
    let (_, got) = get(&vigil, &format!("/api/dashboards/uid/{uid}")).await;
    assert_eq!(got["dashboard"]["title"], "Production Overview");
    assert_eq!(got["dashboard"]["version"], 4);
    let (_, history) = get(&vigil, &format!("/api/dashboards/uid/{uid}/versions")).await;
    assert_eq!(history["versions"][0]["restoredFrom"], 1);

    // Delete, then it is gone.
    let req = reqwest::Method::DELETE;
    let (status, deleted) = call(req.clone(), &vigil.url(&format!("/api/dashboards/uid/{uid}")), None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["title"], "Production Overview");
    assert_eq!(deleted["message"], "Dashboard Production Overview deleted");
    let (status, missing) = get(&vigil, &format!("/api/dashboards/uid/{uid}")).await;
    assert_eq!((status, missing["message"].clone()), (404, json!("Dashboard not found")));
    let (status, _) = call(req, &vigil.url(&format!("/api/dashboards/uid/{uid}")), None).await;
    assert_eq!(status, 404);

    drop(vigil);
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn dashboards_survive_a_restart_on_the_same_data_folder() {
    let data = temp_dir("vigil-dash-data");
    let (vigil, _) = start(&data, &[]).await;
    let (status, created) =
        post(&vigil, "/api/dashboards/db", json!({"dashboard": {"title": "Kept", "uid": "kept", "tags": ["a"]}})).await;
    assert_eq!(status, 200, "{created}");
    let (status, _) =
        post(&vigil, "/api/dashboards/db", json!({"dashboard": {"title": "Kept 2", "uid": "kept", "version": 1}}))
            .await;
    assert_eq!(status, 200);
    // Killed (SIGKILL), not stopped: an acknowledged save is on disk.
    drop(vigil);
    assert!(data.join("dashboards.db").exists(), "the database lives in the storage folder by default");

    let (vigil, _) = start(&data, &[]).await;
    let (status, got) = get(&vigil, "/api/dashboards/uid/kept").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!((got["dashboard"]["title"].clone(), got["meta"]["version"].clone()), (json!("Kept 2"), json!(2)));
    let (_, history) = get(&vigil, "/api/dashboards/uid/kept/versions").await;
    assert_eq!(history["versions"].as_array().map(|v| v.len()), Some(2));
    // The TSDB did not take the file for anything of its own.
    let (status, _) = get(&vigil, "/api/v1/status/tsdb").await;
    assert_eq!(status, 200);
    drop(vigil);
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn provisioning_loads_good_files_and_logs_bad_ones() {
    let data = temp_dir("vigil-dash-data");
    let files = temp_dir("vigil-dash-files");
    std::fs::create_dir_all(files.join("Infra")).expect("mkdir");
    std::fs::write(files.join("good.json"), r#"{"title": "Good one", "uid": "good", "schemaVersion": 39}"#)
        .expect("write");
    std::fs::write(files.join("Infra/hosts.json"), r#"{"title": "Hosts", "uid": "hosts"}"#).expect("write");
    std::fs::write(files.join("bad.json"), r#"{"title": "Bad", "panels": [{"type": 7}]}"#).expect("write");
    let db = temp_dir("vigil-dash-db").join("elsewhere.db");
    let flags = ["--dashboards.provisioning-dir", files.to_str().expect("utf-8 path"), "--dashboards.path"];
    let mut flags: Vec<&str> = flags.to_vec();
    flags.push(db.to_str().expect("utf-8 path"));
    let (vigil, log) = start(&data, &flags).await;

    let (status, good) = get(&vigil, "/api/dashboards/uid/good").await;
    assert_eq!(status, 200, "{good}");
    assert_eq!(good["meta"]["provisioned"], true);
    assert_eq!(good["meta"]["canDelete"], false);
    let (_, hosts) = get(&vigil, "/api/dashboards/uid/hosts").await;
    assert_eq!(hosts["meta"]["folderTitle"], "Infra");
    let (_, all) = get(&vigil, "/api/search?type=dash-db").await;
    assert_eq!(titles(&all), ["Good one", "Hosts"]);
    assert!(db.exists(), "--dashboards.path is used");
    assert!(!data.join("dashboards.db").exists());

    let log_text = std::fs::read_to_string(&log).expect("read log");
    let bad_line = log_text
        .lines()
        .find(|l| l.contains("bad.json"))
        .unwrap_or_else(|| panic!("no log of bad.json in:\n{log_text}"));
    assert!(bad_line.contains("dashboard.panels[0].type"), "{bad_line}");
    // Provisioned dashboards stay: their file would bring them back.
    let (status, refused) = call(reqwest::Method::DELETE, &vigil.url("/api/dashboards/uid/good"), None).await;
    assert_eq!(status, 400, "{refused}");
    drop(vigil);
    for dir in [data, files, db.parent().map(Path::to_owned).unwrap_or_default()] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn hostile_and_malformed_bodies_get_clear_errors() {
    let data = temp_dir("vigil-dash-data");
    let (vigil, _) = start(&data, &[]).await;

    // Over the size limit: 413 with a JSON message.
    let huge = format!(r#"{{"dashboard": {{"title": "x", "description": "{}"}}}}"#, "a".repeat(11 * 1024 * 1024));
    let (status, answer) = post_raw(&vigil, "/api/dashboards/db", huge).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("10 MiB")), "{answer}");

    // Malformed JSON: the line and column.
    let (status, answer) = post_raw(&vigil, "/api/dashboards/db", "{\n  \"dashboard\": {\"title\": \"x\",}\n}").await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("line 2 column")), "{answer}");

    // Wrong types: the JSON path.
    let cases = [
        (json!([1, 2]), "$"),
        (json!({"dashboard": "x"}), "dashboard"),
        (json!({"title": "no wrapper"}), "dashboard"),
        (json!({"dashboard": {"title": "x"}, "overwrite": "yes"}), "overwrite"),
        (json!({"dashboard": {"title": 42}}), "dashboard.title"),
        (json!({"dashboard": {"title": "x", "tags": ["a", {"b": 1}]}}), "dashboard.tags[1]"),
        (json!({"dashboard": {"title": "x", "panels": [{}, {"title": ["no"]}]}}), "dashboard.panels[1].title"),
        (json!({"dashboard": {"title": "x", "uid": "../etc/passwd"}}), "dashboard.uid"),
        (json!({"dashboard": {"title": "x", "panels": vec![json!({}); 5000]}}), "dashboard.panels"),
    ];
    for (body, path) in cases {
        let (status, answer) = post(&vigil, "/api/dashboards/db", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["path"], path, "{body}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| m.starts_with(path)), "{answer}");
    }
    let (status, _) = post(&vigil, "/api/dashboards/uid/nope/restore", json!({"version": "1"})).await;
    assert_eq!(status, 400);

    // Script in a title is data: stored and returned as sent.
    let title = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let (status, saved) =
        post(&vigil, "/api/dashboards/db", json!({"dashboard": {"title": title, "uid": "xss"}})).await;
    assert_eq!(status, 200, "{saved}");
    let (_, got) = get(&vigil, "/api/dashboards/uid/xss").await;
    assert_eq!(got["dashboard"]["title"], title);
    let (_, hits) = get(&vigil, "/api/search?query=script").await;
    assert_eq!(titles(&hits), [title]);
    drop(vigil);
    let _ = std::fs::remove_dir_all(data);
}

/// Not a benchmark run (see `benches/dashboards.rs`), but the figure over
/// HTTP: 1,000 dashboards saved, then searched.
#[tokio::test]
async fn search_over_a_thousand_dashboards() {
    let data = temp_dir("vigil-dash-data");
    let (vigil, _) = start(&data, &[]).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    for i in 0..1000 {
        let body = json!({"dashboard": {"title": format!("Dashboard {i:04}"), "tags": [format!("team-{}", i % 10)],
            "panels": (0..10).map(|p| json!({"type": "timeseries", "title": format!("panel {p}"),
                "targets": [{"expr": format!("rate(http_requests_total{{job=\"j{p}\"}}[$__rate_interval])")}]})).collect::<Vec<_>>()}});
        let response = client.post(vigil.url("/api/dashboards/db")).json(&body).send().await.expect("save");
        assert_eq!(response.status().as_u16(), 200);
    }
    let save_each = started.elapsed() / 1000;
    let started = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        let (status, hits) = get(&vigil, "/api/search?query=dashboard&tag=team-3").await;
        assert_eq!((status, hits.as_array().map(Vec::len)), (200, Some(100)));
    }
    let search_each = started.elapsed() / rounds;
    let (_, all) = get(&vigil, "/api/search?limit=5000").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1000));
    eprintln!("over HTTP (debug build): save {save_each:?} each, search over 1000 dashboards {search_each:?}");
    drop(vigil);
    let _ = std::fs::remove_dir_all(data);
}

/// Every PromQL expression of a dashboard's panels, Grafana's variables
/// replaced by values a query can run with.
fn panel_queries(dashboard: &Value, variables: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let mut expr = target["expr"].as_str().expect("expr").to_owned();
            for (name, value) in variables {
                expr = expr.replace(name, value);
            }
            assert!(!expr.contains('$'), "a variable is left in {expr}");
            queries.push((panel["title"].as_str().unwrap_or("?").to_owned(), expr));
        }
    }
    queries
}

/// The bundled dashboards load through provisioning, every query in them
/// runs, and they name only metrics that Vigil and a real node_exporter
/// (Debian's) export.
#[tokio::test]
async fn bundled_dashboards_provision_and_their_queries_run() {
    const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: install it with `apt-get install -y prometheus-node-exporter` (or `cargo xtask setup --test-packages`)"
    );
    let exporter_port = free_port();
    let _exporter = KillOnDrop(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node exporter"),
    );
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dashboards");
    let port = free_port();
    // The bundled rules, evaluated every second, so the dashboard's rule
    // panels have `prometheus_rule_*` series to show.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules/vigil.rules.yml");
    let config = format!(
        "{}  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\nrule_files: ['{}']\n",
        Vigil::self_scrape_config(port).replacen("global:\n", "global:\n  evaluation_interval: 1s\n", 1),
        rules.display()
    );
    let vigil = Vigil::start_with_flags(
        port,
        &config,
        &["--dashboards.provisioning-dir", examples.to_str().expect("utf-8 path")],
    );
    let (_, hits) = get(&vigil, "/api/search?type=dash-db").await;
    assert_eq!(titles(&hits), ["Host (node exporter)", "Vigil"]);

    // After a few scrapes of both, every metric they export is a series.
    let names = eventually(Duration::from_secs(20), "three scrapes of each target", || async {
        let (_, count) = get(&vigil, "/api/v1/query?query=min(count_over_time(up[1m]))").await;
        let scrapes = count["data"]["result"][0]["value"][1].as_str()?.parse::<u32>().ok()?;
        let (_, up) = get(&vigil, "/api/v1/query?query=sum(up)").await;
        if scrapes < 3 || up["data"]["result"][0]["value"][1] != "2" {
            return None;
        }
        let (_, names) = get(&vigil, "/api/v1/label/__name__/values").await;
        Some(names["data"].as_array()?.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect::<Vec<_>>())
    })
    .await;
    let metric_names = metric_names_in();
    for (uid, variables) in [
        ("vigil-overview", [("$__rate_interval", "15s"), ("$job", "vigil"), ("$instance", ".*")]),
        ("node-exporter-host", [("$__rate_interval", "15s"), ("$job", "node"), ("$instance", ".*")]),
    ] {
        let (status, got) = get(&vigil, &format!("/api/dashboards/uid/{uid}")).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["dashboard"]["schemaVersion"], 39);
        assert_eq!(got["meta"]["provisioned"], true);
        let queries = panel_queries(&got["dashboard"], &variables);
        assert!(queries.len() >= 15, "{uid}: only {} queries", queries.len());
        for (panel, expr) in &queries {
            let url = vigil.url(&format!("/api/v1/query?query={}", urlencode(expr)));
            let (status, answer) = call(reqwest::Method::GET, &url, None).await;
            assert_eq!(
                (status, answer["status"].clone()),
                (200, json!("success")),
                "{uid} / {panel}: {expr}: {answer}"
            );
            for name in metric_names(expr) {
                assert!(
                    name == "ALERTS" || names.contains(&name),
                    "{uid} / {panel}: {name} is not a metric Vigil or node_exporter exports ({expr})"
                );
            }
        }
    }
}

/// A child process killed (by PID) when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Metric names in an expression: identifiers right before a `{` selector.
fn metric_names_in() -> impl Fn(&str) -> Vec<String> {
    |expr: &str| {
        let bytes = expr.as_bytes();
        let mut names = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            if *b != b'{' {
                continue;
            }
            let start = bytes[..i]
                .iter()
                .rposition(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b':'))
                .map_or(0, |p| p + 1);
            if start < i {
                names.push(expr[start..i].to_owned());
            }
        }
        names
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
