//! Alertmanager's API v2, served by Vigil when the built-in Alertmanager
//! runs, so `amtool` and anything else speaking it work against Vigil:
//! `/api/v2/alerts` (GET, POST), `/api/v2/alerts/groups`,
//! `/api/v2/silences` (GET, POST), `/api/v2/silence/{id}` (GET, DELETE),
//! `/api/v2/status` and `/api/v2/receivers`.
//!
//! Shapes follow Alertmanager's OpenAPI spec (`api/v2/openapi.yaml`);
//! `amtool` validates required fields, so every required one is present.
//! Errors are a JSON string with the status code, as Alertmanager answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::alerting::Alertmanager;
use crate::alerting::dispatch::AmAlert;
use crate::alerting::matchers::{Matcher, all_match, parse_matchers};
use crate::alerting::notify::go_time;
use crate::alerting::silences::{Silence, SilenceError, SilenceMatcher};

/// An error answer: a status code and a message, sent as a JSON string.
pub(super) struct AmError(StatusCode, String);

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        (self.0, Json(Value::String(self.1))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> AmError {
    AmError(status, message.into())
}

pub(super) type Answer = Result<Response, AmError>;

fn builtin(state: &AppState) -> Result<Arc<Alertmanager>, AmError> {
    state.alertmanager.clone().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "the built-in Alertmanager is not running (start Vigil with --alertmanager.config.file)",
        )
    })
}

/// Query parameters in order, repeated keys kept (`filter` may repeat).
fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    let Some(raw) = raw else { return Vec::new() };
    match reqwest::Url::parse(&format!("http://x/?{raw}")) {
        Ok(url) => url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        Err(_) => Vec::new(),
    }
}

fn bool_param(pairs: &[(String, String)], name: &str, default: bool) -> Result<bool, AmError> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => match v.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(error(StatusCode::BAD_REQUEST, format!("{name} in query must be of type boolean: {other:?}"))),
        },
    }
}

fn filters(pairs: &[(String, String)]) -> Result<Vec<Matcher>, AmError> {
    let mut out = Vec::new();
    for (_, text) in pairs.iter().filter(|(k, _)| k == "filter") {
        out.extend(
            parse_matchers(text).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad matcher format: {e}")))?,
        );
    }
    Ok(out)
}

/// Parses an RFC 3339 time as the API gives it.
fn parse_time(text: &str) -> Option<i64> {
    super::params::parse_time(text).ok()
}

/// A `GettableAlert`.
fn gettable(am: &Alertmanager, alert: &AmAlert) -> Value {
    let status = am.status_of(&alert.labels);
    let state = if status.silenced_by.is_empty() && !status.inhibited { "active" } else { "suppressed" };
    json!({
        "annotations": alert.annotations,
        "endsAt": go_time(alert.ends_at_ms),
        "fingerprint": format!("{:016x}", alert.fingerprint()),
        "receivers": status.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": go_time(alert.starts_at_ms),
        "status": {
            "inhibitedBy": if status.inhibited { vec!["inhibit rule"] } else { Vec::new() },
            "silencedBy": status.silenced_by,
            "state": state,
        },
        "updatedAt": go_time(alert.updated_at_ms),
        "generatorURL": alert.generator_url,
        "labels": alert.labels,
    })
}

/// Whether an alert passes the `active`/`silenced`/`inhibited` and
/// `filter` parameters of the alert listings.
fn listed(
    am: &Alertmanager,
    alert: &AmAlert,
    now: i64,
    pairs: &[(String, String)],
    matchers: &[Matcher],
) -> Result<bool, AmError> {
    if alert.resolved_at(now) || !all_match(matchers, &alert.labels) {
        return Ok(false);
    }
    let status = am.status_of(&alert.labels);
    let silenced = !status.silenced_by.is_empty();
    let active = !silenced && !status.inhibited;
    Ok((bool_param(pairs, "active", true)? || !active)
        && (bool_param(pairs, "silenced", true)? || !silenced)
        && (bool_param(pairs, "inhibited", true)? || !status.inhibited))
}

pub(super) async fn get_alerts(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let am = builtin(&state)?;
    let pairs = query_pairs(raw);
    let matchers = filters(&pairs)?;
    let now = am.now_ms();
    let receiver = pairs.iter().find(|(k, _)| k == "receiver").map(|(_, v)| v.clone());
    let receiver_re = match receiver.as_deref().map(|r| regex::Regex::new(&format!("^(?:{r})$"))) {
        Some(Err(e)) => return Err(error(StatusCode::BAD_REQUEST, format!("failed to parse receiver param: {e}"))),
        Some(Ok(re)) => Some(re),
        None => None,
    };
    let mut out = Vec::new();
    for alert in am.alerts() {
        match listed(&am, &alert, now, &pairs, &matchers) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(r) => return Err(r),
        }
        let value = gettable(&am, &alert);
        if let Some(re) = &receiver_re {
            let names = value["receivers"].as_array().cloned().unwrap_or_default();
            if !names.iter().any(|n| n["name"].as_str().is_some_and(|n| re.is_match(n))) {
                continue;
            }
        }
        out.push(value);
    }
    Ok(Json(Value::Array(out)).into_response())
}

/// A `PostableAlert`.
#[derive(Debug, Deserialize)]
pub(super) struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default, rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(default, rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) async fn post_alerts(State(state): State<AppState>, body: String) -> Answer {
    let am = builtin(&state)?;
    let alerts: Vec<PostableAlert> = match serde_json::from_str(&body) {
        Ok(a) => a,
        Err(e) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("invalid alerts at line {} column {}: {e}", e.line(), e.column()),
            ));
        }
    };
    let mut out = Vec::with_capacity(alerts.len());
    for (i, a) in alerts.into_iter().enumerate() {
        let time = |t: &Option<String>, what: &str| -> Result<i64, AmError> {
            match t
                .as_deref()
                .filter(|t| !t.is_empty() && *t != "0001-01-01T00:00:00.000Z" && *t != "0001-01-01T00:00:00Z")
            {
                None => Ok(0),
                Some(text) => parse_time(text)
                    .ok_or_else(|| error(StatusCode::BAD_REQUEST, format!("alert {i}: invalid {what} {text:?}"))),
            }
        };
        let starts = match time(&a.starts_at, "startsAt") {
            Ok(t) => t,
            Err(r) => return Err(r),
        };
        let ends = match time(&a.ends_at, "endsAt") {
            Ok(t) => t,
            Err(r) => return Err(r),
        };
        if a.labels.is_empty() {
            return Err(error(StatusCode::BAD_REQUEST, format!("alert {i}: at least one label pair required")));
        }
        if let Some(bad) = a.labels.keys().find(|k| !is_label_name(k)) {
            return Err(error(StatusCode::BAD_REQUEST, format!("alert {i}: invalid label name {bad:?}")));
        }
        if starts != 0 && ends != 0 && ends < starts {
            return Err(error(StatusCode::BAD_REQUEST, format!("alert {i}: start time must be before end time")));
        }
        out.push(crate::notifier::Alert {
            labels: a.labels,
            annotations: a.annotations,
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: a.generator_url,
        });
    }
    am.put(out);
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn alert_groups(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let am = builtin(&state)?;
    let pairs = query_pairs(raw);
    let matchers = filters(&pairs)?;
    let now = am.now_ms();
    let mut out = Vec::new();
    for group in am.groups() {
        let (receiver, labels, alerts) = (group.receiver, group.labels, group.alerts);
        let mut listed_alerts = Vec::new();
        for alert in &alerts {
            match listed(&am, alert, now, &pairs, &matchers) {
                Ok(true) => listed_alerts.push(gettable(&am, alert)),
                Ok(false) => {}
                Err(r) => return Err(r),
            }
        }
        if listed_alerts.is_empty() {
            continue;
        }
        out.push(json!({"labels": labels, "receiver": {"name": receiver}, "alerts": listed_alerts}));
    }
    Ok(Json(Value::Array(out)).into_response())
}

/// A `GettableSilence`.
fn gettable_silence(silence: &Silence, now: i64) -> Value {
    json!({
        "id": silence.id,
        "status": {"state": silence.state(now).as_str()},
        "updatedAt": go_time(silence.updated_at_ms),
        "matchers": silence.matchers,
        "startsAt": go_time(silence.starts_at_ms),
        "endsAt": go_time(silence.ends_at_ms),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    })
}

pub(super) async fn get_silences(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let am = builtin(&state)?;
    let pairs = query_pairs(raw);
    let matchers = filters(&pairs)?;
    let now = am.now_ms();
    // Alertmanager lists active, then pending, then expired silences.
    let mut silences: Vec<Silence> = am
        .silences()
        .into_iter()
        .filter(|s| {
            // A filter matcher selects silences having an equal matcher.
            matchers.iter().all(|f| {
                s.matchers.iter().any(|m| m.to_matcher().is_ok_and(|m| m.name == f.name && f.matches(&m.value)))
            })
        })
        .collect();
    let rank = |s: &Silence| match s.state(now) {
        crate::alerting::silences::SilenceState::Active => (0, s.ends_at_ms),
        crate::alerting::silences::SilenceState::Pending => (1, s.starts_at_ms),
        crate::alerting::silences::SilenceState::Expired => (2, -s.ends_at_ms),
    };
    silences.sort_by_key(rank);
    Ok(Json(Value::Array(silences.iter().map(|s| gettable_silence(s, now)).collect())).into_response())
}

/// A `PostableSilence`.
#[derive(Debug, Deserialize)]
pub(super) struct PostableSilence {
    #[serde(default)]
    id: String,
    matchers: Vec<SilenceMatcher>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "createdBy")]
    created_by: String,
    comment: String,
}

fn silence_error(e: SilenceError) -> AmError {
    let status = match e {
        SilenceError::NotFound(_) => StatusCode::NOT_FOUND,
        SilenceError::Invalid(_) => StatusCode::BAD_REQUEST,
        SilenceError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

pub(super) async fn post_silences(State(state): State<AppState>, body: String) -> Answer {
    let am = builtin(&state)?;
    let posted: PostableSilence = match serde_json::from_str(&body) {
        Ok(s) => s,
        Err(e) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("invalid silence at line {} column {}: {e}", e.line(), e.column()),
            ));
        }
    };
    let (Some(starts), Some(ends)) = (parse_time(&posted.starts_at), parse_time(&posted.ends_at)) else {
        return Err(error(StatusCode::BAD_REQUEST, "startsAt and endsAt must be RFC 3339 times"));
    };
    let silence = Silence {
        id: posted.id,
        matchers: posted.matchers,
        starts_at_ms: starts,
        ends_at_ms: ends,
        updated_at_ms: 0,
        created_by: posted.created_by,
        comment: posted.comment,
    };
    match am.set_silence(silence) {
        Ok(id) => Ok(Json(json!({"silenceID": id})).into_response()),
        Err(e) => Err(silence_error(e)),
    }
}

pub(super) async fn get_silence(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let am = builtin(&state)?;
    match am.silence(&id) {
        Some(s) => Ok(Json(gettable_silence(&s, am.now_ms())).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, format!("silence {id} not found"))),
    }
}

pub(super) async fn delete_silence(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let am = builtin(&state)?;
    match am.expire_silence(&id) {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(e) => Err(silence_error(e)),
    }
}

pub(super) async fn receivers(State(state): State<AppState>) -> Answer {
    let am = builtin(&state)?;
    let names: Vec<Value> = am.config().receivers.iter().map(|r| json!({"name": r.name})).collect();
    Ok(Json(Value::Array(names)).into_response())
}

pub(super) async fn status(State(state): State<AppState>) -> Answer {
    let am = builtin(&state)?;
    let uptime = state.status.start_time;
    Ok(Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        "config": {"original": am.config_text()},
        "uptime": super::params::format_rfc3339(uptime),
        "versionInfo": {
            "branch": "",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
            "revision": "",
            "version": env!("CARGO_PKG_VERSION"),
        },
    }))
    .into_response())
}
