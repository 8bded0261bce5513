//! Alerts (`/alerts`): the active alerts of `/api/v1/alerts`, firing
//! first, with their labels, annotations, value and since when.

use leptos::prelude::*;
use serde_json::Value as Json;

use crate::api;

/// The `{k="v", …}` text of a JSON label object.
pub fn labels_text(labels: &Json) -> String {
    let Some(map) = labels.as_object() else { return String::new() };
    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or_default())).collect();
    format!("{{{}}}", parts.join(", "))
}

fn field(value: &Json, key: &str) -> String {
    value.get(key).and_then(Json::as_str).unwrap_or_default().to_owned()
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let alerts = LocalResource::new(api::alerts);
    view! {
        <div class="page alerts">
            <h1>"Alerts"</h1>
            {move || match alerts.get() {
                None => view! { <p class="page-loading">"Loading alerts…"</p> }.into_any(),
                Some(Err(e)) => view! { <div class="page-error">{format!("Cannot list alerts: {e}")}</div> }.into_any(),
                Some(Ok(data)) => {
                    let mut list: Vec<Json> = data.get("alerts").and_then(Json::as_array).cloned().unwrap_or_default();
                    if list.is_empty() {
                        return view! { <p class="empty">"No active alerts."</p> }.into_any();
                    }
                    list.sort_by_key(|a| (field(a, "state") != "firing", labels_text(&a["labels"])));
                    view! {
                        <table class="data-table" id="alerts-table">
                            <thead>
                                <tr>
                                    <th>"State"</th>
                                    <th>"Labels"</th>
                                    <th>"Annotations"</th>
                                    <th>"Active since"</th>
                                    <th>"Value"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list
                                    .into_iter()
                                    .map(|a| {
                                        let state = field(&a, "state");
                                        view! {
                                            <tr class="alert" data-state=state.clone()>
                                                <td><span class=format!("health alert-{state}")>{state.to_uppercase()}</span></td>
                                                <td class="mono">{labels_text(&a["labels"])}</td>
                                                <td>{labels_text(&a["annotations"])}</td>
                                                <td>{field(&a, "activeAt")}</td>
                                                <td class="num mono">{field(&a, "value")}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}
