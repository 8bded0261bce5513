//! A share link (`/share#v1.…`): the whole dashboard, time range and
//! variable values come from the URL fragment, decoded by the shared codec,
//! so the page works in a browser and against a server that have never seen
//! the dashboard. It is shown read-only through the dashboard page's view;
//! "Save a copy" stores it as a new dashboard (without its uid and id, so it
//! can never overwrite the original) and opens the copy.
//!
//! A damaged, truncated or oversize link gets the codec's message, which
//! says what went wrong and what to do. Nothing from the link is ever
//! inserted as HTML: titles and text go through the same escaping views as
//! any stored dashboard.

use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_shared::dashboard::model::VariableCurrent;
use vigil_shared::dashboard::share::{SharedView, decode};
use vigil_shared::dashboard::{Dashboard, time::describe_range};

use super::dashboard::{DashboardView, ensure_panel_ids};

/// The link's view, with the time range and selections written into the
/// dashboard so the dashboard view opens on them.
fn opened(hash: &str) -> Result<Dashboard, String> {
    let SharedView { mut dashboard, time, vars } = decode(hash.trim_start_matches('#')).map_err(|e| e.to_string())?;
    dashboard.time = time;
    for (name, values) in vars {
        if let Some(var) = dashboard.templating.list.iter_mut().find(|v| v.name == name) {
            var.current = Some(VariableCurrent { text: values.clone(), value: values, ..Default::default() });
        }
    }
    ensure_panel_ids(&mut dashboard);
    Ok(dashboard)
}

#[component]
pub fn SharePage() -> impl IntoView {
    let hash = window().location().hash().unwrap_or_default();
    match opened(&hash) {
        Err(e) => view! {
            <div class="page-error" id="share-error">
                <strong>"Cannot open this share link. "</strong>
                {e}
            </div>
        }
        .into_any(),
        Ok(dashboard) => {
            let range = describe_range(&dashboard.time);
            let copy = dashboard.clone();
            let status = RwSignal::new(None::<String>);
            let save = move |_| {
                let copy = copy.clone();
                status.set(Some("Saving…".into()));
                spawn_local(async move {
                    match save_copy(copy).await {
                        Ok(url) => {
                            let _ = window().location().set_href(&url);
                        }
                        Err(e) => status.set(Some(format!("Cannot save a copy: {e}"))),
                    }
                });
            };
            view! {
                <div class="share-banner" id="share-banner">
                    <span>"Shared dashboard (read-only), "</span>
                    <span id="share-range">{range}</span>
                    <button id="share-save" on:click=save>"Save a copy"</button>
                    <span id="share-status">{move || status.get()}</span>
                </div>
                <DashboardView dashboard=dashboard />
            }
            .into_any()
        }
    }
}

/// POSTs the dashboard as a new one and returns the copy's address.
async fn save_copy(mut dashboard: Dashboard) -> Result<String, String> {
    dashboard.uid = None;
    dashboard.id = None;
    dashboard.extra.remove("version");
    let saved = crate::api::save_dashboard(&dashboard, None, "Saved from a share link").await.map_err(|e| e.message)?;
    Ok(if saved.url.is_empty() { format!("/d/{}", saved.uid) } else { saved.url })
}
