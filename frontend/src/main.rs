//! Vigil's dashboard app: a Leptos client-side app compiled to WebAssembly
//! and served by the `vigil` binary. Every panel fetches from the Prometheus
//! HTTP API and draws in the browser.
//!
//! Architecture invariant: the app talks to the server only through the
//! Prometheus API ([`api`]) and shares its types with the server through
//! `vigil-shared`; drawing (`panels`) is pure and knows nothing of
//! the DOM beyond the canvas it is handed.

mod api;
mod explore;
mod panels;

use leptos::mount::mount_to_body;
use leptos::prelude::*;

use explore::ExploreGraph;

/// The expression shown when the URL names none.
const DEFAULT_EXPR: &str = "scrape_duration_seconds";

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(App);
}

/// A query parameter of the page URL.
fn url_param(name: &str) -> Option<String> {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
        .and_then(|params| params.get(name))
        .filter(|v| !v.trim().is_empty())
}

/// The `expr` query parameter of the page URL, so a link reopens the query.
fn expr_from_url() -> String {
    url_param("expr").unwrap_or_else(|| DEFAULT_EXPR.to_owned())
}

/// The time range from the URL's `from` (`now-5m`, as Grafana writes it),
/// in seconds; 15 minutes when absent or unreadable.
fn range_from_url() -> i64 {
    url_param("from")
        .and_then(|from| from.strip_prefix("now-").map(str::to_owned))
        .and_then(|d| vigil_shared::promql::lexer::parse_duration_ms(&d))
        .map_or(DEFAULT_RANGE_SECONDS, |ms| (ms / 1000).max(1))
}

const DEFAULT_RANGE_SECONDS: i64 = 15 * 60;

/// Keeps the URL in step with the expression (without a reload), so reload
/// and sharing the address show the same graph.
fn write_expr_to_url(expr: &str) {
    let Some(window) = web_sys::window() else { return };
    let Ok(params) = web_sys::UrlSearchParams::new() else { return };
    params.set("expr", expr);
    if let Some(from) = url_param("from") {
        params.set("from", &from);
    }
    let url = format!("?{}", String::from(params.to_string()));
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

#[component]
fn App() -> impl IntoView {
    let expr = RwSignal::new(expr_from_url());
    let draft = RwSignal::new(expr.get_untracked());
    let run = move || {
        let text = draft.get_untracked().trim().to_owned();
        write_expr_to_url(&text);
        expr.set(text);
    };
    view! {
        <header class="topbar">
            <span class="brand">"Vigil"</span>
            <span class="subtitle">"metrics · alerts · dashboards"</span>
        </header>
        <main class="content">
            <form
                class="query-bar"
                on:submit=move |ev| {
                    ev.prevent_default();
                    run();
                }
            >
                <input
                    id="expr"
                    type="text"
                    spellcheck="false"
                    autocomplete="off"
                    placeholder="PromQL expression, e.g. up"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                />
                <button type="submit">"Run"</button>
            </form>
            <ExploreGraph expr=expr.read_only() range_seconds=range_from_url() />
        </main>
    }
}
