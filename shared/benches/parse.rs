//! PromQL parser, printer and completion on typical dashboard queries:
//! queries per second for each (Throughput::Elements(1) per iteration).
//!
//! Run: `cargo bench -p vigil-shared --bench parse`. Native only: criterion
//! does not build for wasm32, where this compiles to an empty `main`.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use criterion::{Criterion, Throughput, criterion_group};
    use std::hint::black_box;
    use std::time::Duration;
    use vigil_shared::promql::ast::clear_regex_cache;
    use vigil_shared::promql::{complete, parse};

    /// A query of at least `bytes` bytes, as a generated dashboard might
    /// build it: a sum of per-service error ratios.
    fn generated(bytes: usize) -> String {
        let mut out = String::new();
        let mut i = 0;
        while out.len() < bytes {
            if i > 0 {
                out.push_str(" + ");
            }
            out.push_str(&format!(
                "sum by (job, instance) (rate(http_requests_total{{service=\"svc-{i}\", code=~\"5..\"}}[5m])) \
                 / ignoring(code) sum by (job, instance) (rate(http_requests_total{{service=\"svc-{i}\"}}[5m]))"
            ));
            i += 1;
        }
        out
    }

    fn queries() -> Vec<(&'static str, String)> {
        vec![
            ("short_selector", r#"up{job="api"}"#.to_owned()),
            (
                "rate_sum_by",
                r#"sum by (job, instance) (rate(http_requests_total{job="api", code=~"5.."}[5m]))"#.to_owned(),
            ),
            (
                "histogram_quantile",
                r#"histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket{service="checkout"}[5m])))"#
                    .to_owned(),
            ),
            (
                "nested_binary",
                concat!(
                    r#"(1 - (sum by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) / "#,
                    r#"count by (instance) (node_cpu_seconds_total{mode="idle"}))) * 100 > 80 "#,
                    r#"and on (instance) (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10 "#,
                    r#"or on (instance) predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}[6h], 4 * 3600) < 0) "#,
                    r#"unless on (instance) max_over_time(up{job="node"}[10m] offset 1h) == 0"#
                )
                .to_owned(),
            ),
            ("generated_2kb", generated(2048)),
        ]
    }

    fn bench(c: &mut Criterion) {
        let queries = queries();

        // Parsing a query again (the editor on every keystroke, a dashboard
        // on every refresh): its regexes come from the cache.
        let mut group = c.benchmark_group("parse");
        group.throughput(Throughput::Elements(1));
        for (name, query) in &queries {
            parse(query).expect("benchmark query parses");
            group.bench_function(*name, |b| b.iter(|| parse(black_box(query))));
        }
        group.finish();

        // The same queries with regexes never seen before: the cache of
        // compiled regexes emptied before each parse (as on the first
        // parse of a query; clearing costs tens of nanoseconds).
        let mut group = c.benchmark_group("parse_cold");
        group.throughput(Throughput::Elements(1));
        for (name, query) in &queries {
            group.bench_function(*name, |b| {
                b.iter(|| {
                    clear_regex_cache();
                    parse(black_box(query))
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group("print");
        group.throughput(Throughput::Elements(1));
        for (name, query) in &queries {
            let expr = parse(query).unwrap();
            group.bench_function(*name, |b| b.iter(|| black_box(&expr).to_string()));
        }
        group.finish();

        // What the editor does on a keystroke: complete at the end of the
        // text (the usual place to type) and in the middle of it.
        let mut group = c.benchmark_group("complete");
        group.throughput(Throughput::Elements(1));
        for (name, query) in &queries {
            group.bench_function(format!("{name}/end"), |b| b.iter(|| complete(black_box(query), query.len())));
            let middle = query.len() / 2;
            group.bench_function(format!("{name}/middle"), |b| b.iter(|| complete(black_box(query), middle)));
        }
        group.finish();
    }

    criterion_group! {
        name = benches;
        config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        targets = bench
    }
}
