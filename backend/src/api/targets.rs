//! What the scrape layer knows, in Prometheus's JSON shapes: the targets
//! (`/api/v1/targets`, with `state` and `scrapePool` filters) and the
//! HELP/TYPE/UNIT metadata they expose (`/api/v1/targets/metadata`,
//! `/api/v1/metadata`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use vigil_shared::model::api::{self, TargetsData};

use super::{ApiError, AppState, success_json};
use crate::config::format_duration;

pub async fn targets(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let wanted = params.get("state").map(|s| s.to_ascii_lowercase()).unwrap_or_else(|| "any".to_owned());
    let (show_active, show_dropped) = match wanted.as_str() {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        other => {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"state\": {other:?} is not one of active, dropped, any"
            )));
        }
    };
    let pool_filter = params.get("scrapePool");
    let mut data =
        TargetsData { active_targets: Vec::new(), dropped_targets: Vec::new(), dropped_target_counts: BTreeMap::new() };
    for (pool, pool_state) in state.scrape.pools() {
        if pool_filter.is_some_and(|p| *p != pool) {
            continue;
        }
        data.dropped_target_counts.insert(pool.clone(), pool_state.dropped.len());
        if show_active {
            for active in &pool_state.active {
                let health = active.health.lock().map(|h| h.clone()).unwrap_or_default();
                let t = &active.target;
                data.active_targets.push(api::ActiveTarget {
                    discovered_labels: t.discovered_labels.clone(),
                    labels: t.labels.clone(),
                    scrape_pool: pool.clone(),
                    scrape_url: t.scrape_url.clone(),
                    global_url: t.scrape_url.clone(),
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
                    scrape_interval: format_duration(t.interval),
                    scrape_timeout: format_duration(t.timeout),
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
