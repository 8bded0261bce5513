//! `/api/v1/targets`: the scrape pools' active and dropped targets, in
//! Prometheus's JSON shape, with `state` and `scrapePool` filters.

use std::collections::{BTreeMap, HashMap};

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
