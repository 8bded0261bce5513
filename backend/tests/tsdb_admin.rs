//! The storage's admin tools. `vigil tsdb analyze` gives promtool's
//! figures on the same data, imported by each. The admin API over HTTP
//! (`--web.enable-admin-api`): off by default;
//! `delete_series` hides data in blocks (tombstones files) and in the head
//! (WAL records) across restarts and a SIGKILL right after its 204;
//! `clean_tombstones` shrinks the block; a snapshot folder serves the same
//! data; and the answers have the status codes and JSON of Debian's real
//! Prometheus (`apt-get install -y prometheus`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Vigil, eventually, free_port, temp_dir};
use serde_json::{Value, json};
use vigil::tsdb::import::synthetic::{self, Spec};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
const ADMIN: &str = "--web.enable-admin-api";

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Sends `method` to `url` and returns the status and the body as JSON
/// (`Null` for an empty body).
async fn call(method: &str, url: &str) -> (u16, Value) {
    let client = reqwest::Client::new();
    let request = match method {
        "PUT" => client.put(url),
        "GET" => client.get(url),
        _ => client.post(url),
    };
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: {e}: {text}"))
    };
    (status, body)
}

/// Raw samples of a range-vector query at `time`: series (as JSON text of
/// the labels) → timestamps in seconds.
async fn samples(base: &str, query: &str, time: f64) -> BTreeMap<String, Vec<f64>> {
    let url = format!("{base}/api/v1/query?query={}&time={time}", urlencode(query));
    let (status, body) = call("GET", &url).await;
    assert_eq!(status, 200, "{query}: {body}");
    let mut out = BTreeMap::new();
    for series in body["data"]["result"].as_array().expect("a matrix") {
        let times: Vec<f64> =
            series["values"].as_array().expect("values").iter().map(|p| p[0].as_f64().expect("time")).collect();
        out.insert(series["metric"].to_string(), times);
    }
    out
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An OpenMetrics file of `adm_metric{k="a"}` and `{k="b"}`, one sample a
/// minute for six hours from `base` (seconds).
fn write_openmetrics(path: &Path, base: i64) {
    let mut text = String::from("# TYPE adm_metric gauge\n");
    for i in 0..360 {
        for k in ["a", "b"] {
            text.push_str(&format!("adm_metric{{k=\"{k}\"}} {i} {}\n", base + i * 60));
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(path, text).expect("write the OpenMetrics file");
}

fn import(file: &Path, data: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["tsdb", "import", "openmetrics"])
        .arg(file)
        .arg("--storage.tsdb.path")
        .arg(data)
        .status()
        .expect("run vigil tsdb import");
    assert!(status.success(), "vigil tsdb import openmetrics failed");
}

/// The block folders of a storage folder and the total size of their
/// chunks (meta.json grows when a rewrite names its parent).
fn blocks(data: &Path) -> (Vec<PathBuf>, u64) {
    let mut dirs = Vec::new();
    let mut bytes = 0;
    for entry in std::fs::read_dir(data).expect("list data").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 26 && entry.path().is_dir() {
            bytes += std::fs::metadata(entry.path().join("chunks")).map_or(0, |m| m.len());
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    (dirs, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_apis_are_disabled_by_default() {
    let vigil = Vigil::start_scraping_itself();
    for path in ["delete_series?match[]=up", "clean_tombstones", "snapshot"] {
        for method in ["POST", "PUT"] {
            let (status, body) = call(method, &vigil.url(&format!("/api/v1/admin/tsdb/{path}"))).await;
            assert_eq!(status, 500, "{method} {path}");
            assert_eq!(
                body,
                json!({"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"}),
                "{method} {path}"
            );
        }
    }
    let (status, _) = call("GET", &vigil.url("/api/v1/admin/tsdb/snapshot")).await;
    assert_eq!(status, 405, "GET is not an admin method");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_clean_and_snapshot() {
    let dir = temp_dir("vigil-admin");
    let data = dir.join("data");
    // Six hours ending four hours ago: whole 2h blocks, older than the
    // head's first sample.
    let base = (now_s() as i64 - 10 * 3600) / 60 * 60;
    let end = (base + 359 * 60) as f64;
    let om = dir.join("data.om");
    write_openmetrics(&om, base);
    import(&om, &data);
    let port = free_port();
    let config = dir.join("vigil.yml");
    std::fs::write(&config, Vigil::self_scrape_config(port)).expect("write config");
    let mut vigil = Vigil::start_with_flags_in(port, &config, &data, &[ADMIN]);
    let url = vigil.url("");

    let all = samples(&url, "adm_metric[7h]", end).await;
    assert_eq!(all.len(), 2);
    assert!(all.values().all(|t| t.len() == 360), "{all:?}");
    let (a, b) = (r#"{"__name__":"adm_metric","k":"a"}"#, r#"{"__name__":"adm_metric","k":"b"}"#);

    // Blocks: an hour of k="a".
    let (from, to) = (base + 3600, base + 7200);
    let (status, body) = call(
        "POST",
        &format!(
            "{url}/api/v1/admin/tsdb/delete_series?match[]={}&start={from}&end={to}",
            urlencode("adm_metric{k=\"a\"}")
        ),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let expected_a: Vec<f64> = all[a].iter().copied().filter(|t| *t < from as f64 || *t > to as f64).collect();
    assert_eq!(expected_a.len(), 360 - 61);
    let check_blocks = |got: BTreeMap<String, Vec<f64>>| {
        assert_eq!(got[a], expected_a, "k=a keeps what is outside the range");
        assert_eq!(got[b], all[b], "k=b is untouched");
    };
    check_blocks(samples(&url, "adm_metric[7h]", end).await);
    let (_, block_bytes) = blocks(&data);
    assert!(blocks(&data).0.iter().any(|d| d.join("tombstones").exists()));

    // The head: everything of `up` until now, then SIGKILL right after the 204.
    eventually(Duration::from_secs(20), "three scrapes of up", || {
        let url = url.clone();
        async move {
            let got = samples(&url, "up[10m]", now_s()).await;
            got.values().next().filter(|t| t.len() >= 3).map(|_| ())
        }
    })
    .await;
    let deleted_until = now_s();
    let (status, _) =
        call("PUT", &format!("{url}/api/v1/admin/tsdb/delete_series?match[]=up&end={deleted_until}")).await;
    assert_eq!(status, 204);
    vigil.child.kill().expect("SIGKILL vigil");
    vigil.child.wait().expect("reap vigil");
    drop(vigil);

    let vigil = Vigil::start_with_flags_in(port, &config, &data, &[ADMIN]);
    assert_eq!(
        samples(&url, "up[10m]", deleted_until - 1.0).await,
        BTreeMap::new(),
        "up stays deleted after a SIGKILL (WAL)"
    );
    check_blocks(samples(&url, "adm_metric[7h]", end).await);

    // Cleaning rewrites the block without the hour: smaller, no tombstones.
    let (status, body) = call("POST", &format!("{url}/api/v1/admin/tsdb/clean_tombstones")).await;
    assert_eq!((status, body), (204, Value::Null));
    let (dirs, cleaned_bytes) = blocks(&data);
    assert!(cleaned_bytes < block_bytes, "{cleaned_bytes} bytes after cleaning, {block_bytes} before");
    eprintln!(
        "clean_tombstones: chunks {block_bytes} → {cleaned_bytes} bytes (61 of the 720 imported samples deleted)"
    );
    assert!(dirs.iter().all(|d| !d.join("tombstones").exists()));
    check_blocks(samples(&url, "adm_metric[7h]", end).await);
    let metrics = reqwest::get(format!("{url}/metrics")).await.expect("GET /metrics").text().await.expect("body");
    assert!(metrics.contains("prometheus_tsdb_tombstone_cleanup_seconds_count 1\n"), "{metrics}");

    // A snapshot, with the head, opens with the same answers.
    let restarted = now_s();
    eventually(Duration::from_secs(20), "scrapes after the restart", || {
        let url = url.clone();
        async move {
            let got = samples(&url, "up[10m]", now_s() - 1.0).await;
            got.values().next().filter(|t| t.iter().any(|t| *t > restarted)).map(|_| ())
        }
    })
    .await;
    let snapshot_time = now_s() - 1.0;
    let (status, body) = call("POST", &format!("{url}/api/v1/admin/tsdb/snapshot")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    let name = body["data"]["name"].as_str().expect("a name").to_owned();
    assert!(is_snapshot_name(&name), "{name}");
    let snapshot = data.join("snapshots").join(&name);
    assert!(snapshot.is_dir());
    let empty = dir.join("empty.yml");
    std::fs::write(&empty, "global:\n  scrape_interval: 15s\n").expect("write config");
    let copy = Vigil::start_with_flags_in(free_port(), &empty, &snapshot, &[]);
    let copy_url = copy.url("");
    for (query, time) in
        [("adm_metric[7h]", end), ("up[10m]", snapshot_time), ("{__name__=~\".+\"}[30s]", snapshot_time)]
    {
        let original = samples(&url, query, time).await;
        assert!(!original.is_empty(), "{query}");
        assert_eq!(samples(&copy_url, query, time).await, original, "{query} in the snapshot");
    }
    // skip_head: blocks only.
    let (status, body) = call("POST", &format!("{url}/api/v1/admin/tsdb/snapshot?skip_head=true")).await;
    assert_eq!(status, 200, "{body}");
    let name = body["data"]["name"].as_str().expect("a name");
    assert_eq!(blocks(&data.join("snapshots").join(name)).0.len(), blocks(&data).0.len());
    drop((copy, vigil));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `20261125T140000Z-<16 hex digits>`.
fn is_snapshot_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() == 33
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'T'
        && bytes[9..15].iter().all(u8::is_ascii_digit)
        && &bytes[15..17] == b"Z-"
        && bytes[17..].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// A Prometheus process, killed on drop.
struct Prometheus(Child, u16, PathBuf);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.2);
    }
}

fn start_prometheus(config: &Path, flags: &[&str]) -> Prometheus {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: install it with `apt-get install -y prometheus` (or run `cargo xtask setup --test-packages`)"
    );
    let port = free_port();
    let data = temp_dir("prometheus-admin");
    let child = Command::new(PROMETHEUS)
        .args(flags)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start prometheus");
    Prometheus(child, port, data)
}

/// What of an answer must be the same in both: the status code, the JSON
/// keys at every level, the status and errorType, and the error text
/// unless it is a PromQL parse error (worded differently).
fn shape(status: u16, body: &Value, compare_error_text: bool) -> Value {
    fn keys(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), keys(v))).collect()),
            Value::String(_) => json!("string"),
            other => other.clone(),
        }
    }
    let mut out = json!({"code": status, "keys": keys(body)});
    for key in ["status", "errorType"] {
        out[key] = body.get(key).cloned().unwrap_or(Value::Null);
    }
    // Prometheus 3 lowercased "Invalid time value"; Vigil follows it.
    if compare_error_text && let Some(error) = body.get("error").and_then(Value::as_str) {
        out["error"] = json!(error.to_lowercase());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_answers_match_prometheus() {
    let dir = temp_dir("vigil-admin-compat");
    let config = dir.join("empty.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").expect("write config");
    let prometheus = start_prometheus(&config, &[ADMIN]);
    let prometheus_off = start_prometheus(&config, &[]);
    let vigil = Vigil::start_with_flags(free_port(), "global:\n  scrape_interval: 15s\n", &[ADMIN]);
    let vigil_off = Vigil::start_with_flags(free_port(), "global:\n  scrape_interval: 15s\n", &[]);
    let prom_url =
        |off: bool, path: &str| format!("http://127.0.0.1:{}{path}", if off { prometheus_off.1 } else { prometheus.1 });
    for port in [prometheus.1, prometheus_off.1] {
        eventually(Duration::from_secs(30), "prometheus ready", || async move {
            let answer = reqwest::get(format!("http://127.0.0.1:{port}/-/ready")).await.ok()?;
            (answer.status() == 200).then_some(())
        })
        .await;
    }
    // (method, path and query, disabled server?, compare the error text?)
    let table: [(&str, &str, bool, bool); 15] = [
        ("POST", "delete_series?match[]=up", true, true),
        ("PUT", "clean_tombstones", true, true),
        ("POST", "snapshot", true, true),
        ("POST", "delete_series", false, true),
        ("POST", "delete_series?start=0", false, true),
        ("POST", "delete_series?match[]=up&start=yesterday", false, true),
        ("POST", "delete_series?match[]=up&end=x", false, true),
        ("POST", "delete_series?match[]=%7B", false, false),
        ("POST", "delete_series?match[]=up&start=0&end=100", false, true),
        ("POST", "delete_series?match[]=up&start=100&end=0", false, true),
        ("PUT", "delete_series?match[]=%7Bjob%3D~%22.%2B%22%7D", false, true),
        ("POST", "clean_tombstones", false, true),
        ("POST", "snapshot?skip_head=maybe", false, true),
        ("POST", "snapshot?skip_head=true", false, true),
        ("PUT", "snapshot", false, true),
    ];
    let mut differences = Vec::new();
    for (method, path, off, compare_text) in table {
        let path = format!("/api/v1/admin/tsdb/{path}");
        let (ps, pb) = call(method, &prom_url(off, &path)).await;
        let v = if off { &vigil_off } else { &vigil };
        let (vs, vb) = call(method, &v.url(&path)).await;
        let (want, got) = (shape(ps, &pb, compare_text), shape(vs, &vb, compare_text));
        if want != got {
            differences.push(format!(
                "{method} {path}{}\n  prometheus {want}\n  vigil      {got}",
                if off { " (disabled)" } else { "" }
            ));
        }
        if let Some(name) = vb["data"]["name"].as_str() {
            assert!(is_snapshot_name(name), "{name}");
            assert!(pb["data"]["name"].as_str().is_some_and(is_snapshot_name), "{pb}");
        }
    }
    assert!(differences.is_empty(), "answers differ:\n{}", differences.join("\n"));
    drop((vigil, vigil_off, prometheus, prometheus_off));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An OpenMetrics file for one 2h block from `t0` (aligned): 18 series over
/// the whole range, 4 over its second hour, 10 of ten minutes each (churn),
/// and a last sample 1 ms before the range ends, so promtool's block
/// (first sample to last + 1 ms) and Vigil's (first sample to the range's
/// end) span the same time.
fn write_analyze_data(path: &Path, t0: i64) {
    let mut text = String::from("# TYPE http_requests gauge\n");
    for p in 0..6 {
        for code in ["200", "404", "500"] {
            for k in 0..120 {
                text.push_str(&format!("http_requests{{path=\"/p{p}\",code=\"{code}\"}} {k} {}\n", t0 + k * 60));
            }
            if p == 0 && code == "200" {
                text.push_str(&format!("http_requests{{path=\"/p0\",code=\"200\"}} 120 {}.999\n", t0 + 7199));
            }
        }
    }
    text.push_str("# TYPE temp_celsius gauge\n");
    for room in 0..4 {
        for k in 60..120 {
            text.push_str(&format!("temp_celsius{{room=\"r{room}\"}} 20.5 {}\n", t0 + k * 60));
        }
    }
    text.push_str("# TYPE short_lived gauge\n");
    for id in 0..10 {
        for k in 0..10 {
            text.push_str(&format!("short_lived{{id=\"{id}\",kind=\"batch\"}} 1 {}\n", t0 + id * 600 + k * 60));
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(path, text).expect("write the OpenMetrics file");
}

/// promtool's analyze output: the `Key: value` lines, and each list as
/// key → figure.
fn parse_analyze(text: &str) -> (BTreeMap<String, String>, BTreeMap<String, BTreeMap<String, u64>>) {
    let (mut header, mut lists) = (BTreeMap::new(), BTreeMap::new());
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(title) = line.strip_suffix(':') {
            current = Some(title.to_owned());
            lists.insert(title.to_owned(), BTreeMap::new());
        } else if let (Some(title), Some((figure, key))) = (&current, line.split_once(' ')) {
            let figure = figure.parse().unwrap_or_else(|_| panic!("a figure in {line:?}"));
            lists.get_mut(title).expect("section").insert(key.to_owned(), figure);
        } else if let Some((key, value)) = line.split_once(": ") {
            header.insert(key.to_owned(), value.to_owned());
        }
    }
    (header, lists)
}

fn output(command: &mut Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn analyze_gives_promtools_figures_on_the_same_data() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install it with `apt-get install -y prometheus` (or run `cargo xtask setup --test-packages`)"
    );
    let dir = temp_dir("vigil-analyze");
    let om = dir.join("data.om");
    let t0 = 1_699_999_200;
    write_analyze_data(&om, t0);
    let (prom, vigil) = (dir.join("prometheus"), dir.join("vigil"));
    output(
        Command::new(PROMTOOL).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&om).arg(&prom),
        "promtool tsdb create-blocks-from openmetrics",
    );
    import(&om, &vigil);
    let limit = "--limit=1000";
    let theirs = output(Command::new(PROMTOOL).args(["tsdb", "analyze", limit]).arg(&prom), "promtool tsdb analyze");
    let ours = output(
        Command::new(env!("CARGO_BIN_EXE_vigil")).args(["tsdb", "analyze", limit, "--storage.tsdb.path"]).arg(&vigil),
        "vigil tsdb analyze",
    );
    let ((their_header, their_lists), (our_header, our_lists)) = (parse_analyze(&theirs), parse_analyze(&ours));
    // promtool 2.x says "Series", 3.x "Total Series" (Vigil's).
    let mut their_header = their_header;
    if let Some(series) = their_header.remove("Series") {
        their_header.insert("Total Series".to_owned(), series);
    }
    for key in [
        "Duration",
        "Total Series",
        "Label names",
        "Postings (unique label pairs)",
        "Postings entries (total label pairs)",
    ] {
        assert_eq!(our_header.get(key), their_header.get(key), "{key}\npromtool:\n{theirs}\nvigil:\n{ours}");
    }
    assert_eq!(our_header["Total Series"], "32");
    assert_eq!(their_lists.len(), 6, "promtool's sections:\n{theirs}");
    assert_eq!(our_lists, their_lists, "promtool:\n{theirs}\nvigil:\n{ours}");
    // Samples and chunks: promtool's `tsdb list` has them.
    let list = output(Command::new(PROMTOOL).args(["tsdb", "list"]).arg(&prom), "promtool tsdb list");
    let row: Vec<&str> = list.lines().nth(1).expect("one block listed").split_whitespace().collect();
    assert_eq!(our_header["Total Samples"], row[4], "{list}");
    assert_eq!(our_header["Total Samples"], (18 * 120 + 1 + 4 * 60 + 10 * 10).to_string());
    // Chunks differ by design: Vigil cuts at 120 samples, Prometheus lets
    // the 121st in (it cuts by time, and at 240).
    assert_eq!((our_header["Total Chunks"].as_str(), row[5]), ("33", "32"), "{list}");
    let per_sample: f64 = our_header["Bytes per Sample"].parse().expect("a number");
    assert!(per_sample > 0.5 && per_sample < 16.0, "{per_sample}");
    // A realistic dataset (the differential test's: histograms, summaries,
    // 378 series over 90 minutes in one 2h window). Blocks end differently
    // here (promtool's at the last sample, Vigil's at the window's end), so
    // the durations and churn differ; every other figure must not.
    let synthetic = dir.join("synthetic.om");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&synthetic).expect("create"));
    let written = synthetic::write_openmetrics(&Spec::small(), &mut file).expect("write synthetic data");
    std::io::Write::flush(&mut file).expect("flush");
    drop(file);
    let (prom, vigil) = (dir.join("prometheus-synthetic"), dir.join("vigil-synthetic"));
    output(
        Command::new(PROMTOOL).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&synthetic).arg(&prom),
        "promtool tsdb create-blocks-from openmetrics",
    );
    import(&synthetic, &vigil);
    let theirs = output(Command::new(PROMTOOL).args(["tsdb", "analyze", limit]).arg(&prom), "promtool tsdb analyze");
    let ours = output(
        Command::new(env!("CARGO_BIN_EXE_vigil")).args(["tsdb", "analyze", limit, "--storage.tsdb.path"]).arg(&vigil),
        "vigil tsdb analyze",
    );
    let ((mut their_header, mut their_lists), (our_header, mut our_lists)) =
        (parse_analyze(&theirs), parse_analyze(&ours));
    if let Some(series) = their_header.remove("Series") {
        their_header.insert("Total Series".to_owned(), series);
    }
    assert_eq!(our_header["Total Series"], written.series.to_string());
    for key in ["Total Series", "Label names", "Postings (unique label pairs)", "Postings entries (total label pairs)"]
    {
        assert_eq!(our_header.get(key), their_header.get(key), "{key}\npromtool:\n{theirs}\nvigil:\n{ours}");
    }
    for lists in [&mut our_lists, &mut their_lists] {
        lists.retain(|title, _| !title.contains("churning"));
    }
    assert_eq!(our_lists.len(), 4);
    assert_eq!(our_lists, their_lists, "promtool:\n{theirs}\nvigil:\n{ours}");
    let list = output(Command::new(PROMTOOL).args(["tsdb", "list"]).arg(&prom), "promtool tsdb list");
    let row: Vec<&str> = list.lines().nth(1).expect("one block listed").split_whitespace().collect();
    assert_eq!(list.lines().count(), 2, "one block: {list}");
    assert_eq!(our_header["Total Samples"], row[4], "{list}");
    assert_eq!(our_header["Total Samples"], written.samples.to_string());
    eprintln!(
        "synthetic block: {} series, {} samples, {} chunk bytes, {} bytes per sample",
        our_header["Total Series"],
        our_header["Total Samples"],
        our_header["Chunk Bytes"],
        our_header["Bytes per Sample"]
    );

    // A block that is not there is an error naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["tsdb", "analyze", "--storage.tsdb.path"])
        .arg(&vigil)
        .arg("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .output()
        .expect("run vigil");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("block \"01ARZ3NDEKTSV4RRFFQ69G5FAV\" not found"));
    let _ = std::fs::remove_dir_all(&dir);
}
