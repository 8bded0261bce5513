//! `POST /api/v1/query_batch`, a Vigil extension: many queries in one
//! request, answered as they complete.
//!
//! Browsers open at most six HTTP/1.1 connections per host, so a dashboard
//! of a hundred panels sending one request per query would have most of
//! them waiting in the browser's queue before the server even sees them.
//! One batch request carries them all; the server evaluates them
//! concurrently through the very code `/api/v1/query` and
//! `/api/v1/query_range` use (same parameter checks, same limits, same
//! `--query.max-concurrency` semaphore) and streams one NDJSON line per
//! query in completion order, so panels draw as their data arrives:
//!
//! ```text
//! {"id":"3/A","response":{"status":"success","data":{"resultType":"matrix","result":[…]}}}
//! {"id":"1/A","response":{"status":"error","errorType":"bad_data","error":"invalid parameter …"}}
//! ```
//!
//! The body is a JSON array of `{"id", "query", "start", "end", "step"}`
//! (a range query) or `{"id", "query", "time"}` (an instant query; `time`
//! may be left out for now). Times and steps take what the single
//! endpoints take, as JSON strings or numbers. `id` is echoed unchanged.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use vigil_shared::model::api::{ApiResponse, QueryData};

use super::{ApiError, AppState, instant_answer, range_answer};

/// More queries than any dashboard sends in one go; a bound so that one
/// request cannot park an unbounded number of tasks on the semaphore.
pub const MAX_BATCH: usize = 2000;

/// One query of the batch, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchQuery {
    id: Json,
    query: String,
    #[serde(default)]
    start: Option<Json>,
    #[serde(default)]
    end: Option<Json>,
    #[serde(default)]
    step: Option<Json>,
    #[serde(default)]
    time: Option<Json>,
    #[serde(default)]
    timeout: Option<Json>,
    #[serde(default)]
    limit: Option<Json>,
}

/// One line of the answer.
#[derive(Serialize)]
struct BatchLine<'a> {
    id: &'a Json,
    response: &'a ApiResponse<QueryData>,
}

impl BatchQuery {
    /// A range query names any of `start`, `end` or `step`; the range
    /// endpoint's checks then say which is missing.
    fn is_range(&self) -> bool {
        self.start.is_some() || self.end.is_some() || self.step.is_some()
    }

    /// The parameters as the single endpoints receive them from a form.
    /// Numbers become their decimal text, which `parse_time` and
    /// `parse_step` read as seconds.
    fn params(&self) -> Result<HashMap<String, String>, ApiError> {
        let mut params = HashMap::from([("query".to_owned(), self.query.clone())]);
        let fields = [
            ("start", &self.start),
            ("end", &self.end),
            ("step", &self.step),
            ("time", &self.time),
            ("timeout", &self.timeout),
            ("limit", &self.limit),
        ];
        for (name, value) in fields {
            let text = match value {
                None | Some(Json::Null) => continue,
                Some(Json::String(text)) => text.clone(),
                Some(Json::Number(n)) => n.to_string(),
                Some(other) => {
                    return Err(ApiError::invalid_param(name, format!("expected a string or a number, got {other}")));
                }
            };
            params.insert(name.to_owned(), text);
        }
        Ok(params)
    }
}

/// Evaluates one query of the batch and encodes its line.
async fn answer_line(state: &AppState, query: &BatchQuery) -> Vec<u8> {
    let answer = match query.params() {
        Ok(params) if query.is_range() => range_answer(state, &params).await,
        Ok(params) => instant_answer(state, &params).await,
        Err(e) => Err(e),
    };
    let response = answer.unwrap_or_else(|e| ApiResponse::error(e.error_type, e.message));
    let mut line = serde_json::to_vec(&BatchLine { id: &query.id, response: &response }).unwrap_or_else(|e| {
        // Only a non-string map key could fail here, and there is none; say
        // so in the stream rather than drop the panel's answer.
        serde_json::to_vec(&serde_json::json!({
            "id": query.id,
            "response": {"status": "error", "errorType": "internal", "error": format!("cannot encode answer: {e}")},
        }))
        .unwrap_or_default()
    });
    line.push(b'\n');
    line
}

/// The handler: checks the whole body first (a malformed one is a single
/// `bad_data` error, as the single endpoints answer), then streams.
pub(super) async fn query_batch(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let queries: Vec<BatchQuery> =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_data(format!("invalid query batch: {e}")))?;
    if queries.len() > MAX_BATCH {
        return Err(ApiError::bad_data(format!(
            "invalid query batch: {} queries, at most {MAX_BATCH} are allowed in one request",
            queries.len()
        )));
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(queries.len().max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for query in queries {
        let (state, sender) = (state.clone(), sender.clone());
        tasks.spawn(async move {
            let line = answer_line(&state, &query).await;
            // The client may have gone: nobody to tell.
            let _ = sender.send(line).await;
        });
    }
    drop(sender);
    // The tasks travel with the stream: when the client hangs up (a
    // dashboard cancels on a new time range), the body is dropped and the
    // queries still waiting for a slot are aborted with it.
    let lines = futures_util::stream::unfold((receiver, tasks), |(mut receiver, tasks)| async move {
        let line = receiver.recv().await?;
        Some((Ok::<_, Infallible>(Bytes::from(line)), (receiver, tasks)))
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson")),
            // Proxies must not hold the lines back until the end.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_the_single_endpoints_form() {
        // (the item, whether it is a range query, the form it becomes)
        type Case<'a> = (&'a str, bool, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (
                r#"{"id":"a","query":"up","start":10,"end":"2015-07-01T20:10:51Z","step":"15s"}"#,
                true,
                &[("query", "up"), ("start", "10"), ("end", "2015-07-01T20:10:51Z"), ("step", "15s")],
            ),
            (r#"{"id":1,"query":"up","time":1.5}"#, false, &[("query", "up"), ("time", "1.5")]),
            (r#"{"id":1,"query":"up"}"#, false, &[("query", "up")]),
            (r#"{"id":1,"query":"up","step":null,"end":5}"#, true, &[("query", "up"), ("end", "5")]),
        ];
        for (json, range, want) in cases {
            let query: BatchQuery = serde_json::from_str(json).unwrap();
            assert_eq!(query.is_range(), *range, "{json}");
            let want: HashMap<String, String> = want.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            assert_eq!(query.params().ok(), Some(want), "{json}");
        }
    }

    #[test]
    fn bad_parameter_types_name_the_parameter() {
        let query: BatchQuery = serde_json::from_str(r#"{"id":"x","query":"up","start":[1]}"#).unwrap();
        let error = query.params().err().map(|e| e.message);
        assert_eq!(error.as_deref(), Some("invalid parameter \"start\": expected a string or a number, got [1]"));
    }

    #[test]
    fn unknown_fields_are_refused_with_their_position() {
        let error = serde_json::from_str::<Vec<BatchQuery>>(r#"[{"id":"x","query":"up","sart":1}]"#)
            .err()
            .map(|e| e.to_string());
        assert!(error.as_deref().is_some_and(|e| e.contains("sart") && e.contains("column")), "{error:?}");
    }
}
