//! Vigil's dashboard app: a Leptos client-side app compiled to WebAssembly
//! and served by the `vigil` binary. Pages (one module each under
//! [`pages`]) are routed with `leptos_router`; all HTTP is in [`api`]; panel
//! data fetching in [`fetching`]; drawing in [`panels`].
//!
//! Architecture invariant: the app talks to the server only through HTTP
//! ([`api`]) and shares its types with the server through `vigil-shared`;
//! the URL holds the navigation state (range, refresh, variables, query),
//! so reload, back and forward restore any view.

mod api;
mod edit;
mod fetching;
mod pages;
mod panels;
mod timepicker;
mod variables;

use leptos::mount::mount_to_body;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_query_map;
use leptos_router::path;

use pages::alerts::AlertsPage;
use pages::dashboard::{DashboardPage, NewDashboardPage};
use pages::explore::ExplorePage;
use pages::list::DashboardList;
use pages::rules::RulesPage;
use pages::targets::TargetsPage;

/// What every page can reach, provided as context.
#[derive(Debug, Clone, Copy)]
pub struct AppContext {
    /// The server's global scrape interval: the minimum step and the base
    /// of `$__rate_interval` (Grafana's data source setting; 15 s until read).
    pub scrape_ms: RwSignal<i64>,
    pub theme: RwSignal<Theme>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Dark,
    Light,
}

impl Theme {
    fn name(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
        }
    }
}

const THEME_KEY: &str = "vigil-theme";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The saved theme; dark unless the user chose light.
fn saved_theme() -> Theme {
    match local_storage().and_then(|s| s.get_item(THEME_KEY).ok().flatten()).as_deref() {
        Some("light") => Theme::Light,
        _ => Theme::Dark,
    }
}

// The wasm tests (here and in `panels`) run in headless Chromium.
#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let ctx = AppContext { scrape_ms: RwSignal::new(15_000), theme: RwSignal::new(saved_theme()) };
    provide_context(ctx);
    spawn_local(async move {
        if let Some(ms) = api::scrape_interval_ms().await.filter(|ms| *ms > 0) {
            ctx.scrape_ms.set(ms);
        }
    });
    // The theme is an attribute on <html>, so the CSS variables switch at once.
    Effect::new(move |_| {
        let theme = ctx.theme.get();
        if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
            let _ = root.set_attribute("data-theme", theme.name());
        }
        if let Some(storage) = local_storage() {
            let _ = storage.set_item(THEME_KEY, theme.name());
        }
    });
    view! {
        <Router>
            <header class="topbar">
                <a class="brand" href="/">"Vigil"</a>
                <nav class="nav">
                    <a href="/dashboards" id="nav-dashboards">"Dashboards"</a>
                    <a href="/explore" id="nav-explore">"Explore"</a>
                    <a href="/alerts" id="nav-alerts">"Alerts"</a>
                    <a href="/rules" id="nav-rules">"Rules"</a>
                    <a href="/targets" id="nav-targets">"Targets"</a>
                </nav>
                <button
                    id="theme-toggle"
                    class="theme-toggle"
                    title="Switch between dark and light"
                    on:click=move |_| {
                        ctx.theme.update(|t| *t = if *t == Theme::Dark { Theme::Light } else { Theme::Dark })
                    }
                >
                    {move || if ctx.theme.get() == Theme::Dark { "☀ Light" } else { "☾ Dark" }}
                </button>
            </header>
            <main class="content">
                <Routes fallback=|| view! { <div class="page-error" id="page-error">"Page not found."</div> }>
                    <Route path=path!("/") view=Home />
                    <Route path=path!("/dashboards") view=DashboardList />
                    <Route path=path!("/dashboard/new") view=NewDashboardPage />
                    <Route path=path!("/dashboard/import") view=pages::import::ImportPage />
                    <Route path=path!("/d/:uid") view=DashboardPage />
                    <Route path=path!("/d/:uid/:slug") view=DashboardPage />
                    <Route path=path!("/share") view=pages::share::SharePage />
                    <Route path=path!("/explore") view=ExplorePage />
                    <Route path=path!("/targets") view=TargetsPage />
                    <Route path=path!("/alerts") view=AlertsPage />
                    <Route path=path!("/rules") view=RulesPage />
                </Routes>
            </main>
        </Router>
    }
}

/// `/`: the dashboard list, or Explore for the old `/?expr=…` links.
#[component]
fn Home() -> impl IntoView {
    let query = use_query_map();
    // A memo, so other query changes do not rebuild the page.
    let explore = Memo::new(move |_| query.with(|q| q.get("expr").is_some()));
    move || {
        if explore.get() { view! { <ExplorePage /> }.into_any() } else { view! { <DashboardList /> }.into_any() }
    }
}
