//! Prometheus's TSDB admin endpoints, served only with
//! `--web.enable-admin-api` (they delete data and fill the disk, so they are
//! off by default): `delete_series`, `clean_tombstones` and `snapshot`,
//! each on POST and PUT. Without the flag they answer as Prometheus does:
//! errorType `unavailable`, "admin APIs disabled", status 500.
//!
//! The storage work runs on the blocking pool: it waits for the storage's
//! maintenance and writes files.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigil_shared::model::api::ErrorType;

use super::series::match_sets;
use super::{ApiError, AppState, params, success_json};
use crate::tsdb::{Db, StorageError};

/// The largest form body read.
const MAX_FORM_BYTES: usize = 1 << 20;

/// The parameters of a request as Go's `ParseForm` gathers them: the query
/// string, then a urlencoded body if there is one. (axum's `Form` wants
/// the body's content type even on a POST that has no body, which is how
/// these endpoints are usually called: `curl -XPOST '…?match[]=up'`.)
async fn form_pairs(request: Request) -> Result<Vec<(String, String)>, ApiError> {
    let (parts, body) = request.into_parts();
    let mut pairs: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let urlencoded = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if urlencoded {
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?;
        let mut from_body: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        // Go puts the body's values first.
        from_body.append(&mut pairs);
        pairs = from_body;
    }
    Ok(pairs)
}

fn disabled() -> ApiError {
    ApiError { error_type: ErrorType::Unavailable, message: "admin APIs disabled".to_owned() }
}

/// Runs storage work on the blocking pool; its failure is an internal error.
async fn blocking<T: Send + 'static>(
    db: &Arc<Db>,
    work: impl FnOnce(&Db) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = Arc::clone(db);
    match tokio::task::spawn_blocking(move || work(&db)).await {
        Ok(result) => result.map_err(|e| ApiError::internal(e.to_string())),
        Err(e) => Err(ApiError::internal(format!("admin task failed: {e}"))),
    }
}

/// `POST|PUT /api/v1/admin/tsdb/delete_series?match[]=…&start=…&end=…`:
/// 204 once the deletion is durable.
pub async fn delete_series(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    if !state.admin_api {
        return Err(disabled());
    }
    let pairs = form_pairs(request).await?;
    // Prometheus checks for a match[] before parsing any.
    if !pairs.iter().any(|(k, _)| k == "match[]") {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let time = |name: &str, default: i64| -> Result<i64, ApiError> {
        match pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(text) => params::parse_time(text)
                .map_err(|e| ApiError::invalid_param(name, format!("invalid time value for '{name}': {e}"))),
        }
    };
    let start = time("start", i64::MIN)?;
    let end = time("end", i64::MAX)?;
    let selectors = match_sets(&pairs)?;
    let report = blocking(&state.db, move |db| {
        let mut total = crate::tsdb::DeleteReport::default();
        for matchers in &selectors {
            let r = db.delete(matchers, start, end)?;
            total.blocks += r.blocks;
            total.block_series += r.block_series;
            total.head_series += r.head_series;
        }
        Ok(total)
    })
    .await?;
    tracing::info!(
        start,
        end,
        blocks = report.blocks,
        block_series = report.block_series,
        head_series = report.head_series,
        "deleted series data"
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST|PUT /api/v1/admin/tsdb/clean_tombstones`: 204 once every block
/// with deletions has been rewritten without the deleted data.
pub async fn clean_tombstones(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.admin_api {
        return Err(disabled());
    }
    let started = std::time::Instant::now();
    let cleaned = blocking(&state.db, |db| db.clean_tombstones()).await?;
    state.telemetry.tombstone_cleanup.observe(started.elapsed().as_secs_f64());
    tracing::info!(blocks = cleaned, "cleaned tombstones");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize)]
struct SnapshotData {
    name: String,
}

/// `POST|PUT /api/v1/admin/tsdb/snapshot?skip_head=false`: a folder
/// `<storage>/snapshots/<name>` a Vigil can be started on.
pub async fn snapshot(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    if !state.admin_api {
        return Err(disabled());
    }
    let pairs = form_pairs(request).await?;
    let skip_head =
        match pairs.iter().find(|(k, _)| k == "skip_head").map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()) {
            None => false,
            Some(text) => parse_go_bool(text).ok_or_else(|| {
                ApiError::invalid_param(
                    "skip_head",
                    format!("unable to parse boolean: strconv.ParseBool: parsing {text:?}: invalid syntax"),
                )
            })?,
        };
    let name = snapshot_name(std::time::SystemTime::now(), fastrand::u64(..) >> 1);
    let dir = state.storage_path.join("snapshots").join(&name);
    let report = blocking(&state.db, move |db| db.snapshot(&dir, !skip_head)).await?;
    tracing::info!(name, blocks = report.blocks, head_samples = report.head_samples, "wrote a snapshot");
    Ok(success_json(&SnapshotData { name }))
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Prometheus's snapshot name: UTC time as `20060102T150405Z` and a random
/// positive 63-bit number in 16 hex digits.
fn snapshot_name(now: std::time::SystemTime, random: u64) -> String {
    let rfc = params::format_rfc3339(now);
    // `2026-11-25T14:00:00.123Z` → `20261125T140000Z`
    let compact: String = rfc.chars().take(19).filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    format!("{compact}Z-{random:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_and_booleans_follow_prometheus() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_615_200_123);
        assert_eq!(snapshot_name(t, 0x1234), "20261125T140000Z-0000000000001234");
        assert_eq!(snapshot_name(std::time::UNIX_EPOCH, u64::MAX >> 1), "19700101T000000Z-7fffffffffffffff");
        let table = [("true", Some(true)), ("1", Some(true)), ("F", Some(false)), ("yes", None), ("", None)];
        for (text, expected) in table {
            assert_eq!(parse_go_bool(text), expected, "{text}");
        }
    }
}
