//! Differential test against Debian's Prometheus: the same synthetic data
//! (`vigil::tsdb::import::synthetic`) is imported into Prometheus with
//! `promtool tsdb create-blocks-from openmetrics` and into Vigil with
//! `vigil tsdb import openmetrics`, both servers are started on 127.0.0.1
//! free ports, and a broad, systematically generated query set is run
//! against both over HTTP, as instant queries at several times and range
//! queries with several steps. Results must match: same result type, same
//! series, same timestamps, values within a relative 1e-9 (NaN equals NaN);
//! where one errors the other must too (messages differ between versions).
//!
//! Prometheus here is 2.42, Vigil follows 3.x. The data and queries are
//! built to stay clear of the places where the two differ:
//! - 3.x range windows (and the lookback) are left-open `(t-r, t]`, 2.x's
//!   closed `[t-r, t]`. Samples lie at odd seconds ≡ 1, 3, …, 11 (mod 15)
//!   after a whole minute; every evaluation time is ≡ 13 (mod 15) s, and
//!   every range, offset, `@` time and step is a whole multiple of 15 s (or
//!   itself ≡ 13), so no sample ever sits on a window boundary. Subquery
//!   steps are whole minutes or 15/30 s, so their inner evaluation times
//!   (multiples of the step) are ≡ 0 (mod 15) and their windows are clear too.
//! - 3.x and 2.x extrapolate `rate`/`increase` differently at a window's
//!   start when the counter's zero point lies between half a scrape
//!   interval and 1.1 intervals before the first sample; the synthetic
//!   counters start (and restart after resets) far from zero, so they never
//!   meet that case.
//! - `topk`/`bottomk` ties are broken differently; the values never tie.
//! - Functions that 3.x renamed or added (`holt_winters` →
//!   `double_exponential_smoothing`, `mad_over_time`, `limitk`, `sort_by_label`,
//!   `info`, …) are not used; native histograms are not in the data.
//! - [`EXCLUDED`] lists the queries left out on purpose, each with why.
//!
//! Fails (with an install hint) when promtool or prometheus is missing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil::tsdb::import::synthetic::{self, Spec};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Queries left out on purpose because Prometheus 2.42 and 3.x answer them
/// differently by design (not a Vigil bug). Kept short; each says why.
const EXCLUDED: &[(&str, &str)] = &[
    // 3.x drops the metric name for atan2 as for the other arithmetic
    // operators (operators.test: `trigy atan2 trigx` gives `{}`); 2.42 keeps it.
    ("cpu_temperature_celsius atan2 3", "2.42 keeps __name__ on atan2, 3.x drops it"),
    ("2 atan2 cpu_temperature_celsius", "2.42 keeps __name__ on atan2, 3.x drops it"),
    // 3.x accepts any UTF-8 label name; 2.42 refuses one starting with a digit.
    (
        r#"label_replace(http_requests_total, "1bad", "x", "job", "(.*)")"#,
        "3.x allows UTF-8 label names such as 1bad, 2.42 refuses them",
    ),
];

const C: &str = "http_requests_total";
const H: &str = "http_request_duration_seconds_bucket";
const G: &str = "node_memory_usage_bytes";
const T: &str = "cpu_temperature_celsius";
const U: &str = "service_up";

/// The query set: templates × metrics × functions, about 300 expressions.
fn queries(at: i64) -> Vec<String> {
    let mut q: Vec<String> = Vec::new();
    let mut add = |s: String| q.push(s);

    // Selectors: every matcher kind, offset, @.
    for s in [
        C.to_owned(),
        format!("{C}{{job=\"api\"}}"),
        format!("{C}{{job!=\"api\",method=\"GET\"}}"),
        format!("{C}{{method=~\"GET|POST\",status!~\"5..\"}}"),
        format!(r#"{C}{{instance=~"10\\.0\\.1\\..*"}}"#),
        r#"{__name__=~"node_.*|service_up"}"#.to_owned(),
        format!("{{__name__=\"{T}\",core!=\"0\"}}"),
        format!("{C}{{status=\"\"}}"),
        format!("{C}{{nonexistent=\"\"}}"),
        format!("{C}{{nonexistent!=\"\"}}"),
        "rpc_latency_seconds{quantile=~\"0.9.*\"}".to_owned(),
        "rpc_latency_seconds_count".to_owned(),
        format!("{U} offset 10m"),
        format!("{G} offset -5m"),
        format!("{U} @ {at}"),
        format!("{C}{{method=\"PUT\"}} @ {at} offset 5m"),
        format!("{G}[5m]"),
        format!("{U}[2m] offset 1m"),
        format!("{T}{{core=\"1\"}}[1m] @ {at}"),
        "nonexistent_metric".to_owned(),
    ] {
        add(s);
    }

    // Range functions over counters and gauges.
    for f in ["rate", "irate", "increase", "resets", "changes"] {
        for r in ["1m", "5m", "15m"] {
            add(format!("{f}({C}[{r}])"));
        }
    }
    add(format!("rate({H}[5m])"));
    add(format!("increase({H}{{le=\"+Inf\"}}[10m] offset 10m)"));
    for f in ["delta", "idelta", "deriv", "changes", "resets"] {
        for m in [G, T] {
            for r in ["5m", "10m"] {
                add(format!("{f}({m}[{r}])"));
            }
        }
    }
    add(format!("predict_linear({G}[10m], 600)"));
    add(format!("predict_linear({T}[5m], -300)"));
    add(format!("predict_linear({C}{{job=\"api\"}}[15m], 3600)"));
    for f in ["avg", "min", "max", "sum", "count", "last", "present", "stddev", "stdvar", "absent"] {
        for m in [G, T, U] {
            for r in ["5m", "30m"] {
                add(format!("{f}_over_time({m}[{r}])"));
            }
        }
    }
    for quantile in ["0", "0.5", "0.95", "1", "1.5"] {
        add(format!("quantile_over_time({quantile}, {T}[10m])"));
    }
    add("absent_over_time(nonexistent_metric[5m])".to_owned());
    add(format!("absent_over_time({U}{{job=\"nope\"}}[5m])"));

    // Aggregations.
    for agg in ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"] {
        for by in ["", " by (job)", " by (job, method)", " without (instance, status)"] {
            add(format!("{agg}{by} (rate({C}[5m]))"));
        }
        for by in [" by (core)", " without (core)"] {
            add(format!("{agg}{by} ({T})"));
        }
    }
    add(format!("topk(3, {C})"));
    add(format!("topk by (job) (2, rate({C}[5m]))"));
    add(format!("bottomk(2, {T}) by (instance)"));
    add(format!("bottomk(1, {G})"));
    add(format!("topk(2, {G} offset 5m) * 2"));
    add(format!("topk(0, {T})"));
    for quantile in ["0.1", "0.5", "0.99"] {
        add(format!("quantile({quantile}, {T})"));
    }
    add(format!("quantile by (job) (0.75, rate({C}[5m]))"));
    add(format!("count_values(\"value\", {U})"));
    add(format!("count_values by (job) (\"v\", round({T}))"));
    add(format!("sum(count_values(\"v\", {C}{{method=\"DELETE\"}} > 0)) by (job)"));

    // Arithmetic with scalars, both sides.
    for op in ["+", "-", "*", "/", "%", "^", "atan2"] {
        add(format!("{T} {op} 3"));
        add(format!("2 {op} {T}"));
    }
    add("1 + 2 * 3 ^ 2".to_owned());
    add("(1 - 4) % 2".to_owned());
    // Vector matching.
    add(format!("rate({C}{{status=\"500\"}}[5m]) / ignoring(status) rate({C}{{status=\"200\"}}[5m])"));
    add(format!(
        "rate({C}[5m]) / on (job, instance, method) group_left sum by (job, instance, method) (rate({C}[5m]))"
    ));
    add(format!(
        "sum by (job, instance, method) (rate({C}[5m])) / on (job, instance, method) group_right rate({C}[5m])"
    ));
    add(format!("rate({C}[5m]) * on (job, instance) group_left {G}"));
    add(format!("rate({C}[5m]) * on (job, instance) group_left (core) {T}{{core=\"2\"}}"));
    add(format!("{T} - on (job, instance) group_left avg by (job, instance) ({T})"));
    add(format!("{G} / {G} offset 10m"));
    add("rpc_latency_seconds_sum / rpc_latency_seconds_count".to_owned());
    add("rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])".to_owned());
    add(format!("rate({C}[5m]) / on (job) {G}"));
    add(format!("{C} + {G}"));
    add(format!("{T} * ignoring (core) group_left {U}"));
    // Comparisons, filtering and bool.
    for op in ["==", "!=", ">", "<", ">=", "<="] {
        add(format!("{T} {op} 55"));
        add(format!("{T} {op} bool 55"));
    }
    add(format!("{T} > on (job, instance, core) {T} offset 5m"));
    add(format!("{G} > bool {G} offset 5m"));
    add(format!("{U} == bool 0"));
    add(format!("55 < {T}"));
    add("1 > bool 2".to_owned());
    add(format!("{G} != {G}"));
    // Set operators.
    add(format!("{C} and {C}{{method=\"GET\"}}"));
    add(format!("{C}{{job=\"api\"}} or {G}"));
    add(format!("{C} unless {C}{{status=\"500\"}}"));
    add(format!("rate({C}[5m]) > 1 and on (job, instance) {U} == 1"));
    add(format!("{U} == 0 or on (job) vector(1)"));
    add(format!("{T} unless on (core) {T}{{core=\"1\"}}"));
    add(format!("{T} and ignoring (core) {U} == 1"));

    // Scalar and vector functions.
    for f in [
        "abs",
        "ceil",
        "floor",
        "round",
        "sqrt",
        "ln",
        "log2",
        "log10",
        "exp",
        "sgn",
        "timestamp",
        "sin",
        "cos",
        "tan",
        "atan",
        "sinh",
        "cosh",
        "tanh",
        "asinh",
        "deg",
        "rad",
    ] {
        add(format!("{f}({T} / 30)"));
    }
    add(format!("acos({U})"));
    add(format!("asin({U} - 0.5)"));
    add(format!("atanh({U} / 2)"));
    add(format!("acosh({T})"));
    add(format!("abs(delta({T}[5m]))"));
    add(format!("clamp({T}, 50, 60)"));
    add(format!("clamp({T}, 60, 50)"));
    add(format!("clamp_min({T}, 55)"));
    add(format!("clamp_max({T}, 55)"));
    add(format!("round({T}, 5)"));
    add(format!("round({G}, 1e6)"));
    add(format!("sqrt({G})"));
    add(format!("ln({G})"));
    add(format!("exp({T} / 20)"));
    add(format!("sgn(delta({G}[5m]))"));
    add(format!("timestamp({G})"));
    add(format!("timestamp({U} @ {at})"));
    add("vector(1)".to_owned());
    add("vector(time())".to_owned());
    add(format!("scalar(sum({U}))"));
    add(format!("scalar({G})"));
    add(format!("{T} * scalar(count({U}))"));
    add("time()".to_owned());
    add("pi()".to_owned());
    add("absent(nonexistent_metric{job=\"x\"})".to_owned());
    add(format!("absent({C})"));
    add(format!("absent({C}{{job=\"nope\",method=~\"G.*\"}})"));
    add(format!("label_replace({C}, \"host\", \"$1\", \"instance\", \"(.*):.*\")"));
    add(format!("label_replace({T}, \"core\", \"c$1\", \"core\", \"(.*)\")"));
    add(format!("label_replace({U}, \"nomatch\", \"x\", \"job\", \"zzz\")"));
    add(format!("label_join({C}, \"combo\", \"-\", \"job\", \"method\")"));
    add(format!("label_join({U}, \"job\", \"\", \"instance\")"));
    add(format!("sort({T})"));
    add(format!("sort_desc(sum by (job) (rate({C}[5m])))"));
    for f in ["minute", "hour", "day_of_week", "day_of_month", "day_of_year", "days_in_month", "month", "year"] {
        add(format!("{f}()"));
        add(format!("{f}(timestamp({G}))"));
    }

    // Classic histograms.
    for quantile in ["0.5", "0.9", "0.99"] {
        add(format!("histogram_quantile({quantile}, sum by (le) (rate({H}[5m])))"));
        add(format!("histogram_quantile({quantile}, sum by (job, le) (rate({H}[5m])))"));
        add(format!("histogram_quantile({quantile}, rate({H}[5m]))"));
    }
    add(format!("histogram_quantile(1.5, sum by (le) (rate({H}[5m])))"));
    add(format!("histogram_quantile(-1, sum by (le) (rate({H}[5m])))"));
    add(format!("histogram_quantile(0.9, sum by (le) (rate({H}[5m]))) > 0.1"));
    add(format!("histogram_quantile(0.5, sum without (instance, method) ({H}))"));

    // Subqueries.
    add(format!("max_over_time(rate({C}[5m])[30m:1m])"));
    add(format!("avg_over_time({G}[20m:30s])"));
    add(format!("min_over_time(sum by (job) (rate({C}[1m]))[15m:])"));
    add(format!("rate(sum by (job) ({C})[10m:1m])"));
    add(format!("deriv(avg_over_time({T}[5m])[30m:2m])"));
    add(format!("max_over_time(histogram_quantile(0.9, sum by (le) (rate({H}[5m])))[20m:1m])"));
    add(format!("quantile_over_time(0.5, {T}[10m:15s])"));
    add(format!("sum_over_time({U}[1h:5m] offset 10m)"));
    add(format!("last_over_time({G}[10m:1m] @ {at})"));
    add(format!("count_over_time((rate({C}[5m]) > 1)[30m:1m])"));

    // Nested expressions.
    add(format!("sum by (job) (rate({C}[5m])) / ignoring(job) group_left sum(rate({C}[5m]))"));
    add(format!("topk(3, sum by (instance) (rate({C}[5m])))"));
    add(format!("count(count by (job, instance) ({C}))"));
    add(format!("avg by (job) ({T}) - on (job) group_left min by (job) ({T})"));
    add(format!("1 - (sum by (job) (rate({C}{{status=\"500\"}}[5m])) / sum by (job) (rate({C}[5m])))"));
    add(format!("sum(rate({C}[5m])) by (method) > bool 5"));
    add(format!("-{T}"));
    add(format!("-rate({C}[5m])"));
    add(format!("abs(-{T})"));
    add(format!("({T})"));
    add(format!("max by (job) (max_over_time({T}[10m])) - min by (job) (min_over_time({T}[10m]))"));
    add(format!("sum by (job) (increase({C}[30m])) / 1800"));
    add(format!("stddev by (job) (rate({C}[5m])) / avg by (job) (rate({C}[5m]))"));

    // Corners: anchored regexes, empty matches, @ start()/end(), offsets
    // on subqueries, name-only grouping, matching on __name__.
    add(format!("{C}{{job=~\"ap\"}}"));
    add(format!("{C}{{job=~\"api|\",method!~\"\"}}"));
    add(r#"count by (__name__) ({__name__=~".+"})"#.to_owned());
    add(r#"{__name__!~"http.*|cpu.*|rpc.*",job="worker"}"#.to_owned());
    add(format!("rate({C}{{job=\"api\"}}[5m] @ end())"));
    add(format!("min_over_time({T}[5m:15s] @ start())"));
    add(format!("avg_over_time(rate({C}{{method=\"GET\"}}[5m])[10m:1m] offset 5m)"));
    add(format!("timestamp({G} offset 5m)"));
    add(format!("sum without () ({U})"));
    add(r#"topk by (__name__) (1, {__name__=~"node_.*|service_up"})"#.to_owned());
    add(format!("label_replace({U}, \"__name__\", \"renamed_$1\", \"job\", \"(.*)\")"));
    add(format!("{U} unless ignoring (instance) {U}{{instance=\"10.0.0.1:9100\"}}"));
    add(format!("{G} offset 5m or {U}"));
    add(format!("max_over_time({T}[15m]) - min_over_time({T}[15m] offset 15m)"));
    add(format!("changes({U}[30m]) > 0"));
    add("resets(rpc_latency_seconds_count[30m])".to_owned());
    add("increase(rpc_latency_seconds_sum[10m]) / increase(rpc_latency_seconds_count[10m])".to_owned());
    add("max(rpc_latency_seconds) by (quantile)".to_owned());
    add(format!("avg(last_over_time({G}[10m]))"));
    add(format!("stddev_over_time({C}{{method=\"GET\"}}[10m])"));
    add(format!("count(absent_over_time({G}[1m]))"));
    add(format!("group by (job) ({U} == 0)"));
    add(format!("{U} * on (job, instance) group_right {T}"));
    add(format!("sum by (job) ({G} % 3)"));
    add(format!("{T} ^ 0.5 + {T} % 7"));
    add(format!("{T} > 50 < 60"));
    add(format!("{T} >= bool on (job, instance, core) {T} offset 1m"));

    // Errors: both must refuse.
    add(format!("rate({C})"));
    add(format!("sum({C}[5m])"));
    add(format!("{C} + on (job) {C}"));
    add("1 < 2".to_owned());
    add(format!("label_replace({C}, \"1bad\", \"x\", \"job\", \"(.*)\")"));
    add(format!("label_replace({C}, \"dst\", \"x\", \"job\", \"(.*\")"));
    add("10 atan2 20".to_owned());
    for (excluded, _) in EXCLUDED {
        assert!(q.iter().any(|s| s == excluded), "excluded query {excluded:?} is not generated any more");
    }
    q.retain(|s| !EXCLUDED.iter().any(|(e, _)| e == s));
    q
}

/// A Prometheus child process, killed by PID on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // `VIGIL_DIFF_KEEP=1` keeps the data and both storage folders, to
        // start the servers again by hand when a mismatch needs a closer look.
        if std::env::var_os("VIGIL_DIFF_KEEP").is_some() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn wait_ready(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = stream.write_all(b"GET /-/ready HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server on port {port} did not become ready within {timeout:?}");
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Both servers loaded with the same data.
struct Servers {
    vigil: common::Vigil,
    prometheus: Prometheus,
    _dir: TempDir,
}

fn start_servers(spec: &Spec) -> Servers {
    for tool in [PROMETHEUS, PROMTOOL] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install it with `apt-get install -y prometheus` (or run `cargo xtask setup --test-packages`)"
        );
    }
    let dir = TempDir(common::temp_dir("vigil-differential"));
    let data = dir.0.join("data.om");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&data).expect("create data file"));
    let written = synthetic::write_openmetrics(spec, &mut file).expect("write data file");
    std::io::Write::flush(&mut file).expect("flush data file");
    drop(file);
    eprintln!("synthetic data: {} series, {} samples", written.series, written.samples);

    let config = dir.0.join("empty.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n").expect("write config");

    let prom_data = dir.0.join("prometheus");
    run(
        Command::new(PROMTOOL).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&data).arg(&prom_data),
        "promtool tsdb create-blocks-from openmetrics",
    );
    let vigil_data = dir.0.join("vigil");
    run(
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["tsdb", "import", "openmetrics"])
            .arg(&data)
            .arg("--storage.tsdb.path")
            .arg(&vigil_data),
        "vigil tsdb import openmetrics",
    );

    let port = common::free_port();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", prom_data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start prometheus");
    let prometheus = Prometheus { child, port };
    let vigil = common::Vigil::start_with_args(&config, &vigil_data);
    wait_ready(prometheus.port, Duration::from_secs(30));
    Servers { vigil, prometheus, _dir: dir }
}

/// One HTTP request of a comparison: what it is, the API path, the form.
type Request = (String, &'static str, Vec<(&'static str, String)>);

/// A query's answer, normalised for comparison.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Error,
    Scalar(i64, f64),
    String(String),
    /// Series by label set: their (timestamp ms, value) points.
    Series(&'static str, BTreeMap<String, Vec<(i64, f64)>>),
}

fn number(v: &Value) -> f64 {
    match v.as_str().unwrap_or("") {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap_or_else(|_| panic!("not a number: {v}")),
    }
}

fn time_ms(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("not a time: {v}")) * 1000.0).round() as i64
}

fn point(p: &Value) -> (i64, f64) {
    (time_ms(&p[0]), number(&p[1]))
}

fn labels_key(metric: &Value) -> String {
    let map: BTreeMap<&str, &str> =
        metric.as_object().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect();
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

fn normalise(json: &Value) -> Answer {
    if json["status"] != "success" {
        return Answer::Error;
    }
    let data = &json["data"];
    let result = &data["result"];
    match data["resultType"].as_str().unwrap_or("") {
        "scalar" => Answer::Scalar(time_ms(&result[0]), number(&result[1])),
        "string" => Answer::String(result[1].as_str().unwrap_or("").to_owned()),
        kind @ ("vector" | "matrix") => {
            let kind: &'static str = if kind == "vector" { "vector" } else { "matrix" };
            let mut series = BTreeMap::new();
            for s in result.as_array().into_iter().flatten() {
                let points = if kind == "vector" {
                    vec![point(&s["value"])]
                } else {
                    s["values"].as_array().into_iter().flatten().map(point).collect()
                };
                let previous = series.insert(labels_key(&s["metric"]), points);
                assert!(previous.is_none(), "duplicate series in one answer: {json}");
            }
            Answer::Series(kind, series)
        }
        other => panic!("unknown resultType {other:?}: {json}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Differences between two answers, one line each (empty when they agree).
fn diff(vigil: &Answer, prometheus: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    match (vigil, prometheus) {
        (Answer::Error, Answer::Error) => {}
        (Answer::Scalar(ta, a), Answer::Scalar(tb, b)) => {
            if ta != tb || !close(*a, *b) {
                out.push(format!("scalar: vigil {a} @{ta}, prometheus {b} @{tb}"));
            }
        }
        (Answer::String(a), Answer::String(b)) if a == b => {}
        (Answer::Series(ka, a), Answer::Series(kb, b)) if ka == kb => {
            for (labels, points) in a {
                match b.get(labels) {
                    None => out.push(format!("only in vigil: {labels} {}", show(points))),
                    Some(theirs) => {
                        let same = points.len() == theirs.len()
                            && points.iter().zip(theirs).all(|(x, y)| x.0 == y.0 && close(x.1, y.1));
                        if !same {
                            out.push(format!(
                                "{labels}:\n        vigil      {}\n        prometheus {}",
                                show(points),
                                show(theirs)
                            ));
                        }
                    }
                }
            }
            for (labels, points) in b {
                if !a.contains_key(labels) {
                    out.push(format!("only in prometheus: {labels} {}", show(points)));
                }
            }
        }
        _ => out.push(format!("answers differ in kind: vigil {}, prometheus {}", kind(vigil), kind(prometheus))),
    }
    out
}

fn kind(a: &Answer) -> String {
    match a {
        Answer::Error => "error".to_owned(),
        Answer::Scalar(..) => "scalar".to_owned(),
        Answer::String(s) => format!("string {s:?}"),
        Answer::Series(k, s) => format!("{k} of {} series", s.len()),
    }
}

fn show(points: &[(i64, f64)]) -> String {
    const MAX: usize = 6;
    let mut parts: Vec<String> = points.iter().take(MAX).map(|(t, v)| format!("{v}@{t}")).collect();
    if points.len() > MAX {
        parts.push(format!("… ({} points)", points.len()));
    }
    parts.join(" ")
}

async fn ask(client: &reqwest::Client, port: u16, path: &str, params: &[(&str, String)]) -> Value {
    let response = client
        .post(format!("http://127.0.0.1:{port}{path}"))
        .form(params)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path} to port {port}: {e}"));
    let body = response.text().await.expect("body");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("port {port} answered non-JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_answers_like_prometheus() {
    let started = Instant::now();
    let spec = Spec::small();
    let servers = start_servers(&spec);
    let s = spec.start_s;
    // Evaluation times ≡ 13 (mod 15) s: near the start (windows reaching
    // before the data), in the middle, just after the last sample, and more
    // than the lookback after it.
    let instants = [s + 73, s + 613, s + 2233, s + 3613, s + 5413, s + 5713];
    let at = s + 2413;
    // (start, end, step): the whole span by the minute, half an hour by the
    // scrape interval, and past the end by five minutes.
    let ranges = [(s + 13, s + 5413, 60), (s + 1813, s + 2713, 15), (s + 3013, s + 5713, 300)];
    let client = reqwest::Client::new();
    let (vigil_port, prom_port) = (servers.vigil.port, servers.prometheus.port);

    // Both must see the data before anything is compared.
    for port in [vigil_port, prom_port] {
        let params = [("query", format!("count({C})")), ("time", (s + 613).to_string())];
        let json = ask(&client, port, "/api/v1/query", &params).await;
        let count = &json["data"]["result"][0]["value"][1];
        assert!(count.as_str().is_some_and(|c| c != "0"), "the server on port {port} has no data: {json}");
    }

    let queries = queries(at);
    assert!(queries.len() >= 150, "only {} queries", queries.len());
    let mut compared = 0usize;
    let (mut with_data, mut both_errors) = (0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    let mut failed_queries = 0usize;
    for query in &queries {
        let mut requests: Vec<Request> = Vec::new();
        for t in instants {
            requests.push((
                format!("instant @{t}"),
                "/api/v1/query",
                vec![("query", query.clone()), ("time", t.to_string())],
            ));
        }
        for (start, end, step) in ranges {
            requests.push((
                format!("range {start}..{end} step {step}s"),
                "/api/v1/query_range",
                vec![
                    ("query", query.clone()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", step.to_string()),
                ],
            ));
        }
        let mut query_failed = false;
        for (what, path, params) in &requests {
            let (raw_v, raw_p) =
                tokio::join!(ask(&client, vigil_port, path, params), ask(&client, prom_port, path, params));
            compared += 1;
            let (v, p) = (normalise(&raw_v), normalise(&raw_p));
            match &p {
                Answer::Error => both_errors += usize::from(v == Answer::Error),
                Answer::Series(_, series) if series.is_empty() => {}
                _ => with_data += 1,
            }
            let differences = diff(&v, &p);
            if !differences.is_empty() {
                query_failed = true;
                let mut message = format!("MISMATCH {query}  [{what}]");
                if raw_v["status"] != raw_p["status"] {
                    message.push_str(&format!("\n    vigil: {}\n    prometheus: {}", short(&raw_v), short(&raw_p)));
                }
                for line in differences.iter().take(8) {
                    message.push_str(&format!("\n    {line}"));
                }
                if differences.len() > 8 {
                    message.push_str(&format!("\n    … {} more differences", differences.len() - 8));
                }
                failures.push(message);
            }
        }
        failed_queries += usize::from(query_failed);
    }
    eprintln!(
        "{} queries, {compared} comparisons ({} instant times, {} ranges each; {with_data} with data, {both_errors} errors in both), {failed_queries} queries with mismatches, {} excluded, in {:.1}s",
        queries.len(),
        instants.len(),
        ranges.len(),
        EXCLUDED.len(),
        started.elapsed().as_secs_f64()
    );
    // Not vacuous: most comparisons must carry data.
    assert!(with_data * 10 >= compared * 7, "only {with_data} of {compared} comparisons had data");
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("{failure}");
        }
        panic!("{} of {compared} comparisons differ ({failed_queries} of {} queries)", failures.len(), queries.len());
    }
}

fn short(json: &Value) -> String {
    let text = json.to_string();
    if text.len() > 300 { format!("{}…", &text[..300]) } else { text }
}
