//! Micro-benchmarks of the storage's hot paths: appends into the head (with
//! and without its WAL), XOR chunk encoding and decoding, and series
//! selection at one million series for each matcher kind.
//!
//! Run: `cargo bench -p vigil --bench tsdb`. The million-series head is
//! built once for the selection group (about 20 s and 1–2 GiB).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use vigil::tsdb::chunk::{SAMPLES_PER_CHUNK, XorChunk, XorIterator};
use vigil::tsdb::{MemoryStorage, Sample, SeriesRef, Storage};
use vigil_shared::model::Labels;
use vigil_shared::promql::{Expr, Matcher, parse};

/// Series per append batch: one scrape of a large target.
const BATCH: usize = 10_000;

fn series_labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("bench_metric_{}", i % 1000)),
        ("job", "bench".to_owned()),
        ("pod", format!("pod-{}", i / 1000)),
        ("zone", format!("zone-{}", i % 7)),
    ])
}

/// References for `n` series, created in `head`.
fn create(head: &MemoryStorage, n: usize) -> Vec<SeriesRef> {
    let mut app = head.appender();
    let refs = (0..n).map(|i| app.series_ref(&series_labels(i))).collect();
    let _ = app.commit();
    refs
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("head_append");
    group.throughput(Throughput::Elements(BATCH as u64));
    let dir = std::env::temp_dir().join(format!("vigil-tsdb-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let memory = MemoryStorage::new();
    let (logged, _) = MemoryStorage::open(&dir).expect("open a head in a temp dir");
    for (name, head) in [("in_memory", &memory), ("with_wal", &logged)] {
        let refs = create(head, BATCH);
        // Scrape-like: every series gets one sample per batch, 1 s apart,
        // values moving as counters do.
        let mut t = 0i64;
        group.bench_function(format!("{name}_batch_of_{BATCH}"), |b| {
            b.iter(|| {
                t += 1000;
                let mut app = head.appender();
                for (i, r) in refs.iter().enumerate() {
                    app.append_ref(*r, Sample { timestamp_ms: t, value: (t / 1000 * (i as i64 % 13 + 1)) as f64 });
                }
                black_box(app.commit().map(|r| r.appended))
            })
        });
    }
    group.finish();
    drop(logged);
    let _ = std::fs::remove_dir_all(&dir);
}

fn chunks(c: &mut Criterion) {
    let samples: Vec<(i64, f64)> =
        (0..SAMPLES_PER_CHUNK as i64).map(|i| (1_700_000_000_000 + i * 15_000 + i % 3, (i * 7 % 100) as f64)).collect();
    let mut group = c.benchmark_group("xor_chunk");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.bench_function("encode_120_samples", |b| {
        b.iter(|| {
            let mut chunk = XorChunk::new();
            for (t, v) in &samples {
                chunk.append(*t, *v);
            }
            black_box(chunk.bytes())
        })
    });
    let mut chunk = XorChunk::new();
    for (t, v) in &samples {
        chunk.append(*t, *v);
    }
    let bytes = chunk.bytes();
    group.bench_function("decode_120_samples", |b| {
        b.iter(|| XorIterator::from_bytes(black_box(&bytes)).fold(0.0, |acc, (_, v)| acc + v))
    });
    group.finish();
}

fn matchers(text: &str) -> Vec<Matcher> {
    match parse(text) {
        Ok(Expr::VectorSelector(selector)) => selector.matchers,
        other => panic!("{text} is not a selector: {other:?}"),
    }
}

fn selection(c: &mut Criterion) {
    const SERIES: usize = 1_000_000;
    let head = MemoryStorage::new();
    let refs = create(&head, SERIES);
    let mut app = head.appender();
    for r in &refs {
        app.append_ref(*r, Sample { timestamp_ms: 1000, value: 1.0 });
    }
    let _ = app.commit();
    drop(refs);
    // Each with the metric name, as real queries have (1,000 series), and
    // the matcher under test on `pod` (1,000 values) or `zone` (7).
    let cases = [
        ("equal", r#"{__name__="bench_metric_7", pod="pod-5"}"#, 1),
        ("not_equal", r#"{__name__="bench_metric_7", zone!="zone-0"}"#, 857),
        ("regex_alternation", r#"{__name__="bench_metric_7", pod=~"pod-1|pod-2|pod-3"}"#, 3),
        ("regex_prefix", r#"{__name__="bench_metric_7", pod=~"pod-1.*"}"#, 111),
        ("regex_match_all", r#"{__name__="bench_metric_7", pod=~".*"}"#, 1000),
        ("not_regex", r#"{__name__="bench_metric_7", pod!~"pod-1.*"}"#, 889),
        ("regex_prefix_alone", r#"{pod=~"pod-99.*"}"#, 11_000),
    ];
    let mut group = c.benchmark_group("select_1m_series");
    group.sample_size(20);
    for (name, text, expected) in cases {
        let m = matchers(text);
        assert_eq!(head.select(&m, 0, 2000).len(), expected, "{text}");
        group.bench_function(name, |b| {
            b.iter_batched(|| m.clone(), |m| head.select(&m, 0, 2000).len(), BatchSize::SmallInput)
        });
    }
    group.finish();
}

criterion_group!(benches, appends, chunks, selection);
criterion_main!(benches);
