//! Rules (`/rules`): the rule groups of `/api/v1/rules`, each rule with its
//! query, health, state and last error.

use leptos::prelude::*;
use serde_json::Value as Json;

use super::alerts::labels_text;
use crate::api;

fn field(value: &Json, key: &str) -> String {
    match value.get(key) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[component]
pub fn RulesPage() -> impl IntoView {
    let rules = LocalResource::new(api::rules);
    view! {
        <div class="page rules">
            <h1>"Rules"</h1>
            {move || match rules.get() {
                None => view! { <p class="page-loading">"Loading rules…"</p> }.into_any(),
                Some(Err(e)) => view! { <div class="page-error">{format!("Cannot list rules: {e}")}</div> }.into_any(),
                Some(Ok(data)) => {
                    let groups: Vec<Json> = data.get("groups").and_then(Json::as_array).cloned().unwrap_or_default();
                    if groups.is_empty() {
                        return view! { <p class="empty">"No rule groups."</p> }.into_any();
                    }
                    groups
                        .into_iter()
                        .map(|g| {
                            let rules: Vec<Json> = g.get("rules").and_then(Json::as_array).cloned().unwrap_or_default();
                            view! {
                                <section class="rule-group">
                                    <h2>{field(&g, "name")} <span class="muted">{format!(" {} · every {}s", field(&g, "file"), field(&g, "interval"))}</span></h2>
                                    <table class="data-table">
                                        <thead>
                                            <tr>
                                                <th>"Rule"</th>
                                                <th>"Query"</th>
                                                <th>"Labels"</th>
                                                <th>"Health"</th>
                                                <th>"State"</th>
                                                <th>"Error"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {rules
                                                .into_iter()
                                                .map(|r| {
                                                    let health = field(&r, "health");
                                                    view! {
                                                        <tr class="rule" data-type=field(&r, "type")>
                                                            <td class="mono">{field(&r, "name")}</td>
                                                            <td class="mono">{field(&r, "query")}</td>
                                                            <td class="mono">{labels_text(&r["labels"])}</td>
                                                            <td><span class=format!("health health-{health}")>{health.clone()}</span></td>
                                                            <td>{field(&r, "state")}</td>
                                                            <td class="error-text">{field(&r, "lastError")}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </section>
                            }
                        })
                        .collect_view()
                        .into_any()
                }
            }}
        </div>
    }
}
