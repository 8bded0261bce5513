//! Template variables: the variable bar above a dashboard and the API
//! calls behind each variable's options.
//!
//! Query variables ask the Prometheus API (`label_values(metric, label)`
//! and `label_values(label)` → `/api/v1/label/<label>/values`,
//! `query_result(expr)` → an instant query, `label_names()`), then keep
//! what the variable's regex selects; custom, interval and constant
//! variables list their own values. The selection lives in the URL as
//! `var-<name>` (repeated for multi-value), the saved `current` being the
//! default; `$__all` stands for "All".

use std::collections::HashMap;

use leptos::prelude::*;
use regex::Regex;
use vigil_shared::model::api::QueryData;

use crate::api;
use vigil_shared::dashboard::model::{Variable, VariableKind};

use crate::standin::dashboard::{ALL, Selection, VariableQuery, interpolate, parse_variable_query};

/// A variable with its options, as the page holds it.
#[derive(Debug, Clone)]
pub struct VarState {
    pub var: Variable,
    pub options: RwSignal<Vec<String>>,
    pub error: RwSignal<Option<String>>,
}

impl VarState {
    pub fn new(var: Variable) -> VarState {
        let options = RwSignal::new(static_options(&var));
        VarState { var, options, error: RwSignal::new(None) }
    }

    /// Whether the options come from the server.
    pub fn is_query(&self) -> bool {
        matches!(self.var.kind, VariableKind::Query)
    }

    /// Grafana's `hide`: 0 shown, 1 label hidden, 2 hidden.
    pub fn hide(&self) -> u64 {
        self.var.extra.get("hide").and_then(serde_json::Value::as_u64).unwrap_or(0)
    }
}

/// The values of variables that list them: comma-separated, as Grafana
/// writes custom and interval variables (`a,b , c`).
pub fn static_options(var: &Variable) -> Vec<String> {
    let split = |q: &str| q.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<String>>();
    match &var.kind {
        // Custom values may be `text : value`; the value is what queries get.
        VariableKind::Custom => split(&var.query)
            .into_iter()
            .map(|v: String| v.rsplit_once(" : ").map_or(v.clone(), |(_, value)| value.trim().to_owned()))
            .collect(),
        VariableKind::Interval => split(&var.query),
        VariableKind::Constant | VariableKind::Textbox => vec![var.query.clone()],
        _ => Vec::new(),
    }
}

/// Grafana's variable regex: `/pattern/flags`; with a capture group the
/// option is the group's text, else the whole value; unmatched values go.
pub fn apply_regex(values: Vec<String>, regex: &str) -> Result<Vec<String>, String> {
    let regex = regex.trim();
    if regex.is_empty() {
        return Ok(values);
    }
    let (pattern, flags) = match regex.strip_prefix('/').and_then(|r| r.rsplit_once('/')) {
        Some((pattern, flags)) => (pattern, flags),
        None => (regex, ""),
    };
    let pattern = if flags.contains('i') { format!("(?i){pattern}") } else { pattern.to_owned() };
    let re = Regex::new(&pattern).map_err(|e| format!("invalid variable regex {regex}: {e}"))?;
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let Some(caps) = re.captures(&value) else { continue };
        let picked = caps
            .name("value")
            .or_else(|| caps.name("text"))
            .or_else(|| caps.get(1))
            .or_else(|| caps.get(0))
            .map_or_else(String::new, |m| m.as_str().to_owned());
        if !out.contains(&picked) {
            out.push(picked);
        }
    }
    Ok(out)
}

/// A `query_result` row as Grafana writes it: `name{labels} value timestamp`.
fn result_rows(data: QueryData) -> Vec<String> {
    match data {
        QueryData::Vector(series) => series
            .into_iter()
            .map(|s| {
                let labels = s.metric.without_metric_name();
                let name = s.metric.metric_name().unwrap_or_default().to_owned();
                let value = vigil_shared::model::api::format_value(s.value.value);
                let labels = if labels.is_empty() { String::new() } else { labels.to_string() };
                format!("{name}{labels} {value} {}", s.value.timestamp_ms)
            })
            .collect(),
        QueryData::Scalar(p) => vec![format!("{} {}", vigil_shared::model::api::format_value(p.value), p.timestamp_ms)],
        QueryData::String(s) => vec![s.value],
        QueryData::Matrix(_) => Vec::new(),
    }
}

/// Loads a query variable's options; other variables are interpolated
/// into its query first (chained variables).
pub async fn load_options(
    var: &Variable,
    vars: &HashMap<String, Selection>,
    start: i64,
    end: i64,
) -> Result<Vec<String>, String> {
    if var.kind != VariableKind::Query {
        return Ok(static_options(var));
    }
    let regex = &var.regex;
    let query = interpolate(&var.query, vars);
    let values = match parse_variable_query(&query) {
        Some(VariableQuery::LabelValues { metric, label }) => {
            api::label_values(&label, metric.as_deref(), start, end).await?
        }
        Some(VariableQuery::QueryResult(expr)) => result_rows(api::instant_query(&expr, end).await?),
        Some(VariableQuery::LabelNames) => api::label_names(start, end).await?,
        Some(VariableQuery::Metrics(re)) => {
            let names = api::label_values("__name__", None, start, end).await?;
            apply_regex(names, &re)?
        }
        None => return Err(format!("unsupported variable query {query:?}")),
    };
    apply_regex(values, regex)
}

/// The selection of `var`: from the URL, else the saved one if still
/// offered, else the first option (All when that is allowed and nothing
/// else is known).
pub fn selected(var: &Variable, options: &[String], from_url: Option<Vec<String>>) -> Vec<String> {
    if let Some(values) = from_url.filter(|v| !v.is_empty()) {
        return values;
    }
    let valid = |v: &String| v == ALL || options.is_empty() || options.contains(v);
    let current = var.current.as_ref().map(|c| c.value.clone()).unwrap_or_default();
    if !current.is_empty() && current.iter().all(valid) {
        return current;
    }
    match options.first() {
        Some(first) => vec![first.clone()],
        None if var.include_all => vec![ALL.to_owned()],
        None => Vec::new(),
    }
}

/// A new pick of a multi-value variable as Grafana treats it: choosing All
/// clears the rest, choosing a value while All was on clears All, and
/// clearing everything falls back to All (when offered).
pub fn normalise_pick(previous: &[String], picked: Vec<String>, include_all: bool) -> Vec<String> {
    let had_all = previous.iter().any(|v| v == ALL);
    let has_all = picked.iter().any(|v| v == ALL);
    if has_all && (!had_all || picked.len() == 1) {
        return vec![ALL.to_owned()];
    }
    let values: Vec<String> = picked.into_iter().filter(|v| v != ALL).collect();
    if values.is_empty() && include_all { vec![ALL.to_owned()] } else { values }
}

/// What `$var` becomes in queries: All expands to every option (or the
/// variable's custom all value, used as written).
pub fn selection_for(var: &Variable, options: &[String], values: &[String]) -> Selection {
    let as_regex = var.multi || var.include_all;
    if values.iter().any(|v| v == ALL) {
        if let Some(all) = &var.all_value {
            return Selection { values: vec![all.clone()], as_regex: false };
        }
        return Selection { values: options.to_vec(), as_regex: true };
    }
    Selection { values: values.to_vec(), as_regex }
}

#[component]
pub fn VariableBar(
    vars: Vec<VarState>,
    /// Selected values by variable name (`$__all` for All).
    selection: Signal<HashMap<String, Vec<String>>>,
    on_change: Callback<(String, Vec<String>)>,
) -> impl IntoView {
    let shown: Vec<VarState> = vars.into_iter().filter(|v| v.hide() < 2).collect();
    if shown.is_empty() {
        return None;
    }
    Some(view! {
        <div class="variable-bar">
            {shown
                .into_iter()
                .map(|state| {
                    let name = state.var.name.clone();
                    let label = state.var.label.clone().filter(|l| !l.is_empty()).unwrap_or_else(|| name.clone());
                    let show_label = state.hide() == 0;
                    let multi = state.var.multi;
                    let include_all = state.var.include_all;
                    let options = state.options;
                    let error = state.error;
                    let key = name.clone();
                    let current = move || selection.with(|s| s.get(&key).cloned().unwrap_or_default());
                    let change_name = name.clone();
                    let previous = current.clone();
                    view! {
                        <label class="variable" data-variable=name.clone()>
                            {show_label.then(|| view! { <span class="variable-label">{label}</span> })}
                            <select
                                id=format!("var-{name}")
                                multiple=multi
                                on:change=move |ev| {
                                    let select = event_target::<web_sys::HtmlSelectElement>(&ev);
                                    let picked = normalise_pick(&previous(), selected_values(&select), include_all);
                                    on_change.run((change_name.clone(), picked));
                                }
                            >
                                {move || {
                                    let current = current();
                                    let mut all = Vec::new();
                                    if include_all {
                                        all.push((ALL.to_owned(), "All".to_owned()));
                                    }
                                    all.extend(options.get().into_iter().map(|o| (o.clone(), o)));
                                    all.into_iter()
                                        .map(|(value, text)| {
                                            let is_selected = current.contains(&value);
                                            view! { <option value=value selected=is_selected>{text}</option> }
                                        })
                                        .collect_view()
                                }}
                            </select>
                            {move || error.get().map(|e| view! { <span class="variable-error" title=e.clone()>"⚠"</span> })}
                        </label>
                    }
                })
                .collect_view()}
        </div>
    })
}

/// The selected option values of a `<select>`, single or multiple.
fn selected_values(select: &web_sys::HtmlSelectElement) -> Vec<String> {
    let options = select.selected_options();
    (0..options.length())
        .filter_map(|i| options.item(i))
        .filter_map(|o| o.get_attribute("value"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn regex_filters_and_captures() {
        let values = || vec!["node-1:9100".to_owned(), "node-2:9100".to_owned(), "db:5432".to_owned()];
        let cases: &[(&str, &[&str])] = &[
            ("", &["node-1:9100", "node-2:9100", "db:5432"]),
            ("/node/", &["node-1:9100", "node-2:9100"]),
            ("/([^:]+):9100/", &["node-1", "node-2"]),
            ("/(?<value>[^:]+):.*/", &["node-1", "node-2", "db"]),
            ("/NODE/i", &["node-1:9100", "node-2:9100"]),
        ];
        for (regex, want) in cases {
            assert_eq!(apply_regex(values(), regex).ok(), Some(want.iter().map(|s| (*s).to_owned()).collect()), "{regex}");
        }
        assert!(apply_regex(values(), "/(/").is_err());
    }

    #[wasm_bindgen_test]
    fn picks_follow_grafanas_all_rules() {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cases: &[(&[&str], &[&str], bool, &[&str])] = &[
            (&[ALL], &[ALL, "a"], true, &["a"]),
            (&["a"], &["a", ALL], true, &[ALL]),
            (&["a"], &["a", "b"], true, &["a", "b"]),
            (&["a"], &[], true, &[ALL]),
            (&["a"], &[], false, &[]),
            (&[ALL], &[ALL], true, &[ALL]),
        ];
        for (previous, picked, include_all, want) in cases {
            assert_eq!(normalise_pick(&v(previous), v(picked), *include_all), v(want), "{previous:?} → {picked:?}");
        }
    }
}
