//! PromQL query latency, Vigil against Debian's Prometheus, on the same
//! data: the differential test's synthetic dataset
//! (`vigil::tsdb::import::synthetic`), larger, imported into Prometheus
//! with `promtool tsdb create-blocks-from openmetrics` and into Vigil with
//! `vigil tsdb import openmetrics`. Typical dashboard queries run `RUNS`
//! times each against both over HTTP (one at a time, the servers
//! alternating); we report the median and p90 latency per query and server,
//! the ratio Vigil / Prometheus, and each process's peak RSS (VmHWM).
//!
//! Run: `cargo bench -p vigil --bench query_compare` (needs
//! `/usr/bin/prometheus` and `/usr/bin/promtool`: `apt-get install -y
//! prometheus`). Knobs, as environment variables: `HOSTS` (job × instance
//! pairs, 63 series each; default 160, about 10,000 series), `HOURS` of data
//! at 15 s (default 3), `RUNS` per query (default 10); `KEEP=1` keeps both
//! storage folders (to profile a server on them afterwards).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil::tsdb::import::synthetic::{self, Spec};

mod support;
use support::{Server, env_or, free_port, status_bytes, wait_ready};

fn timed(what: &str, command: &mut Command) -> Duration {
    let started = Instant::now();
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

/// One query of the set: an instant query at `end`, or a range query over
/// the whole span at a 60 s step.
struct Query {
    expr: String,
    range: bool,
}

fn query_set() -> Vec<Query> {
    let q = |expr: &str, range: bool| Query { expr: expr.to_owned(), range };
    vec![
        q("sum by (job) (rate(http_requests_total[5m]))", false),
        q("sum by (job) (rate(http_requests_total[5m]))", true),
        q("sum by (job, status) (rate(http_requests_total{method=~\"GET|POST\"}[5m]))", true),
        q("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", true),
        q("histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))", true),
        q("topk(10, sum by (instance) (rate(http_requests_total[5m])))", false),
        q("topk(5, sum by (instance) (rate(http_requests_total[5m])))", true),
        q(
            "sum by (job) (rate(http_requests_total{status=\"500\"}[5m])) / sum by (job) (rate(http_requests_total[5m]))",
            true,
        ),
        q("avg by (job) (node_memory_usage_bytes)", true),
        q("max_over_time(rate(http_requests_total{job=\"api\"}[5m])[30m:1m])", false),
        q("max by (job) (max_over_time(sum by (job, instance) (rate(http_requests_total[5m]))[1h:1m]))", false),
        q("quantile_over_time(0.9, cpu_temperature_celsius[10m])", false),
        q("count(service_up == 0)", true),
        q("http_requests_total{instance=\"10.0.1.1:9100\",method=\"GET\"}", true),
    ]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let hosts = env_or("HOSTS", 160).max(1);
    let hours = env_or("HOURS", 3).max(1) as i64;
    let runs = env_or("RUNS", 10).max(1);
    for tool in ["/usr/bin/prometheus", "/usr/bin/promtool"] {
        assert!(Path::new(tool).exists(), "{tool} is missing: install it with `apt-get install -y prometheus`");
    }
    let jobs = hosts.min(4);
    let spec = Spec { duration_s: hours * 3600, jobs, instances: hosts.div_ceil(jobs), ..Spec::small() };
    let dir = std::env::temp_dir().join(format!("vigil-query-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data = dir.join("data.om");
    let written = {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&data).expect("create data file"));
        let written = synthetic::write_openmetrics(&spec, &mut file).expect("write data file");
        file.flush().expect("flush data file");
        written
    };
    let file_mib = std::fs::metadata(&data).map_or(0, |m| m.len()) as f64 / 1048576.0;
    eprintln!(
        "data: {} series, {} samples, {hours} h at 15 s, {file_mib:.0} MiB of OpenMetrics",
        written.series, written.samples
    );
    let config = dir.join("empty.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n").expect("write config");

    let promtool_took = timed(
        "promtool tsdb create-blocks-from openmetrics",
        Command::new("/usr/bin/promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&data)
            .arg(dir.join("prometheus"))
            .stdout(Stdio::null()),
    );
    let vigil_took = timed(
        "vigil tsdb import openmetrics",
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["tsdb", "import", "openmetrics"])
            .arg(&data)
            .arg("--storage.tsdb.path")
            .arg(dir.join("vigil"))
            .stderr(Stdio::null()),
    );
    eprintln!("import: promtool {:.1}s, vigil {:.1}s", promtool_took.as_secs_f64(), vigil_took.as_secs_f64());
    let _ = std::fs::remove_file(&data);

    let vigil = Server::vigil(&config, &dir.join("vigil"));
    let prom_port = free_port();
    let prometheus = Server {
        name: "prometheus",
        child: Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prometheus").display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
        port: prom_port,
    };
    let started = Instant::now();
    wait_ready(vigil.port, Duration::from_secs(600), Duration::from_millis(200));
    let vigil_ready = started.elapsed();
    wait_ready(prometheus.port, Duration::from_secs(600), Duration::from_millis(200));
    eprintln!(
        "ready: vigil after {:.1}s (WAL replay), prometheus after {:.1}s",
        vigil_ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = reqwest::Client::new();
    let (start, end) = (spec.start_s + 13, spec.start_s + spec.duration_s + 13);
    let ask = |server: &Server, query: &Query| -> (Duration, usize) {
        let mut params = vec![("query", query.expr.clone())];
        let path = if query.range {
            params.extend([("start", start.to_string()), ("end", end.to_string()), ("step", "60".to_owned())]);
            "/api/v1/query_range"
        } else {
            params.push(("time", end.to_string()));
            "/api/v1/query"
        };
        let url = format!("http://127.0.0.1:{}{path}", server.port);
        runtime.block_on(async {
            let began = Instant::now();
            let response = client.post(&url).form(&params).send().await.expect("query");
            let body = response.bytes().await.expect("body");
            let took = began.elapsed();
            let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(json["status"], "success", "{} refused {}: {json}", server.name, query.expr);
            (took, json["data"]["result"].as_array().map_or(0, Vec::len))
        })
    };

    let queries = query_set();
    println!(
        "\n{} series, {} samples ({hours} h at 15 s), {runs} runs per query, range queries over the whole span at a 60 s step\n",
        written.series, written.samples
    );
    println!(
        "| query | kind | series out | Vigil median ms | Vigil p90 ms | Prometheus median ms | Prometheus p90 ms | Vigil / Prometheus (median) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut ratios = Vec::new();
    let (mut vigil_total, mut prom_total) = (0.0, 0.0);
    for query in &queries {
        // Warm-up: one run each, not counted (page cache, lazily built state).
        let (_, out_v) = ask(&vigil, query);
        let (_, out_p) = ask(&prometheus, query);
        assert_eq!(out_v, out_p, "the servers disagree on the series count of {}", query.expr);
        let (mut v, mut p) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
        for _ in 0..runs {
            v.push(ask(&vigil, query).0.as_secs_f64() * 1000.0);
            p.push(ask(&prometheus, query).0.as_secs_f64() * 1000.0);
        }
        v.sort_by(f64::total_cmp);
        p.sort_by(f64::total_cmp);
        let (vm, pm) = (percentile(&v, 0.5), percentile(&p, 0.5));
        vigil_total += vm;
        prom_total += pm;
        ratios.push(vm / pm);
        println!(
            "| `{}` | {} | {out_v} | {vm:.1} | {:.1} | {pm:.1} | {:.1} | {:.2}× |",
            query.expr.replace('|', "\\|"),
            if query.range { "range" } else { "instant" },
            percentile(&v, 0.9),
            percentile(&p, 0.9),
            vm / pm
        );
    }
    let geomean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
    println!(
        "\nsum of medians: Vigil {vigil_total:.1} ms, Prometheus {prom_total:.1} ms ({:.2}×); geometric mean of the ratios {geomean:.2}×",
        vigil_total / prom_total
    );
    println!(
        "peak RSS (VmHWM) after the run: Vigil {:.0} MiB, Prometheus {:.0} MiB",
        status_bytes(vigil.child.id(), "VmHWM") / 1048576.0,
        status_bytes(prometheus.child.id(), "VmHWM") / 1048576.0
    );
    drop(vigil);
    drop(prometheus);
    if std::env::var_os("KEEP").is_some() {
        eprintln!("kept both storage folders in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
