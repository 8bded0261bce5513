//! Parse throughput of the exposition parser on a node-exporter-like body:
//! 10,000 samples over 500 metric families with 0–3 labels, some escaped.
//!
//! Run: `cargo bench -p vigil --bench exposition`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vigil::scrape::exposition::{Format, parse};

fn body(samples: usize) -> String {
    let mut out = String::new();
    for i in 0..samples {
        let family = i / 20;
        if i % 20 == 0 {
            out.push_str(&format!(
                "# HELP node_metric_{family} Help text for family {family}.\n# TYPE node_metric_{family} gauge\n"
            ));
        }
        match i % 4 {
            0 => out.push_str(&format!("node_metric_{family} {}\n", i as f64 * 1.5)),
            1 => out.push_str(&format!("node_metric_{family}{{cpu=\"{}\"}} {}\n", i % 64, i)),
            2 => out.push_str(&format!(
                "node_metric_{family}{{device=\"sda{}\",mode=\"idle\",path=\"/var/lib/x\"}} {}e-3\n",
                i % 8,
                i
            )),
            _ => out.push_str(&format!("node_metric_{family}{{label=\"quote \\\" and \\\\ slash\"}} NaN\n")),
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = body(10_000);
    // The same body measured twice: samples per second and bytes per second.
    let mut group = c.benchmark_group("exposition");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("prometheus_text_10k_samples", |b| {
        b.iter(|| parse(black_box(&text), Format::PrometheusText).map(|s| s.samples.len()))
    });
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("prometheus_text_10k_samples_bytes", |b| {
        b.iter(|| parse(black_box(&text), Format::PrometheusText).map(|s| s.samples.len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
