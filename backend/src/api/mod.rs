//! The HTTP surface: Prometheus's `/api/v1` query API, Vigil's own
//! `/metrics`, health endpoints, and the dashboard app.
//!
//! Architecture invariant: only this module knows about HTTP and the JSON
//! shapes of answers; it turns engine values into `vigil_shared` API types.

mod params;
mod rules;
mod series;
mod targets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vigil_shared::model::api::{self, ApiResponse, ErrorType, QueryData};
use vigil_shared::promql;

use crate::promql::{Engine, EvalError, Value};
use crate::scrape::ScrapeManager;
use crate::server::Reloader;
use crate::telemetry::Telemetry;
use crate::web;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// For the series metadata endpoints, which read storage directly.
    pub storage: Arc<dyn crate::tsdb::Storage>,
    pub telemetry: Arc<Telemetry>,
    pub scrape: Arc<ScrapeManager>,
    pub reloader: Arc<Reloader>,
    pub rules: Arc<crate::rules::RuleManager>,
}

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series::series).post(series::series))
        .route("/api/v1/labels", get(series::labels).post(series::labels))
        .route("/api/v1/label/{name}/values", get(series::label_values))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/api/v1/rules", get(rules::rules).post(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts).post(rules::alerts))
        .route("/metrics", get(metrics))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .route("/-/healthy", get(|| async { "Vigil is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Vigil is Ready.\n" }))
        .fallback(web::serve_ui)
        .layer(middleware::from_fn_with_state(state.clone(), record_request))
        .with_state(state)
}

/// Counts and times every request by route pattern.
async fn record_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let handler = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None if request.uri().path().starts_with("/api/") => "other".to_owned(),
        None => "/ui".to_owned(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    state.telemetry.observe_request(&handler, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// An API error: Prometheus's error JSON with its status code.
struct ApiError {
    error_type: ErrorType,
    message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        ApiError { error_type: ErrorType::BadData, message: message.into() }
    }
}

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> Self {
        let error_type = match e {
            EvalError::BadRange(_) => ErrorType::BadData,
            EvalError::Execution(_) | EvalError::TooManySamples => ErrorType::Execution,
            EvalError::Timeout(_) => ErrorType::Timeout,
            EvalError::Storage(_) => ErrorType::Internal,
        };
        ApiError { error_type, message: e.to_string() }
    }
}

impl From<FormRejection> for ApiError {
    fn from(e: FormRejection) -> Self {
        ApiError::bad_data(format!("invalid form: {}", e.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.error_type {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        json_response(status, &ApiResponse::<()>::error(self.error_type, self.message))
    }
}

fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode response: {e}")).into_response(),
    }
}

fn success_json<T: serde::Serialize>(data: &T) -> Response {
    json_response(StatusCode::OK, &ApiResponse::success(data))
}

type Params = Result<Form<HashMap<String, String>>, FormRejection>;

fn parse_query_param(params: &HashMap<String, String>) -> Result<promql::Expr, ApiError> {
    let text = params.get("query").map(String::as_str).unwrap_or("");
    promql::parse(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {}", e.describe(text))))
}

/// `/api/v1/query`: evaluates at `time` (default now).
async fn query(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let Form(params) = params?;
    let expr = parse_query_param(&params)?;
    let time_ms = match params.get("time") {
        Some(t) => params::parse_time(t).map_err(|e| ApiError::bad_data(format!("invalid parameter \"time\": {e}")))?,
        None => params::now_ms(),
    };
    let output = state.engine.instant_query(&expr, time_ms)?;
    let data = match output.value {
        Value::Scalar(value) => QueryData::Scalar(api::SamplePoint { timestamp_ms: time_ms, value }),
        Value::String(value) => QueryData::String(api::StringPoint { timestamp_ms: time_ms, value }),
        Value::Vector(v) => QueryData::Vector(
            v.into_iter()
                .map(|s| api::InstantSeries {
                    metric: s.labels,
                    value: api::SamplePoint { timestamp_ms: time_ms, value: s.value },
                })
                .collect(),
        ),
        Value::Matrix(m) => QueryData::Matrix(m.into_iter().map(range_series).collect()),
    };
    Ok(json_response(StatusCode::OK, &ApiResponse::annotated(data, output.warnings, output.infos)))
}

/// `/api/v1/query_range`: evaluates at every `step` from `start` to `end`.
async fn query_range(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let Form(params) = params?;
    let expr = parse_query_param(&params)?;
    let required = |name: &str| {
        params.get(name).ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"{name}\": missing")))
    };
    let start = params::parse_time(required("start")?)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"start\": {e}")))?;
    let end = params::parse_time(required("end")?)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"end\": {e}")))?;
    let step = params::parse_step(required("step")?)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?;
    let output = state.engine.range_query(&expr, start, end, step)?;
    let data = QueryData::Matrix(output.value.into_iter().map(range_series).collect());
    Ok(json_response(StatusCode::OK, &ApiResponse::annotated(data, output.warnings, output.infos)))
}

fn range_series(s: crate::promql::RangeSeries) -> api::RangeSeries {
    api::RangeSeries {
        metric: s.labels,
        values: s.samples.iter().map(|p| api::SamplePoint { timestamp_ms: p.timestamp_ms, value: p.value }).collect(),
    }
}

/// Vigil's own metrics, in OpenMetrics text.
async fn metrics(State(state): State<AppState>) -> Response {
    match state.telemetry.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response(),
    }
}

/// `POST /-/reload`: applies the configuration file again; on error the
/// running configuration stays and the answer says why.
async fn reload(State(state): State<AppState>) -> Response {
    match state.reloader.reload() {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e:#}\n")).into_response(),
    }
}
