//! End-to-end tests of the query limits and the API endpoints beyond
//! `query`/`query_range`, against the real `vigil` binary: the `--query.*`
//! flags (timeout, max-samples, max-concurrency) with Prometheus's error
//! JSON and status codes, `format_query`, `parse_query`, `query_exemplars`,
//! the `status/*` pages, and bad parameters. Exact JSON is compared where
//! Prometheus's answer is known.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Vigil, eventually, free_port};
use serde_json::{Value, json};

/// A query that takes minutes in a debug build unless stopped: each of
/// 10,001 steps sorts a two-day window of one-second points. It loads few
/// samples (a subquery of a literal), so only the timeout can stop it.
const HEAVY: &str = "quantile_over_time(0.5, vector(1)[2d:1s])";

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("HTTP request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {body}"));
    (status, json)
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).form(form).send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {body}"));
    (status, json)
}

/// The heavy range query by POST form, with an optional `timeout`.
async fn heavy_range_query(vigil: &Vigil, timeout: Option<&str>) -> (u16, Value) {
    let mut form = vec![("query", HEAVY), ("start", "0"), ("end", "100000"), ("step", "10")];
    if let Some(timeout) = timeout {
        form.push(("timeout", timeout));
    }
    post_form(&vigil.url("/api/v1/query_range"), &form).await
}

/// A gauge of Vigil's own `/metrics`, by exact name.
async fn own_metric(vigil: &Vigil, name: &str) -> Option<f64> {
    let text = reqwest::get(vigil.url("/metrics")).await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn timeout_error(where_: &str) -> Value {
    json!({"status": "error", "errorType": "timeout", "error": format!("query timed out in {where_}")})
}

fn config_only(port: u16) -> String {
    // Scrapes nothing reachable: these tests bring their own data or none.
    format!(
        "global:\n  scrape_interval: 1h\nscrape_configs:\n  - job_name: none\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
}

#[tokio::test]
async fn format_and_parse_query_answer_as_prometheus() {
    let port = free_port();
    let vigil = Vigil::start(port, &config_only(port));
    let long =
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m]))";
    let cases: &[(&str, &str, u16, Value)] = &[
        (
            "format_query",
            "sum(rate(x[5m]))by(job)",
            200,
            json!({"status": "success", "data": "sum by (job) (rate(x[5m]))"}),
        ),
        (
            "format_query",
            "foo{b=\"2\",a=\"1\"} offset 1h30m",
            200,
            json!({"status": "success", "data": "foo{a=\"1\",b=\"2\"} offset 1h30m"}),
        ),
        (
            "format_query",
            long,
            200,
            json!({"status": "success", "data": "  sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))\n/\n  sum by (job) (rate(http_requests_total[5m]))"}),
        ),
        (
            "format_query",
            "sum(",
            400,
            json!({"status": "error", "errorType": "bad_data", "error": "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}),
        ),
        (
            "parse_query",
            "up{job=\"a\"} @ start()",
            200,
            json!({"status": "success", "data": {
                "type": "vectorSelector", "name": "up", "offset": 0, "offsetExpr": null,
                "matchers": [{"name": "job", "type": "=", "value": "a"}, {"name": "__name__", "type": "=", "value": "up"}],
                "timestamp": null, "startOrEnd": "start", "anchored": false, "smoothed": false,
            }}),
        ),
        (
            "parse_query",
            "topk(3, x) * on (a) group_right (b) y",
            200,
            json!({"status": "success", "data": {
                "type": "binaryExpr", "op": "*", "bool": false,
                "matching": {"card": "one-to-many", "labels": ["a"], "on": true, "include": ["b"], "fillValues": {"lhs": null, "rhs": null}},
                "lhs": {"type": "aggregation", "op": "topk", "grouping": [], "without": false,
                        "param": {"type": "numberLiteral", "val": "3"},
                        "expr": {"type": "vectorSelector", "name": "x", "offset": 0, "offsetExpr": null,
                                 "matchers": [{"name": "__name__", "type": "=", "value": "x"}],
                                 "timestamp": null, "startOrEnd": null, "anchored": false, "smoothed": false}},
                "rhs": {"type": "vectorSelector", "name": "y", "offset": 0, "offsetExpr": null,
                        "matchers": [{"name": "__name__", "type": "=", "value": "y"}],
                        "timestamp": null, "startOrEnd": null, "anchored": false, "smoothed": false},
            }}),
        ),
        (
            "parse_query",
            "\"text\"",
            200,
            json!({"status": "success", "data": {"type": "stringLiteral", "val": "text"}}),
        ),
        (
            "parse_query",
            "",
            400,
            json!({"status": "error", "errorType": "bad_data", "error": "invalid parameter \"query\": 1:1: parse error: no expression found in input"}),
        ),
    ];
    for (endpoint, query, status, want) in cases {
        // The same by GET and by POST form, as Prometheus accepts both.
        let url = vigil.url(&format!("/api/v1/{endpoint}?query={}", urlencode(query)));
        let (got_status, got) = get_json(&url).await;
        assert_eq!((got_status, &got), (*status, want), "GET {endpoint} {query}");
        let (got_status, got) = post_form(&vigil.url(&format!("/api/v1/{endpoint}")), &[("query", query)]).await;
        assert_eq!((got_status, &got), (*status, want), "POST {endpoint} {query}");
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

#[tokio::test]
async fn bad_parameters_are_bad_data_with_prometheus_messages() {
    let port = free_port();
    let vigil = Vigil::start(port, &config_only(port));
    let bad = |error: &str| json!({"status": "error", "errorType": "bad_data", "error": error});
    let cases: &[(&str, Value)] = &[
        (
            "/api/v1/query?query=1&limit=abc",
            bad("invalid parameter \"limit\": strconv.Atoi: parsing \"abc\": invalid syntax"),
        ),
        ("/api/v1/query?query=1&limit=-1", bad("invalid parameter \"limit\": limit must be non-negative")),
        (
            "/api/v1/query?query=1&limit=99999999999999999999",
            bad("invalid parameter \"limit\": strconv.Atoi: parsing \"99999999999999999999\": value out of range"),
        ),
        (
            "/api/v1/query?query=1&timeout=soon",
            bad("invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"),
        ),
        (
            "/api/v1/query?query=1&lookback_delta=x",
            bad("error parsing lookback delta duration: cannot parse \"x\" to a valid duration"),
        ),
        ("/api/v1/query?query=1&time=x", bad("invalid parameter \"time\": cannot parse \"x\" to a valid timestamp")),
        (
            "/api/v1/query_range?query=1&start=10&end=0&step=1",
            bad("invalid parameter \"end\": end timestamp must not be before start time"),
        ),
        (
            "/api/v1/query_range?query=1&start=0&end=10&step=0",
            bad(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ),
        ),
        (
            "/api/v1/query_range?query=x%5B5m%5D&start=0&end=10&step=1",
            bad(
                "invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
            ),
        ),
        (
            "/api/v1/query_exemplars?query=up&start=x",
            bad("invalid parameter \"start\": invalid time value for 'start': cannot parse \"x\" to a valid timestamp"),
        ),
        ("/api/v1/query_exemplars?query=up&start=10&end=5", bad("end timestamp must not be before start timestamp")),
        ("/api/v1/query_exemplars?query=up%7B", bad("1:4: parse error: unexpected end of input inside braces")),
        ("/api/v1/status/tsdb?limit=0", bad("limit must be a positive number")),
        ("/api/v1/status/tsdb?limit=ten", bad("limit must be a positive number")),
        ("/api/v1/status/tsdb?limit=10001", bad("limit must not exceed 10000")),
    ];
    for (path, want) in cases {
        let (status, got) = get_json(&vigil.url(path)).await;
        assert_eq!((status, &got), (400, want), "{path}");
    }
    // Still serving after all that.
    let (status, _) = get_json(&vigil.url("/api/v1/query?query=1")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn query_exemplars_validates_then_answers_empty() {
    let port = free_port();
    let vigil = Vigil::start(port, &config_only(port));
    let cases: &[(&str, Value)] = &[
        ("/api/v1/query_exemplars?query=up", json!({"status": "success", "data": []})),
        ("/api/v1/query_exemplars?query=rate(x%5B5m%5D)&start=0&end=100", json!({"status": "success", "data": []})),
        // No selector: Prometheus leaves `data` out altogether.
        ("/api/v1/query_exemplars?query=1%2B1", json!({"status": "success"})),
    ];
    for (path, want) in cases {
        assert_eq!(get_json(&vigil.url(path)).await, (200, want.clone()), "{path}");
    }
}

#[tokio::test]
async fn limit_truncates_results_with_a_warning() {
    let port = free_port();
    let vigil = Vigil::start(port, &config_only(port));
    let two = "vector(1) or label_replace(vector(2), \"a\", \"b\", \"\", \"\")";
    let (status, got) = post_form(&vigil.url("/api/v1/query"), &[("query", two), ("time", "10"), ("limit", "1")]).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got,
        json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [10, "1"]}]},
               "warnings": ["results truncated due to limit"]})
    );
    let form = [("query", two), ("start", "0"), ("end", "10"), ("step", "10"), ("limit", "1")];
    let (status, got) = post_form(&vigil.url("/api/v1/query_range"), &form).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["data"]["result"].as_array().map(Vec::len), Some(1), "{got}");
    assert_eq!(got["warnings"], json!(["results truncated due to limit"]));
    // A limit at or above the result size, or 0, changes nothing.
    for limit in ["2", "0"] {
        let (_, got) = post_form(&vigil.url("/api/v1/query"), &[("query", two), ("limit", limit)]).await;
        assert_eq!(got["data"]["result"].as_array().map(Vec::len), Some(2), "limit={limit}: {got}");
        assert!(got.get("warnings").is_none(), "limit={limit}: {got}");
    }
}

#[tokio::test]
async fn query_timeout_flag_and_parameter_stop_a_heavy_query_promptly() {
    let port = free_port();
    let vigil = Vigil::start_with_flags(port, &config_only(port), &["--query.timeout", "300ms"]);
    let started = Instant::now();
    let (status, got) = heavy_range_query(&vigil, None).await;
    assert_eq!((status, got), (503, timeout_error("expression evaluation")));
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?} to time out", started.elapsed());
    // The request may lower the timeout (the smaller of the two wins) ...
    let (status, got) = post_form(&vigil.url("/api/v1/query"), &[("query", "1"), ("timeout", "0")]).await;
    assert_eq!((status, got), (503, timeout_error("expression evaluation")));
    // ... but not raise it above the flag's.
    let started = Instant::now();
    let (status, got) = heavy_range_query(&vigil, Some("10m")).await;
    assert_eq!((status, got), (503, timeout_error("expression evaluation")));
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    // Quick queries are unaffected.
    let (status, got) = get_json(&vigil.url("/api/v1/query?query=1%2B1&time=5")).await;
    assert_eq!(
        (status, got),
        (200, json!({"status": "success", "data": {"resultType": "scalar", "result": [5, "2"]}}))
    );
}

#[tokio::test]
async fn max_samples_flag_fails_big_queries_with_execution_422() {
    let port = free_port();
    let vigil = Vigil::start_with_flags(port, &Vigil::self_scrape_config(port), &["--query.max-samples", "10"]);
    // One sample is within the limit.
    eventually(Duration::from_secs(15), "up from the self-scrape", || async {
        let (_, json) = get_json(&vigil.url("/api/v1/query?query=up")).await;
        json["data"]["result"].as_array().filter(|r| !r.is_empty()).map(|_| ())
    })
    .await;
    let too_many = json!({"status": "error", "errorType": "execution",
                          "error": "query processing would load too many samples into memory in query execution"});
    // Every series Vigil exposes about itself: far more than ten.
    let (status, got) = get_json(&vigil.url("/api/v1/query?query=%7Bjob%3D%22vigil%22%7D")).await;
    assert_eq!((status, got), (422, too_many.clone()));
    // Twenty steps of one series is twenty samples: steps after the first
    // scrape, where the lookback finds it at each.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let url = vigil.url(&format!("/api/v1/query_range?query=up&start={}&end={}&step=1", now + 1, now + 20));
    let (status, got) = get_json(&url).await;
    assert_eq!((status, got), (422, too_many));

    // Prometheus's own client reads the error as Prometheus's.
    assert!(
        Path::new("/usr/bin/promtool").exists(),
        "/usr/bin/promtool is missing: install it with `apt-get install -y prometheus`"
    );
    let output = Command::new("/usr/bin/promtool")
        .args(["query", "instant", &vigil.url(""), "{job=\"vigil\"}"])
        .output()
        .expect("run promtool");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "promtool succeeded: {}", String::from_utf8_lossy(&output.stdout));
    assert!(
        stderr.contains("execution: query processing would load too many samples into memory in query execution"),
        "{stderr}"
    );
    let output = Command::new("/usr/bin/promtool")
        .args(["query", "instant", &vigil.url(""), "up"])
        .output()
        .expect("run promtool");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("up{"), "{}", String::from_utf8_lossy(&output.stdout));
}

/// Waits until Vigil reports `n` queries running or waiting.
async fn wait_for_running(vigil: &Vigil, n: f64) {
    eventually(Duration::from_secs(10), &format!("{n} queries running"), || async {
        (own_metric(vigil, "prometheus_engine_queries").await == Some(n)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn max_concurrency_makes_queries_wait_their_turn() {
    let port = free_port();
    let vigil = Vigil::start_with_flags(port, &config_only(port), &["--query.max-concurrency", "1"]);
    assert_eq!(own_metric(&vigil, "prometheus_engine_queries_concurrent_max").await, Some(1.0));

    // Two modest queries at once: the second waits for the first, and both
    // succeed.
    let modest = |end: &'static str| {
        let url = vigil.url("/api/v1/query_range");
        async move {
            post_form(
                &url,
                &[("query", "quantile_over_time(0.5, vector(1)[1h:1s])"), ("start", "0"), ("end", end), ("step", "10")],
            )
            .await
        }
    };
    let (a, b) = tokio::join!(modest("2000"), modest("3000"));
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);

    // While a heavy query holds the only slot, a quick one waits in the
    // queue and its deadline passes there.
    let heavy = tokio::spawn({
        let url = vigil.url("/api/v1/query_range");
        async move {
            let form = [("query", HEAVY), ("start", "0"), ("end", "100000"), ("step", "10"), ("timeout", "5s")];
            post_form(&url, &form).await
        }
    });
    wait_for_running(&vigil, 1.0).await;
    let (status, got) = post_form(&vigil.url("/api/v1/query"), &[("query", "1"), ("timeout", "500ms")]).await;
    assert_eq!((status, got), (503, timeout_error("query queue")));
    let (status, got) = heavy.await.expect("heavy query task");
    assert_eq!((status, got), (503, timeout_error("expression evaluation")));
    // The slot is free again.
    let (status, _) = get_json(&vigil.url("/api/v1/query?query=1")).await;
    assert_eq!(status, 200);
    assert_eq!(own_metric(&vigil, "prometheus_engine_queries").await, Some(0.0));
}

#[tokio::test]
async fn default_concurrency_lets_a_quick_query_pass_a_slow_one() {
    // The counterpart of the test above: with free slots, the quick query
    // does not wait for the heavy one.
    let port = free_port();
    let vigil = Vigil::start(port, &config_only(port));
    assert_eq!(own_metric(&vigil, "prometheus_engine_queries_concurrent_max").await, Some(20.0));
    let heavy = tokio::spawn({
        let url = vigil.url("/api/v1/query_range");
        async move {
            let form = [("query", HEAVY), ("start", "0"), ("end", "100000"), ("step", "10"), ("timeout", "3s")];
            post_form(&url, &form).await
        }
    });
    wait_for_running(&vigil, 1.0).await;
    let (status, got) =
        post_form(&vigil.url("/api/v1/query"), &[("query", "1"), ("time", "1"), ("timeout", "2s")]).await;
    assert_eq!(
        (status, got),
        (200, json!({"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}}))
    );
    let (status, _) = heavy.await.expect("heavy query task");
    assert_eq!(status, 503);
}

#[tokio::test]
async fn status_pages_describe_the_server() {
    let port = free_port();
    let vigil = Vigil::start_with_flags(
        port,
        &Vigil::self_scrape_config(port),
        &["--query.timeout", "90s", "--query.lookback-delta", "1m"],
    );
    let config_path = vigil.dir.join("vigil.yml");
    let config_text = std::fs::read_to_string(&config_path).expect("read config");

    let (status, got) = get_json(&vigil.url("/api/v1/status/config")).await;
    assert_eq!((status, got), (200, json!({"status": "success", "data": {"yaml": config_text}})));

    let (status, got) = get_json(&vigil.url("/api/v1/status/buildinfo")).await;
    assert_eq!(status, 200);
    let data = got["data"].as_object().expect("buildinfo data");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    let mut want = ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"];
    want.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, want);
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
    assert!(data["goVersion"].as_str().is_some_and(|v| v.starts_with("rustc ")), "{got}");

    let (status, got) = get_json(&vigil.url("/api/v1/status/flags")).await;
    assert_eq!(status, 200);
    let flags = &got["data"];
    for (flag, value) in [
        ("query.timeout", "90s"),
        ("query.lookback-delta", "1m"),
        ("query.max-samples", "50000000"),
        ("query.max-concurrency", "20"),
        ("web.listen-address", &*format!("127.0.0.1:{port}")),
        ("log.level", "info"),
    ] {
        assert_eq!(flags[flag], value, "{flag} in {got}");
    }
    assert_eq!(flags["config.file"], config_path.display().to_string());

    let (status, got) = get_json(&vigil.url("/api/v1/status/runtimeinfo")).await;
    assert_eq!(status, 200);
    let info = &got["data"];
    for key in ["startTime", "serverTime", "lastConfigTime"] {
        assert!(info[key].as_str().is_some_and(|t| t.ends_with('Z') && t.len() >= 20), "{key} in {got}");
    }
    assert_eq!(info["reloadConfigSuccess"], true);
    assert_eq!(info["corruptionCount"], 0);
    assert!(info["GOMAXPROCS"].as_u64().is_some_and(|n| n >= 1), "{got}");
    assert!(info["goroutineCount"].is_u64() && info["CWD"].is_string() && info["hostname"].is_string());
    assert_eq!((&info["GOGC"], &info["GODEBUG"]), (&json!(""), &json!("")));
    assert!(info["storageRetention"].is_string());

    // Once a scrape has landed, the head's figures name `up`.
    let tsdb = eventually(Duration::from_secs(15), "up in status/tsdb", || async {
        let (_, got) = get_json(&vigil.url("/api/v1/status/tsdb?limit=1000")).await;
        let names = got["data"]["seriesCountByMetricName"].as_array()?;
        names.iter().any(|s| s["name"] == "up").then_some(got)
    })
    .await;
    let data = &tsdb["data"];
    let head = &data["headStats"];
    assert!(head["numSeries"].as_u64().is_some_and(|n| n > 10), "{head}");
    assert!(head["numLabelPairs"].as_u64() > Some(10) && head["chunkCount"].as_u64() >= head["numSeries"].as_u64());
    assert!(head["minTime"].as_i64() <= head["maxTime"].as_i64() && head["minTime"].as_i64() > Some(1_600_000_000_000));
    let up = data["seriesCountByMetricName"].as_array().and_then(|l| l.iter().find(|s| s["name"] == "up"));
    assert_eq!(up, Some(&json!({"name": "up", "value": 1})));
    assert!(data["seriesCountByLabelValuePair"].as_array().is_some_and(|l| l.iter().any(|s| s["name"] == "job=vigil")));
    assert_eq!(data["labelValueCountByLabelName"][0]["name"], "__name__", "the most values: {data}");
    let (_, top) = get_json(&vigil.url("/api/v1/status/tsdb")).await;
    for list in [
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ] {
        assert!(top["data"][list].as_array().is_some_and(|l| !l.is_empty() && l.len() <= 10), "{list}: {top}");
    }

    // A reload changes what status/config shows; a failed one does not,
    // and runtimeinfo says it failed.
    let new_text = format!("{config_text}# reloaded\n");
    std::fs::write(&config_path, &new_text).expect("rewrite config");
    let reload = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.expect("reload");
    assert_eq!(reload.status(), 200);
    let (_, got) = get_json(&vigil.url("/api/v1/status/config")).await;
    assert_eq!(got["data"]["yaml"], new_text);
    std::fs::write(&config_path, "scrape_configs: [oops").expect("break config");
    let reload = reqwest::Client::new().post(vigil.url("/-/reload")).send().await.expect("reload");
    assert_eq!(reload.status(), 500);
    let (_, got) = get_json(&vigil.url("/api/v1/status/config")).await;
    assert_eq!(got["data"]["yaml"], new_text);
    let (_, got) = get_json(&vigil.url("/api/v1/status/runtimeinfo")).await;
    assert_eq!(got["data"]["reloadConfigSuccess"], false);
}

/// `holt_winters`, Prometheus 2's name for `double_exponential_smoothing`,
/// works only with `--promql.holt-winters`, and then gives the same answer.
#[tokio::test]
async fn holt_winters_is_behind_its_flag() {
    let query = |name: &str| format!("/api/v1/query?query={name}(vector(time())[5m:1m],0.5,0.5)&time=600");
    let port = free_port();
    let without = Vigil::start(port, &config_only(port));
    let (status, json) = get_json(&without.url(&query("holt_winters"))).await;
    assert_eq!(status, 422, "{json}");
    assert!(json["error"].as_str().is_some_and(|e| e.contains("--promql.holt-winters")), "{json}");

    let port = free_port();
    let with = Vigil::start_with_flags(port, &config_only(port), &["--promql.holt-winters"]);
    let (status, old) = get_json(&with.url(&query("holt_winters"))).await;
    assert_eq!(status, 200, "{old}");
    let (_, new) = get_json(&with.url(&query("double_exponential_smoothing"))).await;
    assert_eq!(old["data"], new["data"]);
    assert_eq!(old["data"]["result"].as_array().map(Vec::len), Some(1), "{old}");
}

/// `POST /api/v1/query_batch` (Vigil's extension): every line carries the
/// very JSON the single endpoint answers for the same parameters, errors
/// included, and each query of the batch is answered exactly once.
#[tokio::test]
async fn query_batch_answers_each_query_as_its_single_endpoint_does() {
    let port = free_port();
    let vigil = Vigil::start(port, &config_only(port));
    // (id, batch item, the single endpoint's path and form)
    type Case<'a> = (&'a str, Value, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (
            "range",
            json!({"query": "vector(time())", "start": 0, "end": "60", "step": "15s"}),
            "query_range",
            &[("query", "vector(time())"), ("start", "0"), ("end", "60"), ("step", "15s")],
        ),
        ("instant", json!({"query": "1 + 2", "time": 1.5}), "query", &[("query", "1 + 2"), ("time", "1.5")]),
        (
            "limited",
            json!({"query": "label_replace(vector(1), \"a\", \"x\", \"\", \"\") or vector(2)", "time": 5, "limit": 1}),
            "query",
            &[
                ("query", "label_replace(vector(1), \"a\", \"x\", \"\", \"\") or vector(2)"),
                ("time", "5"),
                ("limit", "1"),
            ],
        ),
        ("parse error", json!({"query": "up{", "time": 1}), "query", &[("query", "up{"), ("time", "1")]),
        (
            "missing step",
            json!({"query": "1", "start": 0, "end": 10}),
            "query_range",
            &[("query", "1"), ("start", "0"), ("end", "10")],
        ),
        (
            "matrix in range",
            json!({"query": "x[5m]", "start": 0, "end": 10, "step": 1}),
            "query_range",
            &[("query", "x[5m]"), ("start", "0"), ("end", "10"), ("step", "1")],
        ),
    ];
    let mut batch = Vec::new();
    for (id, item, _, _) in cases {
        let mut item = item.clone();
        item["id"] = json!(id);
        batch.push(item);
    }
    let response =
        reqwest::Client::new().post(vigil.url("/api/v1/query_batch")).json(&batch).send().await.expect("HTTP request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/x-ndjson"));
    let body = response.text().await.expect("body");
    let mut answers: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    for line in body.lines() {
        let line: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let id = line["id"].as_str().unwrap_or_else(|| panic!("line without a string id: {line}")).to_owned();
        assert!(answers.insert(id.clone(), line["response"].clone()).is_none(), "{id} answered twice");
    }
    assert_eq!(answers.len(), cases.len(), "one line per query: {body}");
    for (id, _, endpoint, form) in cases {
        let (_, single) = post_form(&vigil.url(&format!("/api/v1/{endpoint}")), form).await;
        assert_eq!(answers.get(*id), Some(&single), "{id}");
    }
    // Sanity: the cases cover both outcomes.
    assert_eq!(answers["range"]["data"]["result"][0]["values"].as_array().map(Vec::len), Some(5));
    assert_eq!(answers["parse error"]["errorType"], "bad_data");

    // A malformed body is one bad_data error naming where it went wrong.
    let (status, error) = {
        let response = reqwest::Client::new()
            .post(vigil.url("/api/v1/query_batch"))
            .body(r#"[{"id": 1, "query": "up", "sart": 1}]"#)
            .send()
            .await
            .expect("HTTP request");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON error"))
    };
    assert_eq!(status, 400);
    assert_eq!(error["errorType"], "bad_data");
    let message = error["error"].as_str().unwrap_or_default();
    assert!(message.contains("unknown field `sart`") && message.contains("line 1 column"), "{message}");
}

#[tokio::test]
async fn engine_self_metrics_move_with_queries() {
    let port = free_port();
    let vigil = Vigil::start(port, &config_only(port));
    let samples = "prometheus_engine_query_samples_total";
    let count = |slice: &str| format!("prometheus_engine_query_duration_seconds_count{{slice=\"{slice}\"}}");
    let quantile =
        |q: &str| format!("prometheus_engine_query_duration_seconds{{slice=\"inner_eval\",quantile=\"{q}\"}}");
    let slices = ["inner_eval", "prepare_time", "queue_time", "result_sort"];
    let mut before = Vec::new();
    for slice in slices {
        before.push(own_metric(&vigil, &count(slice)).await.unwrap_or_else(|| panic!("no {}", count(slice))));
    }
    let samples_before = own_metric(&vigil, samples).await.expect("samples counter exposed");
    assert_eq!(own_metric(&vigil, "prometheus_engine_query_log_enabled").await, Some(0.0));

    // A subquery whose window holds 600 points at each of 11 steps; the
    // instant query adds one more evaluation and no samples.
    let form = [("query", "max_over_time(vector(1)[10m:1s])"), ("start", "0"), ("end", "100"), ("step", "10")];
    let (status, got) = post_form(&vigil.url("/api/v1/query_range"), &form).await;
    assert_eq!(status, 200, "{got}");
    let (status, got) = get_json(&vigil.url("/api/v1/query?query=vector(2)&time=5")).await;
    assert_eq!(status, 200, "{got}");

    for (slice, before) in slices.iter().zip(before) {
        let after = own_metric(&vigil, &count(slice)).await.unwrap_or(f64::NAN);
        assert_eq!(after - before, 2.0, "{slice}: {before} -> {after}");
    }
    let loaded = own_metric(&vigil, samples).await.unwrap_or(f64::NAN) - samples_before;
    // Prometheus counts the full window at every step: 11 steps of 600.
    assert_eq!(loaded, 11.0 * 600.0, "samples counted");
    let (p50, p99) = (own_metric(&vigil, &quantile("0.5")).await, own_metric(&vigil, &quantile("0.99")).await);
    match (p50, p99) {
        (Some(p50), Some(p99)) => assert!(p50 > 0.0 && p99 >= p50, "p50 {p50}, p99 {p99}"),
        other => panic!("inner_eval quantiles missing: {other:?}"),
    }
}
