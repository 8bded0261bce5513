//! The HTTP surface: Prometheus's `/api/v1` query API, Vigil's own
//! `/metrics`, health endpoints, and the dashboard app.
//!
//! Architecture invariant: only this module knows about HTTP and the JSON
//! shapes of answers; it turns engine values into `vigil_shared` API types.

mod admin;
mod alertmanager;
mod batch;
pub mod params;
mod rules;
mod series;
mod status;
mod syntax;
mod targets;

/// The machine's name (`gethostname`), also used in email `Message-Id`s.
pub(crate) use status::hostname;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
use crate::tsdb::Db;
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
    /// The database itself, for `/api/v1/status/tsdb`'s cardinality figures
    /// and runtime information.
    pub db: Arc<Db>,
    /// `--query.max-concurrency` permits: a query evaluates only while it
    /// holds one, the rest wait in line (Prometheus's query queue).
    pub query_slots: Arc<tokio::sync::Semaphore>,
    pub status: Arc<StatusInfo>,
    pub rules: Arc<crate::rules::RuleManager>,
    /// Dashboards and folders, for the Grafana-shaped routes of
    /// `dashboards::api`.
    pub dashboards: crate::dashboards::DashboardStore,
    /// The built-in Alertmanager, when `--alertmanager.config.file` is given.
    pub alertmanager: Option<Arc<crate::alerting::Alertmanager>>,
    /// `--web.enable-admin-api`: whether `/api/v1/admin/*` does anything.
    pub admin_api: bool,
    /// `--storage.tsdb.path`, where snapshots are written.
    pub storage_path: std::path::PathBuf,
}

impl axum::extract::FromRef<AppState> for crate::dashboards::DashboardStore {
    fn from_ref(state: &AppState) -> Self {
        state.dashboards.clone()
    }
}

/// Facts fixed at startup that the status endpoints report.
#[derive(Debug, Clone)]
pub struct StatusInfo {
    pub start_time: SystemTime,
    /// The working directory at startup.
    pub cwd: String,
    /// Every command-line flag and its value.
    pub flags: BTreeMap<String, String>,
}

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/query_batch", axum::routing::post(batch::query_batch))
        .route("/api/v1/format_query", get(syntax::format_query).post(syntax::format_query))
        .route("/api/v1/parse_query", get(syntax::parse_query).post(syntax::parse_query))
        .route("/api/v1/query_exemplars", get(syntax::query_exemplars).post(syntax::query_exemplars))
        .route("/api/v1/status/buildinfo", get(status::build_info))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtime_info))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/series", get(series::series).post(series::series))
        .route("/api/v1/labels", get(series::labels).post(series::labels))
        .route("/api/v1/label/{name}/values", get(series::label_values))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/api/v1/rules", get(rules::rules).post(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts).post(rules::alerts))
        .route("/api/v2/alerts", get(alertmanager::get_alerts).post(alertmanager::post_alerts))
        .route("/api/v2/alerts/groups", get(alertmanager::alert_groups))
        .route("/api/v2/silences", get(alertmanager::get_silences).post(alertmanager::post_silences))
        .route("/api/v2/silence/{id}", get(alertmanager::get_silence).delete(alertmanager::delete_silence))
        .route("/api/v2/receivers", get(alertmanager::receivers))
        .route("/api/v2/status", get(alertmanager::status))
        .route("/api/v1/admin/tsdb/delete_series", axum::routing::post(admin::delete_series).put(admin::delete_series))
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            axum::routing::post(admin::clean_tombstones).put(admin::clean_tombstones),
        )
        .route("/api/v1/admin/tsdb/snapshot", axum::routing::post(admin::snapshot).put(admin::snapshot))
        .route("/metrics", get(metrics))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .route("/-/healthy", get(|| async { "Vigil is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Vigil is Ready.\n" }))
        .merge(crate::dashboards::api::routes())
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

    /// Prometheus's `invalid parameter "name": why`.
    fn invalid_param(name: &str, why: impl std::fmt::Display) -> Self {
        ApiError::bad_data(format!("invalid parameter \"{name}\": {why}"))
    }

    fn internal(message: impl Into<String>) -> Self {
        ApiError { error_type: ErrorType::Internal, message: message.into() }
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
        // Prometheus's status code for each errorType (api.go's
        // getDefaultErrorCode); `unavailable` is not in its switch and so
        // falls to the default 500 there too.
        let status = match self.error_type {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Internal | ErrorType::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
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
    promql::parse(text).map_err(|e| ApiError::invalid_param("query", e.describe(text)))
}

/// A parameter as Go's `r.FormValue` reads it: absent and empty are alike.
fn form_value<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// `limit` as Prometheus's `parseLimitParam`: absent or 0 means none; the
/// errors are Go's `strconv.Atoi` messages, which clients already see.
fn parse_limit(params: &HashMap<String, String>) -> Result<usize, ApiError> {
    let Some(text) = form_value(params, "limit") else { return Ok(0) };
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_param("limit", format!("strconv.Atoi: parsing {text:?}: invalid syntax")));
    }
    let limit: i64 = text
        .parse()
        .map_err(|_| ApiError::invalid_param("limit", format!("strconv.Atoi: parsing {text:?}: value out of range")))?;
    usize::try_from(limit).map_err(|_| ApiError::invalid_param("limit", "limit must be non-negative"))
}

/// The per-request `timeout` (Prometheus's duration syntax, or seconds).
fn parse_timeout(params: &HashMap<String, String>) -> Result<Option<Duration>, ApiError> {
    let Some(text) = form_value(params, "timeout") else { return Ok(None) };
    let ms = params::parse_step(text).map_err(|e| ApiError::invalid_param("timeout", e))?;
    // A zero or negative timeout has already passed, as a Go deadline would.
    Ok(Some(Duration::from_millis(ms.max(0) as u64)))
}

/// The per-request `lookback_delta`; `None` keeps the flag's.
fn parse_lookback(params: &HashMap<String, String>) -> Result<Option<i64>, ApiError> {
    let Some(text) = form_value(params, "lookback_delta") else { return Ok(None) };
    let ms = params::parse_step(text)
        .map_err(|e| ApiError::bad_data(format!("error parsing lookback delta duration: {e}")))?;
    // As Prometheus's engine: zero or negative means the default.
    Ok((ms > 0).then_some(ms))
}

/// Decrements `prometheus_engine_queries` however the query ends.
struct RunningQuery(Arc<Telemetry>);

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.0.queries_running.dec();
    }
}

/// Runs one evaluation under the query limits: waits for a concurrency
/// slot, then evaluates on the blocking pool (evaluation is synchronous and
/// CPU-bound; on the async runtime it would stall every other request).
/// The timeout is the smaller of `--query.timeout` and the request's own,
/// and time spent waiting for a slot counts against it, as in Prometheus.
async fn evaluate<T: Send + 'static>(
    state: &AppState,
    request_timeout: Option<Duration>,
    lookback_ms: Option<i64>,
    eval: impl FnOnce(&Engine) -> Result<T, EvalError> + Send + 'static,
) -> Result<T, ApiError> {
    let timeout = match (state.engine.options().timeout, request_timeout) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    state.telemetry.queries_running.inc();
    let running = RunningQuery(Arc::clone(&state.telemetry));
    let slots = Arc::clone(&state.query_slots);
    let queued = Instant::now();
    let permit = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.into(), slots.acquire_owned())
            .await
            .map_err(|_| ApiError::from(EvalError::Timeout("query timed out in query queue".to_owned())))?,
        None => slots.acquire_owned().await,
    }
    .map_err(|_| ApiError::internal("the query queue is closed"))?;
    state.engine.stats().queue_time.observe(queued.elapsed());
    let engine = state.engine.with_options(|options| {
        options.timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if let Some(lookback) = lookback_ms {
            options.lookback_ms = lookback;
        }
    });
    // The permit and the gauge go with the evaluation: if the client hangs
    // up, the evaluation still runs to its end or its deadline and keeps
    // its slot until then.
    let evaluation = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _running = running;
        eval(&engine)
    });
    match evaluation.await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format!("query evaluation failed: {e}"))),
    }
}

/// Keeps the first `limit` series (0: all), as Prometheus's
/// `truncateResults`, and says so in a warning.
fn truncate<T>(series: &mut Vec<T>, limit: usize, warnings: &mut Vec<String>) {
    if limit > 0 && series.len() > limit {
        series.truncate(limit);
        warnings.push("results truncated due to limit".to_owned());
    }
}

/// `/api/v1/query`: evaluates at `time` (default now).
async fn query(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let Form(params) = params?;
    Ok(json_response(StatusCode::OK, &instant_answer(&state, &params).await?))
}

/// `/api/v1/query_range`: evaluates at every `step` from `start` to `end`.
async fn query_range(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let Form(params) = params?;
    Ok(json_response(StatusCode::OK, &range_answer(&state, &params).await?))
}

/// The answer of `/api/v1/query` for its parameters; `query_batch` shares it.
async fn instant_answer(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<ApiResponse<QueryData>, ApiError> {
    let limit = parse_limit(params)?;
    let time_ms = match form_value(params, "time") {
        Some(t) => params::parse_time(t).map_err(|e| ApiError::invalid_param("time", e))?,
        None => params::now_ms(),
    };
    let timeout = parse_timeout(params)?;
    let lookback = parse_lookback(params)?;
    let expr = parse_query_param(params)?;
    let output = evaluate(state, timeout, lookback, move |engine| engine.instant_query(&expr, time_ms)).await?;
    let mut warnings = output.warnings;
    let data = match output.value {
        Value::Scalar(value) => QueryData::Scalar(api::SamplePoint { timestamp_ms: time_ms, value }),
        Value::String(value) => QueryData::String(api::StringPoint { timestamp_ms: time_ms, value }),
        Value::Vector(mut v) => {
            truncate(&mut v, limit, &mut warnings);
            QueryData::Vector(
                v.into_iter()
                    .map(|s| api::InstantSeries {
                        metric: s.labels,
                        value: api::SamplePoint { timestamp_ms: time_ms, value: s.value },
                    })
                    .collect(),
            )
        }
        Value::Matrix(mut m) => {
            truncate(&mut m, limit, &mut warnings);
            QueryData::Matrix(m.into_iter().map(range_series).collect())
        }
    };
    Ok(ApiResponse::annotated(data, warnings, output.infos))
}

/// The answer of `/api/v1/query_range` for its parameters; `query_batch`
/// shares it. Parameters are checked in Prometheus's order, so the first
/// complaint is the one Prometheus would make.
async fn range_answer(state: &AppState, params: &HashMap<String, String>) -> Result<ApiResponse<QueryData>, ApiError> {
    let limit = parse_limit(params)?;
    let required = |name: &str| form_value(params, name).ok_or_else(|| ApiError::invalid_param(name, "missing"));
    let start = params::parse_time(required("start")?).map_err(|e| ApiError::invalid_param("start", e))?;
    let end = params::parse_time(required("end")?).map_err(|e| ApiError::invalid_param("end", e))?;
    if end < start {
        return Err(ApiError::invalid_param("end", "end timestamp must not be before start time"));
    }
    let step = params::parse_step(required("step")?).map_err(|e| ApiError::invalid_param("step", e))?;
    if step <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let timeout = parse_timeout(params)?;
    let lookback = parse_lookback(params)?;
    let expr = parse_query_param(params)?;
    let value_type = expr.value_type();
    if !matches!(value_type, promql::ValueType::Scalar | promql::ValueType::Vector) {
        return Err(ApiError::invalid_param(
            "query",
            format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                value_type.describe()
            ),
        ));
    }
    let output = evaluate(state, timeout, lookback, move |engine| engine.range_query(&expr, start, end, step)).await?;
    let mut series = output.value;
    let mut warnings = output.warnings;
    truncate(&mut series, limit, &mut warnings);
    let data = QueryData::Matrix(series.into_iter().map(range_series).collect());
    Ok(ApiResponse::annotated(data, warnings, output.infos))
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
