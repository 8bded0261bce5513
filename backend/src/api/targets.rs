//! What the scrape layer knows, in Prometheus's JSON shapes: the targets
//! (`/api/v1/targets`, with `state` and `scrapePool` filters) and the
//! HELP/TYPE/UNIT metadata they expose (`/api/v1/targets/metadata`,
//! `/api/v1/metadata`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use vigil_shared::model::api;

use super::{ApiError, AppState, success_json};

/// `/api/v1/targets`, as Prometheus's `targets` handler: `state` picks
/// active, dropped or both (any other value shows neither, without an
/// error), `scrapePool` picks one job. `droppedTargetCounts` counts every
/// dropped target of every pool, including those `keep_dropped_targets` did
/// not keep, and is `null` when dropped targets are not asked for.
pub async fn targets(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let wanted = params.get("state").map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let show_active = matches!(wanted.as_str(), "" | "any" | "active");
    let show_dropped = matches!(wanted.as_str(), "" | "any" | "dropped");
    let pool_filter = params.get("scrapePool").filter(|p| !p.is_empty());
    let mut data = TargetDiscovery {
        active_targets: Vec::new(),
        dropped_targets: Vec::new(),
        // Prometheus leaves the map nil, which Go encodes as null.
        dropped_target_counts: show_dropped.then(BTreeMap::new),
    };
    for (pool, pool_state) in state.scrape.pools() {
        if let Some(counts) = &mut data.dropped_target_counts {
            counts.insert(pool.clone(), pool_state.dropped_count);
        }
        if pool_filter.is_some_and(|p| *p != pool) {
            continue;
        }
        if show_active {
            for active in &pool_state.active {
                let health = active.health.lock().map(|h| h.clone()).unwrap_or_default();
                let t = &active.target;
                data.active_targets.push(api::ActiveTarget {
                    discovered_labels: t.discovered_labels.clone(),
                    labels: t.labels.clone(),
                    scrape_pool: pool.clone(),
                    scrape_url: t.scrape_url.clone(),
                    global_url: global_url(&t.scrape_url),
                    last_error: health.last_error.clone(),
                    last_scrape: health
                        .last_scrape
                        .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), super::params::format_rfc3339),
                    last_scrape_duration: health.last_scrape_duration.as_secs_f64(),
                    health: match health.up {
                        Some(true) => "up",
                        Some(false) => "down",
                        None => "unknown",
                    }
                    .to_owned(),
                    scrape_interval: t.interval_text.clone(),
                    scrape_timeout: t.timeout_text.clone(),
                });
            }
        }
        if show_dropped {
            data.dropped_targets.extend(
                pool_state
                    .dropped
                    .iter()
                    .map(|labels| api::DroppedTarget { discovered_labels: labels.clone(), scrape_pool: pool.clone() }),
            );
        }
    }
    Ok(success_json(&data))
}

/// Prometheus's `TargetDiscovery`; the shared `TargetsData` cannot say null.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery {
    active_targets: Vec<api::ActiveTarget>,
    dropped_targets: Vec<api::DroppedTarget>,
    dropped_target_counts: Option<BTreeMap<String, usize>>,
}

/// The address the UI links to for a target: Prometheus's `getGlobalURL`
/// with its default external URL (this machine's hostname), which replaces
/// a localhost address with the hostname so the link works elsewhere.
fn global_url(scrape_url: &str) -> String {
    const LOCALHOST: [&str; 4] = ["127.0.0.1", "localhost", "::1", "[::1]"];
    let Ok(mut url) = reqwest::Url::parse(scrape_url) else { return scrape_url.to_owned() };
    if !url.host_str().is_some_and(|h| LOCALHOST.contains(&h)) {
        return scrape_url.to_owned();
    }
    match hostname() {
        Some(name) if url.set_host(Some(name)).is_ok() => url.to_string(),
        _ => scrape_url.to_owned(),
    }
}

/// The machine's hostname, as Go's `os.Hostname` reads it on Linux.
fn hostname() -> Option<&'static str> {
    static HOSTNAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOSTNAME
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .as_deref()
}

fn parse_limit(params: &HashMap<String, String>, name: &str) -> Result<Option<usize>, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i64>() {
            // Prometheus treats zero and negative limits as "no limit".
            Ok(n) if n <= 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(ApiError::bad_data(format!("invalid parameter \"{name}\": {text:?} is not a number"))),
        },
    }
}

/// `/api/v1/targets/metadata`: metadata per target, filtered by a
/// `match_target` label selector and a `metric` name.
pub async fn targets_metadata(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = parse_limit(&params, "limit")?;
    let metric = params.get("metric").filter(|m| !m.is_empty());
    let matchers = match params.get("match_target").filter(|m| !m.is_empty()) {
        None => Vec::new(),
        Some(text) => match vigil_shared::promql::parse(text) {
            Ok(vigil_shared::promql::Expr::VectorSelector(selector)) => selector.matchers,
            Ok(_) => return Err(ApiError::bad_data("invalid parameter \"match_target\": not a label selector")),
            Err(e) => {
                return Err(ApiError::bad_data(format!("invalid parameter \"match_target\": {}", e.describe(text))));
            }
        },
    };
    let mut out: Vec<serde_json::Value> = Vec::new();
    'pools: for pool_state in state.scrape.pools().values() {
        for active in &pool_state.active {
            let labels = &active.target.labels;
            if !matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))) {
                continue;
            }
            let metadata = active.health.lock().map(|h| Arc::clone(&h.metadata)).unwrap_or_default();
            for m in metadata.iter().filter(|m| metric.is_none_or(|name| *name == m.metric)) {
                if limit.is_some_and(|l| out.len() >= l) {
                    break 'pools;
                }
                let mut entry = serde_json::json!({"target": labels, "type": m.kind, "help": m.help, "unit": m.unit});
                if metric.is_none() {
                    entry["metric"] = serde_json::Value::String(m.metric.clone());
                }
                out.push(entry);
            }
        }
    }
    Ok(success_json(&out))
}

/// `/api/v1/metadata`: distinct metadata per metric name across targets.
pub async fn metadata(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = parse_limit(&params, "limit")?;
    let per_metric = parse_limit(&params, "limit_per_metric")?;
    let metric = params.get("metric").filter(|m| !m.is_empty());
    let mut out: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for pool_state in state.scrape.pools().values() {
        for active in &pool_state.active {
            let metadata = active.health.lock().map(|h| Arc::clone(&h.metadata)).unwrap_or_default();
            for m in metadata.iter().filter(|m| metric.is_none_or(|name| *name == m.metric)) {
                let entry = serde_json::json!({"type": m.kind, "help": m.help, "unit": m.unit});
                let known = out.contains_key(&m.metric);
                if !known && limit.is_some_and(|l| out.len() >= l) {
                    continue;
                }
                let list = out.entry(m.metric.clone()).or_default();
                if !list.contains(&entry) && per_metric.is_none_or(|l| list.len() < l) {
                    list.push(entry);
                }
            }
        }
    }
    Ok(success_json(&out))
}
