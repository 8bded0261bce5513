//! The dashboard store's hot paths over 1,000 dashboards of 10 panels each:
//! `/api/search`'s query (title substring plus a tag, and everything), a
//! dashboard read by uid, and a save (an update with its version row, one
//! SQLite transaction on a real file in WAL mode).
//!
//! Run: `cargo bench -p vigil --bench dashboards`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use vigil::dashboards::store::{SaveRequest, SearchQuery, Store};

fn dashboard(i: usize, version: i64) -> Value {
    let panels: Vec<Value> = (0..10)
        .map(|p| {
            json!({"id": p, "type": "timeseries", "title": format!("panel {p}"),
                "gridPos": {"x": (p % 2) * 12, "y": (p / 2) * 8, "w": 12, "h": 8},
                "targets": [{"refId": "A", "expr": format!("sum by (instance) (rate(http_requests_total{{job=\"j{p}\"}}[$__rate_interval]))")}]})
        })
        .collect();
    json!({"uid": format!("dash-{i:04}"), "title": format!("Dashboard {i:04}"), "version": version,
        "tags": [format!("team-{}", i % 10), "bench"], "panels": panels, "schemaVersion": 39})
}

fn request(doc: Value) -> SaveRequest {
    SaveRequest {
        dashboard: doc,
        folder_uid: String::new(),
        overwrite: false,
        message: String::new(),
        restored_from: 0,
        provenance: None,
    }
}

fn bench(c: &mut Criterion) {
    let dir: PathBuf = std::env::temp_dir().join(format!("vigil-bench-dashboards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::open(&dir.join("dashboards.db")).expect("open the store");
    for i in 0..1000 {
        store.save(request(dashboard(i, 0))).expect("save");
    }
    let mut group = c.benchmark_group("dashboards_1000");
    group.measurement_time(Duration::from_secs(4));
    let filtered = SearchQuery {
        query: Some("dashboard 01".into()),
        tags: vec!["team-3".into()],
        limit: 1000,
        ..Default::default()
    };
    group.bench_function("search_query_and_tag", |b| b.iter(|| store.search(black_box(&filtered)).map(|h| h.len())));
    let all = SearchQuery { limit: 1000, ..Default::default() };
    group.bench_function("search_all", |b| b.iter(|| store.search(black_box(&all)).map(|h| h.len())));
    group.bench_function("get_by_uid", |b| b.iter(|| store.get(black_box("dash-0500")).map(|d| d.is_some())));
    let mut version = 1;
    group.bench_function("save_update_with_version_row", |b| {
        b.iter(|| {
            let saved = store.save(request(dashboard(500, version))).expect("save");
            version = saved.version;
        })
    });
    group.finish();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
