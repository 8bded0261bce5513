//! A dashboard (`/d/:uid`, `/d/:uid/:slug`): loads Grafana's
//! `{dashboard, meta}` from `/api/dashboards/uid/:uid`, lays the panels out
//! on Grafana's 24-column grid (rows of 30 px, 8 px margins), with
//! collapsible rows, the time picker and the variable bar; each panel frame
//! shows its own loading indicator and error.
//!
//! The URL is the state: `from`, `to`, `refresh` and `var-*` are read from
//! it and every change pushes a history entry, so reload, back and forward
//! restore the view. Fetching is in [`crate::fetching`].

use std::collections::{HashMap, HashSet};

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{set, use_query_writer};
use crate::AppContext;
use crate::fetching::{self, PanelSlot};
use crate::panels::PanelBody;
use crate::panels::data::PanelState;
use crate::timepicker::{TimePicker, now_ms, refresh_ms, resolve};
use crate::variables::{VarState, VariableBar, load_options};
use vigil_shared::dashboard::model::TimeRange;
use vigil_shared::dashboard::variables::{Format, ResolvedVariable, Scope};
use vigil_shared::dashboard::{Dashboard, Panel};

/// Grafana's `GRID_CELL_HEIGHT` and `GRID_CELL_VMARGIN`.
pub const GRID_CELL_HEIGHT: u32 = 30;
pub const GRID_MARGIN: u32 = 8;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let params = use_params_map();
    let uid = Memo::new(move |_| params.with(|p| p.get("uid")).unwrap_or_default());
    let loaded = LocalResource::new(move || {
        let uid = uid.get();
        async move { api_dashboard(&uid).await }
    });
    move || match loaded.get() {
        None => view! { <p class="page-loading">"Loading dashboard…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <div class="page-error" id="page-error">{format!("Cannot open this dashboard: {e}")}</div> }
                .into_any()
        }
        Some(Ok(dashboard)) => view! { <DashboardView dashboard=dashboard /> }.into_any(),
    }
}

async fn api_dashboard(uid: &str) -> Result<Dashboard, String> {
    let json = crate::api::dashboard(uid).await?;
    let body = json.get("dashboard").ok_or_else(|| "the answer has no \"dashboard\"".to_owned())?;
    // The shared model reads (and normalises) what the store serves.
    let mut dashboard = Dashboard::from_json(&body.to_string()).map_err(|e| e.to_string())?;
    ensure_panel_ids(&mut dashboard);
    Ok(dashboard)
}

/// Gives every panel without an id one (old dashboards lack them): the
/// app keys panel state and DOM ids by panel id.
pub fn ensure_panel_ids(dashboard: &mut Dashboard) {
    let mut next = dashboard.all_panels().filter_map(|p| p.id).max().unwrap_or(0);
    let mut assign = |p: &mut Panel| {
        if p.id.is_none() {
            next += 1;
            p.id = Some(next);
        }
    };
    for panel in &mut dashboard.panels {
        assign(panel);
        for nested in &mut panel.panels {
            assign(nested);
        }
    }
}

/// The key of a panel's state and DOM id (see [`ensure_panel_ids`]).
pub fn panel_id(panel: &Panel) -> i64 {
    panel.id.unwrap_or(0)
}

/// Interpolates a title (text format: All shows as "All").
fn title_text(title: &str, vars: &[ResolvedVariable]) -> String {
    Scope { variables: vars, builtins: &[] }.interpolate(title, Format::Text)
}

/// Panels under one row header (or under none, before the first row).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub row: Option<Panel>,
    pub panels: Vec<Panel>,
}

/// Splits the panel list at rows: a collapsed row carries its panels
/// inside it; an expanded one owns the panels that follow it.
pub fn sections(panels: &[Panel]) -> Vec<Section> {
    let mut sorted: Vec<&Panel> = panels.iter().collect();
    sorted.sort_by_key(|p| (p.grid().y, p.grid().x));
    let mut out = vec![Section { row: None, panels: Vec::new() }];
    for panel in sorted {
        if panel.kind == "row" {
            let mut row = panel.clone();
            let nested = std::mem::take(&mut row.panels);
            out.push(Section { row: Some(row), panels: nested });
        } else if let Some(last) = out.last_mut() {
            last.panels.push(panel.clone());
        }
    }
    out.retain(|s| s.row.is_some() || !s.panels.is_empty());
    out
}

#[component]
fn DashboardView(dashboard: Dashboard) -> impl IntoView {
    let ctx = expect_context::<AppContext>();
    let query = use_query_map();
    let write = use_query_writer();

    let (default_from, default_to, default_refresh) =
        (dashboard.time.from.clone(), dashboard.time.to.clone(), dashboard.refresh.clone().unwrap_or_default());
    let range = Memo::new(move |_| {
        query.with(|q| TimeRange {
            from: q.get("from").unwrap_or_else(|| default_from.clone()),
            to: q.get("to").unwrap_or_else(|| default_to.clone()),
        })
    });
    let refresh = Memo::new(move |_| query.with(|q| q.get("refresh")).unwrap_or_else(|| default_refresh.clone()));

    // Variables: options per variable, selection from the URL.
    let var_states: Vec<VarState> = dashboard.templating.list.iter().cloned().map(VarState::new).collect();
    let states = StoredValue::new(var_states.clone());
    let url_vars = Memo::new(move |_| {
        query.with(|q| {
            states.with_value(|vs| {
                vs.iter().map(|v| (v.var.name.clone(), q.get_all(&format!("var-{}", v.var.name)))).collect::<Vec<_>>()
            })
        })
    });
    // Every variable resolved (options + selection), in order: what
    // interpolation reads.
    let interpolation = Memo::new(move |_| {
        let from_url = url_vars.get();
        states.with_value(|vs| {
            vs.iter()
                .zip(from_url)
                .map(|(v, (_, url))| ResolvedVariable::resolve(&v.var, v.options.get(), url.as_deref()))
                .collect::<Vec<_>>()
        })
    });
    // Query variables load their options on open and when another
    // variable changes (chained variables), in order, so each sees the
    // options of those before it.
    let vars_ready = RwSignal::new(!var_states.iter().any(VarState::is_loaded));
    Effect::new(move |_| {
        url_vars.track();
        let Some((from, to)) = resolve(&range.get_untracked(), now_ms()) else {
            vars_ready.set(true);
            return;
        };
        let loaded: Vec<VarState> = states.with_value(|vs| vs.iter().filter(|v| v.is_loaded()).cloned().collect());
        spawn_local(async move {
            for state in loaded {
                let vars = interpolation.get_untracked();
                match load_options(&state, &vars, from, to).await {
                    Ok(options) => {
                        state.error.set(None);
                        if state.options.get_untracked() != options {
                            state.options.set(options);
                        }
                    }
                    Err(e) => state.error.set(Some(e)),
                }
            }
            vars_ready.set(true);
        });
    });

    // Rows: which are open.
    let all_sections = sections(&dashboard.panels);
    let expanded = RwSignal::new(
        all_sections
            .iter()
            .filter_map(|s| s.row.as_ref())
            .filter(|r| !r.collapsed.unwrap_or(false))
            .map(panel_id)
            .collect::<HashSet<i64>>(),
    );
    let slots: HashMap<i64, PanelSlot> =
        all_sections.iter().flat_map(|s| s.panels.iter()).map(|p| (panel_id(p), PanelSlot::new())).collect();

    // Fetching: one cycle per change of range, variables, open rows or
    // refresh tick; a new cycle aborts the one before.
    let tick = RwSignal::new(0u64);
    let controller = StoredValue::new_local(None::<web_sys::AbortController>);
    let marked = StoredValue::new(false);
    let fetch_sections = all_sections.clone();
    let fetch_slots = slots.clone();
    Effect::new(move |_| {
        let raw = range.get();
        let vars = interpolation.get();
        let open = expanded.get();
        tick.track();
        if !vars_ready.get() {
            return;
        }
        if let Some(previous) = controller.get_value() {
            previous.abort();
        }
        let Ok(abort) = web_sys::AbortController::new() else { return };
        controller.set_value(Some(abort.clone()));
        let Some((from, to)) = resolve(&raw, now_ms()) else {
            for slot in fetch_slots.values() {
                slot.state.set(PanelState::Error(format!("invalid time range {} to {}", raw.from, raw.to)));
                slot.loading.set(false);
            }
            return;
        };
        let grid_width = grid_width();
        let visible: Vec<(Panel, u32)> = fetch_sections
            .iter()
            .filter(|s| s.row.as_ref().is_none_or(|r| open.contains(&panel_id(r))))
            .flat_map(|s| s.panels.iter())
            .map(|p| (p.clone(), grid_width * p.grid().w.clamp(1, 24) / 24))
            .collect();
        let plan = fetching::plan(&visible, from, to, &vars, ctx.scrape_ms.get_untracked());
        let slots = fetch_slots.clone();
        spawn_local(async move {
            fetching::run(plan, slots, abort.signal(), move || {
                if !marked.get_value() {
                    marked.set_value(true);
                    fetching::mark_when_drawn();
                }
            })
            .await;
        });
    });
    on_cleanup(move || {
        if let Some(c) = controller.try_get_value().flatten() {
            c.abort();
        }
    });

    // Auto-refresh: one interval at a time, cleared on change and on leave.
    let timer = StoredValue::new(None::<leptos::leptos_dom::helpers::IntervalHandle>);
    Effect::new(move |_| {
        if let Some(old) = timer.get_value() {
            old.clear();
        }
        timer.set_value(None);
        if let Some(ms) = refresh_ms(&refresh.get()) {
            let every = std::time::Duration::from_millis(ms.max(1000));
            if let Ok(handle) = set_interval_with_handle(move || tick.update(|t| *t += 1), every) {
                timer.set_value(Some(handle));
            }
        }
    });
    on_cleanup(move || {
        if let Some(handle) = timer.try_get_value().flatten() {
            handle.clear();
        }
    });

    let write_range = write.clone();
    let on_range = Callback::new(move |r: TimeRange| write_range(vec![set("from", r.from), set("to", r.to)], false));
    let write_refresh = write.clone();
    let on_refresh = Callback::new(move |r: String| {
        write_refresh(vec![("refresh".to_owned(), if r.is_empty() { Vec::new() } else { vec![r] })], false);
    });
    let on_reload = Callback::new(move |()| tick.update(|t| *t += 1));
    let write_zoom = write.clone();
    let on_zoom = Callback::new(move |(from, to): (i64, i64)| {
        write_zoom(vec![set("from", from.to_string()), set("to", to.to_string())], false);
    });
    let on_variable = Callback::new(move |(name, values): (String, Vec<String>)| {
        write(vec![(format!("var-{name}"), values)], false);
    });

    let title = dashboard.title.clone();
    let tags = dashboard.tags.clone();
    view! {
        <div class="page dashboard" data-uid=dashboard.uid.clone().unwrap_or_default()>
            <div class="dashboard-toolbar">
                <h1 class="dashboard-title">{title}</h1>
                <span class="tags">{tags.into_iter().map(|t| view! { <span class="tag-chip">{t}</span> }).collect_view()}</span>
                <TimePicker
                    range=range.into()
                    refresh=refresh.into()
                    on_range=on_range
                    on_refresh=on_refresh
                    on_reload=on_reload
                />
            </div>
            <VariableBar vars=var_states selection=interpolation.into() on_change=on_variable />
            <div id="dashboard-grid" class="dashboard-grid">
                {all_sections
                    .into_iter()
                    .map(|section| view! { <SectionView section=section expanded=expanded slots=slots.clone() vars=interpolation on_zoom=on_zoom /> })
                    .collect_view()}
            </div>
        </div>
    }
}

/// The grid's width in pixels, for the panels' widths (their default
/// `maxDataPoints`).
fn grid_width() -> u32 {
    let document = web_sys::window().and_then(|w| w.document());
    let measured = document.and_then(|d| d.get_element_by_id("dashboard-grid")).map(|e| e.client_width()).unwrap_or(0);
    if measured > 0 {
        return measured as u32;
    }
    web_sys::window().and_then(|w| w.inner_width().ok()).and_then(|w| w.as_f64()).map_or(1200, |w| w as u32)
}

#[component]
fn SectionView(
    section: Section,
    expanded: RwSignal<HashSet<i64>>,
    slots: HashMap<i64, PanelSlot>,
    vars: Memo<Vec<ResolvedVariable>>,
    on_zoom: Callback<(i64, i64)>,
) -> impl IntoView {
    let row_id = section.row.as_ref().map(panel_id);
    let is_open = move || row_id.is_none_or(|id| expanded.with(|e| e.contains(&id)));
    let top = section.panels.iter().map(|p| p.grid().y).min().unwrap_or(0);
    let header = section.row.map(|row| {
        let id = panel_id(&row);
        let title = row.title.clone();
        view! {
            <div class="row-header" id=format!("row-{id}") data-collapsed=move || (!is_open()).to_string()>
                <button
                    class="row-toggle"
                    on:click=move |_| {
                        expanded.update(|e| {
                            if !e.remove(&id) {
                                e.insert(id);
                            }
                        })
                    }
                >
                    {move || if is_open() { "▾ " } else { "▸ " }}
                    {move || vars.with(|v| title_text(&title, v))}
                </button>
            </div>
        }
    });
    let panels = section.panels;
    view! {
        {header}
        <Show when=is_open>
            <div
                class="grid-section"
                style=format!("grid-auto-rows: {GRID_CELL_HEIGHT}px; gap: {GRID_MARGIN}px;")
            >
                {panels
                    .iter()
                    .filter_map(|p| slots.get(&panel_id(p)).map(|slot| (p.clone(), *slot)))
                    .map(|(panel, slot)| view! { <PanelFrame panel=panel panel_slot=slot top=top vars=vars on_zoom=on_zoom /> })
                    .collect_view()}
            </div>
        </Show>
    }
}

#[component]
fn PanelFrame(
    panel: Panel,
    panel_slot: PanelSlot,
    /// The section's first grid row, so sections stack without gaps.
    top: u32,
    vars: Memo<Vec<ResolvedVariable>>,
    on_zoom: Callback<(i64, i64)>,
) -> impl IntoView {
    let g = panel.grid();
    let style = format!(
        "grid-column: {} / span {}; grid-row: {} / span {};",
        g.x.min(23) + 1,
        g.w.clamp(1, 24 - g.x.min(23)),
        g.y.saturating_sub(top) + 1,
        g.h.max(1)
    );
    let title = panel.title.clone();
    let panel_type = panel.kind.clone();
    let dom_id = format!("panel-{}", panel_id(&panel));
    let loading = panel_slot.loading;
    let state = panel_slot.state;
    let window_of = move |pick: fn(&crate::panels::data::PanelData) -> i64| {
        move || match state.get() {
            PanelState::Ready(data) => Some(pick(&data).to_string()),
            _ => None,
        }
    };
    view! {
        <section
            class="panel"
            id=dom_id
            data-type=panel_type
            data-loading=move || loading.get().to_string()
            data-start=window_of(|d| d.start_ms)
            data-end=window_of(|d| d.end_ms)
            style=style
        >
            <header class="panel-header">
                <span class="panel-title">{move || vars.with(|v| title_text(&title, v))}</span>
                {move || loading.get().then(|| view! { <span class="panel-spinner" title="Loading"></span> })}
            </header>
            <PanelBody panel=panel state=state on_zoom=on_zoom />
        </section>
    }
}
