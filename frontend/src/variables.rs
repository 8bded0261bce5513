//! Template variables: the variable bar above a dashboard and the API
//! calls behind each variable's options.
//!
//! Query variables ask the Prometheus API (`label_values(metric, label)`
//! and `label_values(label)` → `/api/v1/label/<label>/values`,
//! `query_result(expr)` → an instant query, `label_names()`, `metrics()`,
//! any other expression → `/api/v1/series`); what a query means, the regex
//! filter, sorting, the selection and interpolation are
//! `shared::dashboard::variables`'. The selection lives in the URL as
//! `var-<name>` (repeated for multi-value), the saved `current` being the
//! default; `$__all` stands for "All".

use leptos::prelude::*;
use vigil_shared::dashboard::model::{Variable, VariableKind, VariableOption};
use vigil_shared::dashboard::variables::{
    ALL_VALUE, Format, ResolvedVariable, Scope, VariableQuery, custom_options, interval_options, options_from_values,
    parse_variable_query, query_result_text,
};
use vigil_shared::model::api::{QueryData, format_value};

use crate::api;

/// A variable with its options, as the page holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct VarState {
    pub var: Variable,
    pub options: RwSignal<Vec<VariableOption>>,
    pub error: RwSignal<Option<String>>,
}

impl VarState {
    pub fn new(var: Variable) -> VarState {
        VarState { var, options: RwSignal::new(Vec::new()), error: RwSignal::new(None) }
    }

    /// Whether the options depend on the server or the range.
    pub fn is_loaded(&self) -> bool {
        !matches!(self.var.kind, VariableKind::Constant | VariableKind::Textbox | VariableKind::Other(_))
    }

    /// Grafana's `hide`: 0 shown, 1 label hidden, 2 hidden.
    pub fn hide(&self) -> u8 {
        self.var.hide()
    }
}

/// `query_result` rows as Grafana writes them.
fn result_rows(data: QueryData) -> Vec<String> {
    match data {
        QueryData::Vector(series) => series
            .into_iter()
            .map(|s| {
                let labels: Vec<(String, String)> =
                    s.metric.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                query_result_text(&labels, &format_value(s.value.value), s.value.timestamp_ms as f64 / 1000.0)
            })
            .collect(),
        QueryData::Scalar(p) => {
            vec![query_result_text(&[], &format_value(p.value), p.timestamp_ms as f64 / 1000.0)]
        }
        QueryData::String(s) => vec![s.value],
        QueryData::Matrix(_) => Vec::new(),
    }
}

/// A variable's options: query variables ask the Prometheus API (other
/// variables interpolated into the query first, for chained variables);
/// custom and interval variables list their own.
pub async fn load_options(
    state: &VarState,
    vars: &[ResolvedVariable],
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<VariableOption>, String> {
    let var = &state.var;
    match var.kind {
        VariableKind::Custom => return Ok(custom_options(&var.query)),
        VariableKind::Interval => return Ok(interval_options(var, (end_ms - start_ms).max(0) as u64)),
        VariableKind::Query => {}
        _ => return Ok(Vec::new()),
    }
    let query = Scope { variables: vars, builtins: &[] }.interpolate(&var.query, Format::Prometheus);
    let (start, end) = (start_ms / 1000, end_ms / 1000);
    let values = match parse_variable_query(&var.name, &query).map_err(|e| e.to_string())? {
        VariableQuery::LabelValues { label, matcher } => {
            api::label_values(&label, matcher.as_deref(), start, end).await?
        }
        VariableQuery::LabelNames { .. } => api::label_names(start, end).await?,
        VariableQuery::Metrics { regex } => {
            let names = api::label_values("__name__", None, start, end).await?;
            let metric_options = options_from_values(&names, &format!("/{regex}/"), 0).map_err(|e| e.to_string())?;
            metric_options.into_iter().map(|o| o.value).collect()
        }
        VariableQuery::QueryResult { expr } => result_rows(api::instant_query(&expr, end).await?),
        VariableQuery::Series { expr } => {
            api::series(&expr, start, end).await?.iter().map(ToString::to_string).collect()
        }
    };
    options_from_values(&values, &var.regex, var.sort()).map_err(|e| e.to_string())
}

/// A new pick of a multi-value variable as Grafana treats it: choosing All
/// clears the rest, choosing a value while All was on clears All, and
/// clearing everything falls back to All (when offered).
pub fn normalise_pick(previous: &[String], picked: Vec<String>, include_all: bool) -> Vec<String> {
    let had_all = previous.iter().any(|v| v == ALL_VALUE);
    let has_all = picked.iter().any(|v| v == ALL_VALUE);
    if has_all && (!had_all || picked.len() == 1) {
        return vec![ALL_VALUE.to_owned()];
    }
    let values: Vec<String> = picked.into_iter().filter(|v| v != ALL_VALUE).collect();
    if values.is_empty() && include_all { vec![ALL_VALUE.to_owned()] } else { values }
}

#[component]
pub fn VariableBar(
    vars: Vec<VarState>,
    /// Every variable resolved: its options and selection (`$__all` for All).
    selection: Signal<Vec<ResolvedVariable>>,
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
                    let error = state.error;
                    let key = name.clone();
                    let resolved = move || selection.with(|s| s.iter().find(|v| v.name == key).cloned());
                    let current = {
                        let resolved = resolved.clone();
                        move || resolved().map(|r| r.selected).unwrap_or_default()
                    };
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
                                    let Some(resolved) = resolved() else { return Vec::new() };
                                    let current = resolved.selected;
                                    let mut all = Vec::new();
                                    if include_all {
                                        all.push((ALL_VALUE.to_owned(), "All".to_owned()));
                                    }
                                    all.extend(resolved.options.into_iter().map(|o| (o.value, o.text)));
                                    all.into_iter()
                                        .map(|(value, text)| {
                                            let is_selected = current.contains(&value);
                                            view! { <option value=value selected=is_selected>{text}</option> }
                                        })
                                        .collect::<Vec<_>>()
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
    (0..options.length()).filter_map(|i| options.item(i)).filter_map(|o| o.get_attribute("value")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn picks_follow_grafanas_all_rules() {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        const ALL: &str = ALL_VALUE;
        // (previous pick, new pick, include All, the normalised pick).
        type Case<'a> = (&'a [&'a str], &'a [&'a str], bool, &'a [&'a str]);
        let cases: &[Case] = &[
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
