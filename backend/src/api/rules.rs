//! `/api/v1/rules` and `/api/v1/alerts`, in the JSON shapes of Prometheus's
//! `web/api/v1/api.go`: groups with their rules in file order, alerting
//! rules with their active alerts, `type=alert|record`, `rule_name[]`,
//! `rule_group[]`, `file[]`, `match[]` (selectors on the rules' configured
//! labels) and `exclude_alerts` filters.

use std::collections::HashSet;
use std::time::SystemTime;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{ApiError, AppState, params, success_json};
use crate::rules::RuleKind;
use crate::rules::alert::Alert;
use crate::rules::template::go_float;

type PairParams = Result<Form<Vec<(String, String)>>, FormRejection>;

/// A float as Go's JSON encoder writes it: whole numbers without `.0`.
fn number(v: f64) -> Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 { Value::from(v as i64) } else { Value::from(v) }
}

fn time(t: Option<SystemTime>) -> Value {
    Value::from(t.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), params::format_rfc3339))
}

fn time_ms(ms: i64) -> Value {
    time(Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64)))
}

fn string_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(pairs.map(|(k, v)| (k.to_owned(), Value::from(v))).collect::<Map<_, _>>())
}

fn alert_json(a: &Alert) -> Value {
    let mut out = json!({
        "labels": a.labels,
        "annotations": string_map(a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        "state": a.state.as_str(),
        "activeAt": time_ms(a.active_at_ms),
        "value": go_float(a.value, 'e', None),
    });
    if let Some(since) = a.keep_firing_since_ms {
        out["keepFiringSince"] = time_ms(since);
    }
    out
}

/// `/api/v1/rules`.
pub async fn rules(State(state): State<AppState>, params: PairParams) -> Result<Response, ApiError> {
    let Form(pairs) = params?;
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.to_lowercase()).unwrap_or_default();
    let set =
        |name: &str| -> HashSet<&str> { pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect() };
    let kind = get("type");
    if !matches!(kind.as_str(), "" | "alert" | "record") {
        return Err(ApiError::bad_data(format!("invalid parameter \"type\": not supported value {kind:?}")));
    }
    let exclude_alerts = match get("exclude_alerts").as_str() {
        "" | "false" | "0" | "f" => false,
        "true" | "1" | "t" => true,
        other => {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"exclude_alerts\": error converting exclude_alerts: strconv.ParseBool: parsing {other:?}: invalid syntax"
            )));
        }
    };
    let (names, groups, files) = (set("rule_name[]"), set("rule_group[]"), set("file[]"));
    let selectors = super::series::match_sets(&pairs)?;
    let mut out = Vec::new();
    for group in state.rules.groups() {
        if (!groups.is_empty() && !groups.contains(group.name.as_str()))
            || (!files.is_empty() && !files.contains(group.file.as_str()))
        {
            continue;
        }
        let mut rules = Vec::new();
        for rule in &group.rules {
            if !names.is_empty() && !names.contains(rule.def.name()) {
                continue;
            }
            // As Prometheus's `matchesMatcherSets`: any set whose matchers all
            // match the rule's configured labels (absent labels are empty).
            let label = |name: &str| rule.def.labels.get(name).map_or("", String::as_str);
            if !selectors.is_empty() && !selectors.iter().any(|set| set.iter().all(|m| m.matches(label(&m.name)))) {
                continue;
            }
            let status = rule.status();
            let labels = string_map(rule.def.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let mut entry = match &rule.def.kind {
                RuleKind::Alerting { alert, hold, keep_firing_for, annotations } => {
                    if kind == "record" {
                        continue;
                    }
                    let alerts =
                        if exclude_alerts { Value::Null } else { status.alerts.iter().map(alert_json).collect() };
                    json!({
                        "state": status.state.map_or("unknown", |s| s.as_str()),
                        "name": alert,
                        "query": rule.def.expr.to_string(),
                        "duration": number(hold.as_secs_f64()),
                        "keepFiringFor": number(keep_firing_for.as_secs_f64()),
                        "labels": labels,
                        "annotations": string_map(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                        "alerts": alerts,
                        "health": status.health.as_str(),
                    })
                }
                RuleKind::Recording { record } => {
                    if kind == "alert" {
                        continue;
                    }
                    json!({
                        "name": record,
                        "query": rule.def.expr.to_string(),
                        "labels": labels,
                        "health": status.health.as_str(),
                    })
                }
            };
            if let Some(e) = &status.last_error {
                entry["lastError"] = Value::from(e.as_str());
            }
            entry["evaluationTime"] = number(status.evaluation_time.as_secs_f64());
            entry["lastEvaluation"] = time(status.last_evaluation);
            entry["type"] =
                Value::from(if matches!(rule.def.kind, RuleKind::Alerting { .. }) { "alerting" } else { "recording" });
            rules.push(entry);
        }
        if rules.is_empty() {
            continue;
        }
        out.push(json!({
            "name": group.name,
            "file": group.file,
            "rules": rules,
            "interval": number(group.interval.as_secs_f64()),
            "limit": group.limit,
            "evaluationTime": number(group.evaluation_time().as_secs_f64()),
            "lastEvaluation": time(group.last_evaluation()),
        }));
    }
    Ok(success_json(&json!({ "groups": out })))
}

/// `/api/v1/alerts`: every pending or firing alert.
pub async fn alerts(State(state): State<AppState>) -> Response {
    let alerts: Vec<Value> = state
        .rules
        .groups()
        .iter()
        .flat_map(|g| g.rules.iter())
        .filter(|r| matches!(r.def.kind, RuleKind::Alerting { .. }))
        .flat_map(|r| r.status().alerts)
        .map(|a| alert_json(&a))
        .collect();
    success_json(&json!({ "alerts": alerts }))
}
