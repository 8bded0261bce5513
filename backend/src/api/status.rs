//! `/api/v1/status/...`: what the server is (build), how it was started
//! (flags, configuration), how it is doing (runtime) and what it holds
//! (TSDB cardinality). The JSON keys are Prometheus's, so its UI, Grafana
//! and scripts that read Prometheus's status pages read Vigil's too; the
//! Go-specific fields get the nearest Rust fact, named in each comment.

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::response::Response;
use serde::Serialize;

use super::{ApiError, AppState, Params, params, success_json};

/// Prometheus's `PrometheusVersion`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfo {
    version: &'static str,
    revision: &'static str,
    branch: &'static str,
    build_user: &'static str,
    build_date: &'static str,
    /// Prometheus's Go toolchain; here the Rust compiler that built Vigil.
    go_version: &'static str,
}

/// `/api/v1/status/buildinfo`. Revision, branch, user and date come from
/// the `VIGIL_BUILD_*` variables when a release build sets them, and are
/// empty otherwise, as in a Prometheus built without its ldflags.
pub async fn build_info() -> Response {
    success_json(&BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        revision: option_env!("VIGIL_BUILD_REVISION").unwrap_or(""),
        branch: option_env!("VIGIL_BUILD_BRANCH").unwrap_or(""),
        build_user: option_env!("VIGIL_BUILD_USER").unwrap_or(""),
        build_date: option_env!("VIGIL_BUILD_DATE").unwrap_or(""),
        go_version: env!("VIGIL_RUSTC_VERSION"),
    })
}

/// `/api/v1/status/config`: the configuration file's text as of the last
/// successful (re)load — what is in force, not what is on disk now.
pub async fn config(State(state): State<AppState>) -> Response {
    #[derive(Serialize)]
    struct ConfigData {
        yaml: String,
    }
    success_json(&ConfigData { yaml: state.reloader.state().text })
}

/// `/api/v1/status/flags`: every flag and its value, as text.
pub async fn flags(State(state): State<AppState>) -> Response {
    success_json(&state.status.flags)
}

/// Prometheus's `RuntimeInfo`, same keys in the same order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeInfo {
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    hostname: String,
    server_time: String,
    reload_config_success: bool,
    last_config_time: String,
    corruption_count: i64,
    /// Go's goroutines; here the tasks alive on the async runtime.
    goroutine_count: usize,
    /// Go's scheduler threads; here the parallelism the OS grants us.
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    /// Go's soft memory limit, `math.MaxInt64` when unset: Vigil has none.
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: i64,
    #[serde(rename = "GOGC")]
    gogc: String,
    #[serde(rename = "GODEBUG")]
    godebug: String,
    storage_retention: String,
}

/// `/api/v1/status/runtimeinfo`.
pub async fn runtime_info(State(state): State<AppState>) -> Response {
    let config = state.reloader.state();
    // Prometheus reads the reload time from a gauge of whole seconds.
    let last_config = config
        .last_success
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(std::time::UNIX_EPOCH, |d| std::time::UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs()));
    success_json(&RuntimeInfo {
        start_time: params::format_rfc3339(state.status.start_time),
        cwd: state.status.cwd.clone(),
        hostname: hostname(),
        server_time: params::format_rfc3339(std::time::SystemTime::now()),
        reload_config_success: config.last_reload_ok,
        last_config_time: params::format_rfc3339(last_config),
        corruption_count: state.db.stats().snapshot().wal_corruptions as i64,
        goroutine_count: tokio::runtime::Handle::try_current().map_or(0, |h| h.metrics().num_alive_tasks()),
        gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gomemlimit: i64::MAX,
        gogc: String::new(),
        godebug: String::new(),
        storage_retention: storage_retention(state.db.options()),
    })
}

/// The retention as Prometheus describes it: `15d`, `512MiB`, or both
/// joined by " or ".
fn storage_retention(options: &crate::tsdb::DbOptions) -> String {
    let mut parts = Vec::new();
    if options.retention_ms > 0 {
        parts.push(crate::config::format_duration(std::time::Duration::from_millis(options.retention_ms as u64)));
    }
    if options.retention_bytes > 0 {
        const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let (mut value, mut unit) = (options.retention_bytes, 0);
        while unit + 1 < UNITS.len() && value % 1024 == 0 {
            value /= 1024;
            unit += 1;
        }
        parts.push(format!("{value}{}", UNITS[unit]));
    }
    parts.join(" or ")
}

pub(crate) fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    if !ok {
        return String::new();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// Prometheus's `TSDBStat`.
#[derive(Serialize)]
struct Stat {
    name: String,
    value: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStats {
    num_series: u64,
    num_label_pairs: u64,
    chunk_count: u64,
    min_time: i64,
    max_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TsdbStatus {
    head_stats: HeadStats,
    series_count_by_metric_name: Vec<Stat>,
    label_value_count_by_label_name: Vec<Stat>,
    memory_in_bytes_by_label_name: Vec<Stat>,
    series_count_by_label_value_pair: Vec<Stat>,
}

/// Prometheus's cap on `limit` for this endpoint.
const MAX_TSDB_LIMIT: usize = 10_000;

/// `/api/v1/status/tsdb?limit=N` (default 10): the head's size and its
/// largest metric names, label names and label pairs.
pub async fn tsdb(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let Form(params): Form<HashMap<String, String>> = params?;
    let limit = match params.get("limit").map(String::as_str).filter(|s| !s.is_empty()) {
        None => 10,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    if limit > MAX_TSDB_LIMIT {
        return Err(ApiError::bad_data(format!("limit must not exceed {MAX_TSDB_LIMIT}")));
    }
    let c = state.db.head().cardinality(limit);
    let stats = |list: Vec<(String, u64)>| list.into_iter().map(|(name, value)| Stat { name, value }).collect();
    Ok(success_json(&TsdbStatus {
        head_stats: HeadStats {
            num_series: c.num_series,
            num_label_pairs: c.num_label_pairs,
            chunk_count: c.chunk_count,
            min_time: c.min_time,
            max_time: c.max_time,
        },
        series_count_by_metric_name: stats(c.series_count_by_metric_name),
        label_value_count_by_label_name: stats(c.label_value_count_by_label_name),
        memory_in_bytes_by_label_name: stats(c.memory_in_bytes_by_label_name),
        series_count_by_label_value_pair: stats(c.series_count_by_label_value_pair),
    }))
}
