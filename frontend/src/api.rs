//! HTTP to Vigil's Prometheus-compatible API, with `gloo-net`.
//!
//! Answers are decoded into `vigil_shared` types, the same ones the server
//! encodes, and every failure (network, HTTP, JSON, API error) becomes a
//! message for the user.

use vigil_shared::model::api::{ApiResponse, QueryData, RangeSeries};

/// The range query of one panel.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeQuery {
    pub expr: String,
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    pub step_seconds: i64,
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

/// `GET /api/v1/query_range`; the series of the matrix it returns.
pub async fn query_range(query: &RangeQuery) -> Result<Vec<RangeSeries>, String> {
    let url = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step={}",
        encode(&query.expr),
        query.start,
        query.end,
        query.step_seconds
    );
    let response = gloo_net::http::Request::get(&url).send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    // Prometheus answers errors with a JSON body too; read it whatever the status.
    let body: ApiResponse<QueryData> =
        response.json().await.map_err(|e| format!("HTTP {status}: the answer is not Prometheus API JSON ({e})"))?;
    match body {
        ApiResponse::Success { data: QueryData::Matrix(series), .. } => Ok(series),
        ApiResponse::Success { .. } => Err("the query did not return a range vector".to_owned()),
        ApiResponse::Error { error_type, error } => Err(format!("{error} ({error_type:?})")),
    }
}
