//! Series metadata endpoints, as Prometheus serves them: `/api/v1/series`,
//! `/api/v1/labels` and `/api/v1/label/<name>/values`, each with repeated
//! `match[]` selectors, an optional `start`/`end` range and a `limit`.
//! Grafana's query editor and Vigil's own use these to complete names.

use std::collections::BTreeSet;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use vigil_shared::model::Labels;
use vigil_shared::model::api::ApiResponse;
use vigil_shared::promql::{self, Expr, Matcher};

use super::{ApiError, AppState, json_response, params};

type PairParams = Result<Form<Vec<(String, String)>>, FormRejection>;

/// The parsed common parameters.
struct SeriesQuery {
    selectors: Vec<Vec<Matcher>>,
    start_ms: i64,
    end_ms: i64,
    limit: Option<usize>,
}

/// The `match[]` parameters as series selectors' matcher sets.
pub(super) fn match_sets(pairs: &[(String, String)]) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut selectors = Vec::new();
    for (_, text) in pairs.iter().filter(|(k, _)| k == "match[]") {
        match promql::parse(text) {
            Ok(Expr::VectorSelector(selector)) => selectors.push(selector.matchers),
            Ok(_) => {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"match[]\": {text:?} is not a series selector"
                )));
            }
            Err(e) => return Err(ApiError::bad_data(format!("invalid parameter \"match[]\": {}", e.describe(text)))),
        }
    }
    Ok(selectors)
}

fn parse_params(pairs: &[(String, String)], require_match: bool) -> Result<SeriesQuery, ApiError> {
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let selectors = match_sets(pairs)?;
    if require_match && selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let time = |name: &str, default: i64| -> Result<i64, ApiError> {
        get(name).map_or(Ok(default), |t| {
            params::parse_time(t).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}")))
        })
    };
    // As Prometheus: no range means all time.
    let start_ms = time("start", i64::MIN / 2)?;
    let end_ms = time("end", i64::MAX / 2)?;
    let limit = match get("limit") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n <= 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => return Err(ApiError::bad_data(format!("invalid parameter \"limit\": {text:?} is not a number"))),
        },
    };
    Ok(SeriesQuery { selectors, start_ms, end_ms, limit })
}

/// Every series matching any selector (all series without one), in order.
fn matching_series(state: &AppState, query: &SeriesQuery) -> Result<BTreeSet<Labels>, ApiError> {
    let querier = state
        .storage
        .querier(query.start_ms, query.end_ms)
        .map_err(|e| ApiError { error_type: vigil_shared::model::api::ErrorType::Internal, message: e.to_string() })?;
    let all: [Vec<Matcher>; 1] = [Vec::new()];
    let selectors: &[Vec<Matcher>] = if query.selectors.is_empty() { &all } else { &query.selectors };
    let mut out = BTreeSet::new();
    for matchers in selectors {
        let series = querier.select(matchers).map_err(|e| ApiError {
            error_type: vigil_shared::model::api::ErrorType::Internal,
            message: e.to_string(),
        })?;
        out.extend(series.into_iter().map(|s| s.labels));
    }
    Ok(out)
}

/// Truncates to `limit` and says so in a warning, as Prometheus does.
fn limited<T: serde::Serialize>(mut items: Vec<T>, limit: Option<usize>) -> Response {
    let mut warnings = Vec::new();
    if let Some(limit) = limit.filter(|l| items.len() > *l) {
        items.truncate(limit);
        warnings.push("results truncated due to limit".to_owned());
    }
    json_response(axum::http::StatusCode::OK, &ApiResponse::annotated(items, warnings, Vec::new()))
}

/// `/api/v1/series`.
pub async fn series(State(state): State<AppState>, params: PairParams) -> Result<Response, ApiError> {
    let Form(pairs) = params?;
    let query = parse_params(&pairs, true)?;
    let series: Vec<Labels> = matching_series(&state, &query)?.into_iter().collect();
    Ok(limited(series, query.limit))
}

/// `/api/v1/labels`.
pub async fn labels(State(state): State<AppState>, params: PairParams) -> Result<Response, ApiError> {
    let Form(pairs) = params?;
    let query = parse_params(&pairs, false)?;
    let names: BTreeSet<String> =
        matching_series(&state, &query)?.iter().flat_map(|l| l.iter().map(|label| label.name.clone())).collect();
    Ok(limited(names.into_iter().collect(), query.limit))
}

/// `/api/v1/label/<name>/values`.
pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: PairParams,
) -> Result<Response, ApiError> {
    let Form(pairs) = params?;
    let query = parse_params(&pairs, false)?;
    let values: BTreeSet<String> =
        matching_series(&state, &query)?.iter().filter_map(|l| l.get(&name).map(str::to_owned)).collect();
    Ok(limited(values.into_iter().collect(), query.limit))
}
