//! A dashboard (`/d/:uid`, `/d/:uid/:slug`, and `/dashboard/new`): loads
//! Grafana's `{dashboard, meta}` from `/api/dashboards/uid/:uid`, lays the
//! panels out on Grafana's 24-column grid (rows of 30 px, 8 px margins),
//! with collapsible rows, the time picker and the variable bar; each panel
//! frame shows its own loading indicator and error. The same view, not
//! editable, shows share links.
//!
//! The page draws from the edit session's working copy
//! ([`crate::edit::session`]), so an edit shows at once. Edit mode is not
//! in the URL (as in Grafana: a reload shows the saved dashboard), except
//! that `/dashboard/new` opens in it; `editPanel=<id>` and
//! `editview=settings|json` (Grafana's parameters) open the editors.
//!
//! In edit mode a panel moves by dragging its header and resizes by its
//! bottom-right corner (pointer events, converted to grid cells; the layout
//! is previewed live and committed as one undo step on release), or with
//! the keyboard when focused: arrows move, Shift+arrows resize. Ctrl+Z and
//! Ctrl+Shift+Z (or Ctrl+Y) undo and redo outside text fields. All grid
//! arithmetic is `vigil_shared::dashboard::layout`'s.
//!
//! Element ids for tests: `#dashboard-grid`; `#panel-<id>` (a `section`
//! with `data-grid="x,y,w,h"`), its `.panel-header` (drag), `.panel-resize`
//! (corner), `.panel-edit`, `.panel-duplicate`, `.panel-remove`;
//! `#row-<id>` with `.row-toggle`, `.row-up`, `.row-down`, `.row-remove`;
//! toolbar `#edit-start`, `#edit-add-panel`, `#edit-add-row`, `#edit-undo`,
//! `#edit-redo`, `#edit-settings`, `#edit-json`, `#edit-save`,
//! `#edit-exit`, `#edit-error`, `#share-open` (then `#share-url`); the save
//! dialog's are in [`crate::edit::save`].
//!
//! The URL holds the view: `from`, `to`, `refresh` and `var-*` are read
//! from it and every change pushes a history entry, so reload, back and
//! forward restore the view. Fetching is in [`crate::fetching`]: a change
//! of range, variables or refresh tick refetches every visible panel; an
//! edit fetches only the panels whose content changed (a move or resize
//! fetches nothing).

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_params_map, use_query_map};
use wasm_bindgen::JsCast;

use super::{set, use_query_writer};
use crate::AppContext;
use crate::edit::json::JsonModel;
use crate::edit::panel_editor::PanelEditor;
use crate::edit::save::SaveDialog;
use crate::edit::session::EditSession;
use crate::edit::settings::DashboardSettings;
use crate::fetching::{self, PanelSlot};
use crate::panels::PanelBody;
use crate::panels::data::PanelState;
use crate::timepicker::{TimePicker, now_ms, refresh_ms, resolve};
use crate::variables::{VarState, VariableBar, load_options};
use vigil_shared::dashboard::layout::{self, Step};
use vigil_shared::dashboard::model::TimeRange;
use vigil_shared::dashboard::share::{SharedView, share_url};
use vigil_shared::dashboard::variables::{Format, ResolvedVariable, Scope};
use vigil_shared::dashboard::{Dashboard, GridPos, Panel, Target};

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
        Some(Ok(dashboard)) => view! { <DashboardView dashboard=dashboard editable=true /> }.into_any(),
    }
}

/// `/dashboard/new`: an empty dashboard in edit mode; its first save
/// creates it and opens `/d/<uid>`.
#[component]
pub fn NewDashboardPage() -> impl IntoView {
    view! { <DashboardView dashboard=new_dashboard() editable=true start_editing=true /> }
}

/// Grafana's new dashboard: no panels, the last 6 hours.
pub fn new_dashboard() -> Dashboard {
    Dashboard {
        id: None,
        uid: None,
        title: "New dashboard".to_owned(),
        tags: Vec::new(),
        time: TimeRange { from: "now-6h".to_owned(), to: "now".to_owned() },
        refresh: None,
        timezone: None,
        schema_version: Some(41),
        templating: Default::default(),
        panels: Vec::new(),
        rows: Vec::new(),
        extra: Default::default(),
    }
}

/// The panel "Add panel" adds: a time series with one empty query.
pub fn new_panel() -> Panel {
    Panel {
        kind: "timeseries".to_owned(),
        title: "New panel".to_owned(),
        grid_pos: Some(GridPos { x: 0, y: 0, w: 12, h: 8 }),
        targets: vec![Target { ref_id: "A".to_owned(), ..Target::default() }],
        ..Panel::default()
    }
}

async fn api_dashboard(uid: &str) -> Result<Dashboard, String> {
    let json = crate::api::dashboard(uid).await?;
    let body = json.get("dashboard").ok_or_else(|| "the answer has no \"dashboard\"".to_owned())?;
    // The shared model reads (and normalises) what the store serves.
    let mut dashboard = Dashboard::from_json(&body.to_string()).map_err(|e| e.to_string())?;
    ensure_panel_ids(&mut dashboard);
    // The settings edit the folder through the dashboard; a save sends it.
    let folder = json.pointer("/meta/folderUid").and_then(serde_json::Value::as_str).unwrap_or_default();
    Ok(crate::edit::settings::with_folder(dashboard, folder))
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

fn is_row(panel: &Panel) -> bool {
    panel.kind == "row"
}

/// Interpolates a title (text format: All shows as "All").
fn title_text(title: &str, vars: &[ResolvedVariable]) -> String {
    Scope { variables: vars, builtins: &[] }.interpolate(title, Format::Text)
}

/// A panel as far as its data is concerned: without its place, so a move
/// or resize does not refetch it.
fn content(panel: &Panel) -> Panel {
    Panel { grid_pos: None, ..panel.clone() }
}

/// The CSS grid placement of a grid position.
fn grid_style(g: GridPos) -> String {
    format!(
        "grid-column: {} / span {}; grid-row: {} / span {};",
        g.x.min(23) + 1,
        g.w.clamp(1, 24 - g.x.min(23)),
        g.y + 1,
        g.h.max(1)
    )
}

/// Grid cells for a pointer movement of `(dx, dy)` pixels on a grid
/// `width` pixels wide: a column is a 24th of the width with its margin,
/// a row 30 px plus the 8 px margin; halfway rounds to the next cell.
pub fn cells_moved(dx: f64, dy: f64, width: f64) -> (i64, i64) {
    let column = (width + f64::from(GRID_MARGIN)) / 24.0;
    let row = f64::from(GRID_CELL_HEIGHT + GRID_MARGIN);
    ((dx / column.max(1.0)).round() as i64, (dy / row).round() as i64)
}

/// `start + delta`, at least zero.
fn offset(start: u32, delta: i64) -> u32 {
    (i64::from(start) + delta).clamp(0, i64::from(u32::MAX)) as u32
}

/// A panel move or resize under way.
#[derive(Debug, Clone)]
struct Drag {
    id: i64,
    resize: bool,
    start_x: f64,
    start_y: f64,
    start: GridPos,
    /// The layout when the drag began: every preview is computed from it.
    base: Dashboard,
}

impl Drag {
    /// The edit the pointer at `(x, y)` means, applied to `dash`.
    fn apply(&self, dash: &mut Dashboard, x: f64, y: f64) -> Result<(), layout::LayoutError> {
        let (dx, dy) = cells_moved(x - self.start_x, y - self.start_y, grid_width() as f64);
        let g = self.start;
        if self.resize {
            layout::resize_panel(dash, self.id, offset(g.w, dx).max(1), offset(g.h, dy).max(1))
        } else {
            layout::move_panel(dash, self.id, offset(g.x, dx), offset(g.y, dy))
        }
    }
}

/// The view's shared pieces, passed to frames and rows as context.
#[derive(Clone, Copy)]
struct GridContext {
    session: EditSession,
    /// The layout while a drag is under way (drawn instead of the copy).
    preview: RwSignal<Option<Dashboard>>,
    /// What the grid draws: the preview or the working copy.
    shown: Memo<Dashboard>,
    vars: Memo<Vec<ResolvedVariable>>,
    on_zoom: Callback<(i64, i64)>,
    slots: StoredValue<HashMap<i64, PanelSlot>>,
    /// The view's owner: slots for new panels are created under it, so they
    /// live as long as the view, not as long as the frame that asked.
    owner: StoredValue<Owner>,
    /// Opens the panel editor on a panel (`editPanel=<id>`).
    edit_panel: Callback<i64>,
}

impl GridContext {
    /// The panel's slot, created on first use.
    fn slot(&self, id: i64) -> PanelSlot {
        if let Some(slot) = self.slots.with_value(|s| s.get(&id).copied()) {
            return slot;
        }
        let slot = self.owner.with_value(|o| o.with(PanelSlot::new));
        self.slots.update_value(|s| {
            s.insert(id, slot);
        });
        slot
    }
}

#[component]
pub fn DashboardView(
    dashboard: Dashboard,
    /// Offers the Edit button (not on share links).
    #[prop(optional)]
    editable: bool,
    /// Opens in edit mode (a new dashboard).
    #[prop(optional)]
    start_editing: bool,
) -> impl IntoView {
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

    let session = EditSession::new(dashboard, start_editing);

    // Variables: options per variable, selection from the URL. They follow
    // the working copy's templating list, so variables added or changed in
    // the settings show at once; a state (with its loaded options) is made
    // anew only when the list itself changes.
    let templating = Memo::new(move |_| session.dashboard.with(|d| d.templating.list.clone()));
    let states: Memo<Vec<VarState>> = Memo::new(move |_| templating.get().into_iter().map(VarState::new).collect());
    let url_vars = Memo::new(move |_| {
        let names: Vec<String> = states.with(|vs| vs.iter().map(|v| v.var.name.clone()).collect());
        query.with(|q| {
            names
                .into_iter()
                .map(|n| {
                    let values = q.get_all(&format!("var-{n}"));
                    (n, values)
                })
                .collect::<Vec<_>>()
        })
    });
    // Every variable resolved (options + selection), in order: what
    // interpolation reads.
    let interpolation = Memo::new(move |_| {
        let from_url = url_vars.get();
        states.with(|vs| {
            vs.iter()
                .zip(from_url)
                .map(|(v, (_, url))| ResolvedVariable::resolve(&v.var, v.options.get(), url.as_deref()))
                .collect::<Vec<_>>()
        })
    });
    // Query variables load their options on open and when another
    // variable changes (chained variables), in order, so each sees the
    // options of those before it.
    let vars_ready = RwSignal::new(!states.with_untracked(|vs| vs.iter().any(VarState::is_loaded)));
    Effect::new(move |_| {
        url_vars.track();
        let Some((from, to)) = resolve(&range.get_untracked(), now_ms()) else {
            vars_ready.set(true);
            return;
        };
        let loaded: Vec<VarState> = states.with(|vs| vs.iter().filter(|v| v.is_loaded()).cloned().collect());
        spawn_local(async move {
            for state in loaded {
                let vars = interpolation.get_untracked();
                match load_options(&state, &vars, from, to).await {
                    Ok(options) => {
                        state.error.try_set(None);
                        if state.options.try_get_untracked().is_some_and(|o| o != options) {
                            state.options.try_set(options);
                        }
                    }
                    Err(e) => {
                        state.error.try_set(Some(e));
                    }
                }
            }
            vars_ready.set(true);
        });
    });

    let preview = RwSignal::new(None::<Dashboard>);
    let shown = Memo::new(move |_| preview.get().unwrap_or_else(|| session.dashboard.get()));
    let slots = StoredValue::new(HashMap::<i64, PanelSlot>::new());
    let owner = StoredValue::new(Owner::current().unwrap_or_default());
    // The panels on the grid (not rows, not inside collapsed rows): what
    // fetching serves.
    let visible = Memo::new(move |_| {
        session.dashboard.with(|d| d.panels.iter().filter(|p| !is_row(p)).cloned().collect::<Vec<Panel>>())
    });

    // Fetching. `generation` counts the changes that refetch everything
    // (range, variables, refresh tick); between them, only panels whose
    // content differs from what was last fetched for them are fetched.
    let tick = RwSignal::new(0u64);
    let generation = RwSignal::new(0u64);
    Effect::new(move |first: Option<()>| {
        range.track();
        interpolation.track();
        tick.track();
        if first.is_some() {
            generation.update(|g| *g += 1);
        }
    });
    let controllers = StoredValue::new_local(Vec::<web_sys::AbortController>::new());
    let fetched = StoredValue::new(HashMap::<i64, Panel>::new());
    let last_generation = StoredValue::new(None::<u64>);
    let marked = StoredValue::new(false);
    let write_edit = write.clone();
    let grid = GridContext {
        session,
        preview,
        shown,
        vars: interpolation,
        on_zoom: Callback::new(|_| {}),
        slots,
        owner,
        edit_panel: Callback::new(move |id: i64| write_edit(vec![set("editPanel", id.to_string())], false)),
    };
    Effect::new(move |_| {
        let current = generation.get();
        let panels = visible.get();
        if !vars_ready.get() {
            return;
        }
        let full = last_generation.get_value() != Some(current);
        if full {
            last_generation.set_value(Some(current));
            controllers.update_value(|cs| cs.drain(..).for_each(|c| c.abort()));
            fetched.update_value(HashMap::clear);
        }
        let todo: Vec<Panel> = fetched.with_value(|f| {
            panels.into_iter().filter(|p| f.get(&panel_id(p)).is_none_or(|old| *old != content(p))).collect()
        });
        if todo.is_empty() {
            return;
        }
        fetched.update_value(|f| {
            for p in &todo {
                f.insert(panel_id(p), content(p));
            }
        });
        let raw = range.get_untracked();
        let slots: HashMap<i64, PanelSlot> = todo.iter().map(|p| (panel_id(p), grid.slot(panel_id(p)))).collect();
        let Some((from, to)) = resolve(&raw, now_ms()) else {
            for slot in slots.values() {
                slot.state.set(PanelState::Error(format!("invalid time range {} to {}", raw.from, raw.to)));
                slot.loading.set(false);
            }
            return;
        };
        let Ok(abort) = web_sys::AbortController::new() else { return };
        controllers.update_value(|cs| cs.push(abort.clone()));
        let grid_width = grid_width();
        let sized: Vec<(Panel, u32)> = todo
            .into_iter()
            .map(|p| {
                let width = grid_width * p.grid().w.clamp(1, 24) / 24;
                (p, width)
            })
            .collect();
        let plan = fetching::plan(&sized, from, to, &interpolation.get_untracked(), ctx.scrape_ms.get_untracked());
        spawn_local(async move {
            fetching::run(plan, slots, abort.signal(), move || {
                if full && !marked.get_value() {
                    marked.set_value(true);
                    fetching::mark_when_drawn();
                }
            })
            .await;
        });
    });
    on_cleanup(move || {
        let _ = controllers.try_update_value(|cs| cs.drain(..).for_each(|c| c.abort()));
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

    // Undo and redo from the keyboard, in edit mode, outside text fields
    // (where the browser's own undo belongs).
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if !session.editing.get_untracked() || !(ev.ctrl_key() || ev.meta_key()) || in_text_field(&ev) {
            return;
        }
        match ev.key().to_lowercase().as_str() {
            "z" if ev.shift_key() => session.redo(),
            "z" => session.undo(),
            "y" => session.redo(),
            _ => return,
        }
        ev.prevent_default();
    });
    on_cleanup(move || keys.remove());

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
    let grid = GridContext { on_zoom, ..grid };
    let write_var = write.clone();
    let on_variable = Callback::new(move |(name, values): (String, Vec<String>)| {
        write_var(vec![(format!("var-{name}"), values)], false);
    });

    let title = move || session.dashboard.with(|d| d.title.clone());
    let tags = move || {
        session
            .dashboard
            .with(|d| d.tags.clone())
            .into_iter()
            .map(|t| view! { <span class="tag-chip">{t}</span> })
            .collect_view()
    };
    let uid = move || session.dashboard.with(|d| d.uid.clone().unwrap_or_default());
    let share_link = RwSignal::new(None::<String>);
    let open_share = move |_| {
        let origin = window().location().origin().unwrap_or_default();
        let view = SharedView {
            dashboard: {
                // The folder is this server's business, not the link's.
                let mut d = session.dashboard.get_untracked();
                crate::edit::settings::take_folder(&mut d);
                d
            },
            time: range.get_untracked(),
            vars: url_vars.get_untracked().into_iter().filter_map(|(name, v)| v.map(|v| (name, v))).collect(),
        };
        share_link.update(|l| *l = if l.is_some() { None } else { Some(share_url(&origin, &view)) });
    };
    let saving = RwSignal::new(false);

    // The editors, opened by the URL (Grafana's `editPanel` and
    // `editview`); what they hand back goes through the history.
    let editor_target = Memo::new(move |_| query.with(|q| (q.get("editPanel"), q.get("editview"))));
    let write_close = write.clone();
    let close = Callback::new(move |()| {
        write_close(vec![("editPanel".to_owned(), Vec::new()), ("editview".to_owned(), Vec::new())], false);
    });
    let editor = move || {
        let (panel, view) = editor_target.get();
        if !editable || (panel.is_none() && view.is_none()) {
            return None;
        }
        // An editor's URL means edit mode (so a reload on it edits too).
        if !session.editing.get_untracked() {
            session.editing.set(true);
        }
        let apply_dashboard = Callback::new(move |mut d: Dashboard| {
            ensure_panel_ids(&mut d);
            session.replace(d);
            close.run(());
        });
        let current = session.dashboard.get_untracked();
        if let Some(id) = panel {
            let found = id.parse::<i64>().ok().and_then(|id| current.all_panels().find(|p| p.id == Some(id)).cloned());
            let Some(found) = found else {
                return Some(view! { <div class="page-error" id="edit-error">{format!("There is no panel {id} to edit.")}</div> }.into_any());
            };
            let on_apply = Callback::new(move |p: Panel| {
                session.apply(|d| put_panel(d, p));
                close.run(());
            });
            return Some(
                view! {
                    <PanelEditor panel=found vars=interpolation.into() range=range.into() on_apply=on_apply on_cancel=close />
                }
                .into_any(),
            );
        }
        match view.as_deref() {
            Some("json") => {
                Some(view! { <JsonModel dashboard=current on_apply=apply_dashboard on_cancel=close /> }.into_any())
            }
            _ => Some(
                view! { <DashboardSettings dashboard=current on_apply=apply_dashboard on_cancel=close /> }.into_any(),
            ),
        }
    };
    view! {
        <div class="page dashboard" data-uid=uid data-editing=move || session.editing.get().to_string()>
            <div class="dashboard-toolbar">
                <h1 class="dashboard-title">{title}</h1>
                <span class="tags">{tags}</span>
                {editable.then(|| view! { <EditToolbar session=session grid=grid saving=saving /> })}
                <button id="share-open" title="A link carrying this dashboard, its range and variables" on:click=open_share>
                    "Share"
                </button>
                <TimePicker
                    range=range.into()
                    refresh=refresh.into()
                    on_range=on_range
                    on_refresh=on_refresh
                    on_reload=on_reload
                />
            </div>
            {move || {
                share_link
                    .get()
                    .map(|link| {
                        view! {
                            <div class="share-box">
                                <label>
                                    "Share link "
                                    <input id="share-url" readonly prop:value=link size="60" />
                                </label>
                            </div>
                        }
                    })
            }}
            {move || session.error.get().map(|e| view! { <div class="edit-error" id="edit-error">{e}</div> })}
            {move || view! { <VariableBar vars=states.get() selection=interpolation.into() on_change=on_variable /> }}
            <div
                id="dashboard-grid"
                class="dashboard-grid grid-section"
                style=format!("grid-auto-rows: {GRID_CELL_HEIGHT}px; gap: {GRID_MARGIN}px;")
            >
                <For
                    each=move || shown.with(|d| d.panels.iter().map(|p| (panel_id(p), is_row(p))).collect::<Vec<_>>())
                    key=|item| *item
                    let((id, row))
                >
                    {if row {
                        view! { <RowHeader id=id grid=grid /> }.into_any()
                    } else {
                        view! { <PanelFrame id=id grid=grid /> }.into_any()
                    }}
                </For>
            </div>
            {editor}
            <Show when=move || saving.get()>
                <SaveDialog session=session on_close=Callback::new(move |()| saving.set(false)) />
            </Show>
        </div>
    }
}

/// Puts an edited panel in place of the one with its id (top level or in a
/// collapsed row), keeping the place it has now.
pub fn put_panel(dash: &mut Dashboard, mut panel: Panel) -> Result<(), layout::LayoutError> {
    let id = panel_id(&panel);
    let mut target = None;
    for p in dash.panels.iter_mut() {
        if p.id == Some(id) {
            target = Some(p);
            break;
        }
        if let Some(inner) = p.panels.iter_mut().find(|q| q.id == Some(id)) {
            target = Some(inner);
            break;
        }
    }
    let target = target.ok_or(layout::LayoutError::NoSuchPanel(id))?;
    panel.grid_pos = target.grid_pos;
    *target = panel;
    Ok(())
}

/// Whether a key event comes from a text field (its undo is the field's).
fn in_text_field(ev: &web_sys::KeyboardEvent) -> bool {
    ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).is_some_and(|e| {
        matches!(e.tag_name().to_ascii_lowercase().as_str(), "input" | "textarea" | "select")
            || e.closest(".cm-editor, [contenteditable]").ok().flatten().is_some()
    })
}

/// The Edit button, or in edit mode the editing toolbar.
#[component]
fn EditToolbar(session: EditSession, grid: GridContext, saving: RwSignal<bool>) -> impl IntoView {
    let write = use_query_writer();
    let add_panel = {
        let edit = grid.edit_panel;
        move |_| {
            if let Some(id) = session.apply(|d| layout::add_panel(d, new_panel())) {
                edit.run(id);
            }
        }
    };
    let add_row = move |_| {
        session.apply(|d| layout::add_row(d, "Row title"));
    };
    let write_settings = write.clone();
    let write_json = write;
    let exit = move |_| {
        let discard = !session.dirty()
            || window().confirm_with_message("Discard the unsaved changes to this dashboard?").unwrap_or(false);
        if discard {
            session.discard();
            session.editing.set(false);
        }
    };
    move || {
        if !session.editing.get() {
            return view! {
                <button id="edit-start" on:click=move |_| session.editing.set(true)>"Edit"</button>
            }
            .into_any();
        }
        let write_settings = write_settings.clone();
        let write_json = write_json.clone();
        view! {
            <span class="edit-toolbar">
                <button id="edit-add-panel" on:click=add_panel>"Add panel"</button>
                <button id="edit-add-row" on:click=add_row>"Add row"</button>
                <button id="edit-undo" title="Undo (Ctrl+Z)" disabled=move || !session.can_undo() on:click=move |_| session.undo()>
                    "Undo"
                </button>
                <button id="edit-redo" title="Redo (Ctrl+Shift+Z)" disabled=move || !session.can_redo() on:click=move |_| session.redo()>
                    "Redo"
                </button>
                <button id="edit-settings" on:click=move |_| write_settings(vec![set("editview", "settings")], false)>
                    "Settings"
                </button>
                <button id="edit-json" on:click=move |_| write_json(vec![set("editview", "json")], false)>"JSON"</button>
                <button id="edit-save" class="primary" data-dirty=move || session.dirty().to_string() on:click=move |_| saving.set(true)>
                    "Save"
                </button>
                <button id="edit-exit" on:click=exit>"Exit edit"</button>
            </span>
        }
        .into_any()
    }
}

/// A row's header: collapse/expand, and in edit mode move up/down (with
/// its panels) and remove.
#[component]
fn RowHeader(id: i64, grid: GridContext) -> impl IntoView {
    let session = grid.session;
    let row = Memo::new(move |_| grid.shown.with(|d| d.panels.iter().find(|p| p.id == Some(id)).cloned()));
    let collapsed = move || row.with(|r| r.as_ref().is_some_and(|r| r.collapsed == Some(true)));
    let toggle = move |_| {
        let expand = collapsed();
        let change =
            move |d: &mut Dashboard| if expand { layout::expand_row(d, id) } else { layout::collapse_row(d, id) };
        if session.editing.get_untracked() {
            session.apply(change);
        } else {
            session.view_change(change);
        }
    };
    // Up: to the previous row's place (or the top); down: the next row
    // takes this one's place. Either way one `move_row`, one undo step.
    let move_by = move |down: bool| {
        session.apply(move |d: &mut Dashboard| {
            let mut rows: Vec<(u32, i64)> =
                d.panels.iter().filter(|p| is_row(p)).map(|p| (p.grid().y, panel_id(p))).collect();
            rows.sort();
            let Some(at) = rows.iter().position(|r| r.1 == id) else {
                return Err(layout::LayoutError::NoSuchPanel(id));
            };
            match (down, at) {
                (false, 0) => layout::move_row(d, id, 0),
                (false, _) => layout::move_row(d, id, rows[at - 1].0),
                (true, _) => match rows.get(at + 1) {
                    Some(next) => layout::move_row(d, next.1, rows[at].0),
                    None => Ok(()),
                },
            }
        });
    };
    let remove = move |_| {
        session.apply(|d| layout::remove_panel(d, id));
    };
    let style = move || row.with(|r| r.as_ref().map(|r| grid_style(GridPos { x: 0, w: 24, h: 1, ..r.grid() })));
    let title = move || row.with(|r| r.as_ref().map(|r| r.title.clone()).unwrap_or_default());
    view! {
        <div class="row-header" id=format!("row-{id}") data-collapsed=move || collapsed().to_string() style=style>
            <button class="row-toggle" on:click=toggle>
                {move || if collapsed() { "▸ " } else { "▾ " }}
                {move || grid.vars.with(|v| title_text(&title(), v))}
            </button>
            <Show when=move || session.editing.get()>
                <button class="row-up" title="Move the row up" on:click=move |_| move_by(false)>"↑"</button>
                <button class="row-down" title="Move the row down" on:click=move |_| move_by(true)>"↓"</button>
                <button class="row-remove" title="Remove the row" on:click=remove>"✕"</button>
            </Show>
        </div>
    }
}

/// A panel's frame: header (title, spinner, and in edit mode the drag
/// handle and menu), body, and in edit mode the resize corner.
#[component]
fn PanelFrame(id: i64, grid: GridContext) -> impl IntoView {
    let session = grid.session;
    let slot = grid.slot(id);
    let panel = Memo::new(move |_| grid.shown.with(|d| d.panels.iter().find(|p| p.id == Some(id)).cloned()));
    // The body is rebuilt only when what it draws changes, not on a move.
    let body = Memo::new(move |_| panel.with(|p| p.as_ref().map(content)));
    let place = Memo::new(move |_| panel.with(|p| p.as_ref().map(Panel::grid).unwrap_or_default()));
    let loading = slot.loading;
    let state = slot.state;
    let window_of = move |pick: fn(&crate::panels::data::PanelData) -> i64| {
        move || match state.get() {
            PanelState::Ready(data) => Some(pick(&data).to_string()),
            _ => None,
        }
    };
    let drag = StoredValue::new(None::<Drag>);
    let on_down = move |ev: web_sys::PointerEvent| {
        if !session.editing.get_untracked() || ev.button() != 0 {
            return;
        }
        let Some(target) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
        let closest = |sel: &str| target.closest(sel).ok().flatten().is_some();
        let resize = closest(".panel-resize");
        if !resize && (!closest(".panel-header") || closest("button")) {
            return;
        }
        if let Some(frame) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
            let _ = frame.set_pointer_capture(ev.pointer_id());
        }
        ev.prevent_default();
        drag.set_value(Some(Drag {
            id,
            resize,
            start_x: f64::from(ev.client_x()),
            start_y: f64::from(ev.client_y()),
            start: place.get_untracked(),
            base: session.dashboard.get_untracked(),
        }));
    };
    let on_move = move |ev: web_sys::PointerEvent| {
        let Some(d) = drag.get_value() else { return };
        let mut next = d.base.clone();
        if d.apply(&mut next, f64::from(ev.client_x()), f64::from(ev.client_y())).is_ok()
            && grid.preview.with_untracked(|p| p.as_ref() != Some(&next))
        {
            grid.preview.set(Some(next));
        }
    };
    let on_up = move |ev: web_sys::PointerEvent| {
        let Some(d) = drag.get_value() else { return };
        drag.set_value(None);
        grid.preview.set(None);
        let (x, y) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
        session.apply(|dash| d.apply(dash, x, y));
    };
    let on_cancel = move |_: web_sys::PointerEvent| {
        drag.set_value(None);
        grid.preview.set(None);
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        if !session.editing.get_untracked() || in_text_field(&ev) {
            return;
        }
        let step = match ev.key().as_str() {
            "ArrowUp" => Step::Up,
            "ArrowDown" => Step::Down,
            "ArrowLeft" => Step::Left,
            "ArrowRight" => Step::Right,
            _ => return,
        };
        ev.prevent_default();
        if ev.shift_key() {
            session.apply(|d| layout::resize_step(d, id, step));
        } else {
            session.apply(|d| layout::nudge(d, id, step));
        }
    };
    let edit = grid.edit_panel;
    let title = move || body.with(|p| p.as_ref().map(|p| p.title.clone()).unwrap_or_default());
    view! {
        <section
            class="panel"
            id=format!("panel-{id}")
            data-type=move || body.with(|p| p.as_ref().map(|p| p.kind.clone()))
            data-loading=move || loading.get().to_string()
            data-start=window_of(|d| d.start_ms)
            data-end=window_of(|d| d.end_ms)
            data-grid=move || {
                let g = place.get();
                format!("{},{},{},{}", g.x, g.y, g.w, g.h)
            }
            data-dragging=move || grid.preview.with(Option::is_some).to_string()
            tabindex=move || session.editing.get().then_some("0")
            style=move || grid_style(place.get())
            on:pointerdown=on_down
            on:pointermove=on_move
            on:pointerup=on_up
            on:pointercancel=on_cancel
            on:keydown=on_key
        >
            <header class="panel-header">
                <span class="panel-title">{move || grid.vars.with(|v| title_text(&title(), v))}</span>
                {move || loading.get().then(|| view! { <span class="panel-spinner" title="Loading"></span> })}
                <Show when=move || session.editing.get()>
                    <span class="panel-menu">
                        <button class="panel-edit" title="Edit the panel" on:click=move |_| edit.run(id)>"Edit"</button>
                        <button
                            class="panel-duplicate"
                            title="Duplicate the panel"
                            on:click=move |_| {
                                session.apply(|d| layout::duplicate_panel(d, id));
                            }
                        >
                            "Duplicate"
                        </button>
                        <button
                            class="panel-remove"
                            title="Remove the panel"
                            on:click=move |_| {
                                session.apply(|d| layout::remove_panel(d, id));
                            }
                        >
                            "Remove"
                        </button>
                    </span>
                </Show>
            </header>
            {move || body.get().map(|p| view! { <PanelBody panel=p state=state on_zoom=grid.on_zoom /> })}
            <Show when=move || session.editing.get()>
                <div class="panel-resize" title="Drag to resize"></div>
            </Show>
        </section>
    }
}

/// The grid's width in pixels, for the panels' widths (their default
/// `maxDataPoints`) and the drag arithmetic.
fn grid_width() -> u32 {
    let document = web_sys::window().and_then(|w| w.document());
    let measured = document.and_then(|d| d.get_element_by_id("dashboard-grid")).map(|e| e.client_width()).unwrap_or(0);
    if measured > 0 {
        return measured as u32;
    }
    web_sys::window().and_then(|w| w.inner_width().ok()).and_then(|w| w.as_f64()).map_or(1200, |w| w as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn pointer_pixels_become_grid_cells() {
        // A 1192 px grid: columns 50 px apart, rows 38 px apart.
        let cases = [
            ((0.0, 0.0), (0, 0)),
            ((24.0, 18.0), (0, 0)),
            ((26.0, 20.0), (1, 1)),
            ((150.0, 114.0), (3, 3)),
            ((-100.0, -38.0), (-2, -1)),
        ];
        for ((dx, dy), want) in cases {
            assert_eq!(cells_moved(dx, dy, 1192.0), want, "({dx}, {dy})");
        }
        assert_eq!((offset(2, -5), offset(2, 3)), (0, 5));
    }

    #[wasm_bindgen_test]
    fn an_edited_panel_keeps_its_place_top_level_or_in_a_row() {
        let json = r#"{"title":"t","panels":[
            {"id":1,"type":"timeseries","title":"a","gridPos":{"x":0,"y":0,"w":12,"h":8}},
            {"id":2,"type":"row","collapsed":true,"gridPos":{"x":0,"y":8,"w":24,"h":1},
             "panels":[{"id":3,"type":"stat","title":"b","gridPos":{"x":0,"y":9,"w":6,"h":4}}]}]}"#;
        let mut d = Dashboard::from_json(json).unwrap_or_else(|e| panic!("{e}"));
        for (id, title) in [(1, "A"), (3, "B")] {
            let mut edited = new_panel();
            edited.id = Some(id);
            edited.title = title.into();
            assert_eq!(put_panel(&mut d, edited), Ok(()));
        }
        let got: Vec<(Option<i64>, String, GridPos)> =
            d.all_panels().filter(|p| !is_row(p)).map(|p| (p.id, p.title.clone(), p.grid())).collect();
        assert_eq!(
            got,
            vec![
                (Some(1), "A".into(), GridPos { x: 0, y: 0, w: 12, h: 8 }),
                (Some(3), "B".into(), GridPos { x: 0, y: 9, w: 6, h: 4 }),
            ]
        );
        let mut stray = new_panel();
        stray.id = Some(9);
        assert_eq!(put_panel(&mut d, stray), Err(layout::LayoutError::NoSuchPanel(9)));
    }

    #[wasm_bindgen_test]
    fn a_move_or_resize_does_not_change_a_panels_content() {
        let mut moved = new_panel();
        moved.grid_pos = Some(GridPos { x: 6, y: 3, w: 4, h: 2 });
        assert_eq!(content(&moved), content(&new_panel()));
        let mut edited = new_panel();
        edited.targets[0].expr = "up".into();
        assert_ne!(content(&edited), content(&new_panel()));
    }
}
