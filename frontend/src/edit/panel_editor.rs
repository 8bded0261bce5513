//! The panel editor: the dashboard page opens it for `editPanel=<id>` and
//! gets the edited panel back through `on_apply` (or nothing, through
//! `on_cancel`). It edits a copy of the panel in a signal and never touches
//! the edit session: the session puts what comes back into the working copy
//! through its undo history.
//!
//! Layout, as Grafana's: a live preview on top (the panel drawn by
//! [`PanelBody`] from the copy being edited, refetched through
//! [`crate::fetching`] a moment after a query that parses changes, or when
//! the range or the variables do), the queries under it (one
//! [`QueryEditor`] per target, with refId, legend format, range/instant,
//! minimum interval), and the visualisation and its options on the right.
//! Every option writes the Grafana JSON fields the renderers read
//! (`panels::options`): the setters below are pure functions on a `Panel`,
//! tested against those readers.
//!
//! Element ids (stable, for tests): `panel-editor` (the root),
//! `panel-editor-preview` (the preview frame; its panel body draws with
//! panel id -1, so its canvas is `panel--1-canvas`), `panel-editor-title`,
//! `panel-editor-description`, per target i: `panel-editor-expr-<i>` (the
//! query editor's textarea, see `query_editor` for the ids derived from
//! it), `panel-editor-refid-<i>`, `panel-editor-legend-<i>`,
//! `panel-editor-query-type-<i>`, `panel-editor-interval-<i>`,
//! `panel-editor-remove-<i>`; `panel-editor-add-target`;
//! `panel-editor-type`, `panel-editor-unit` (with the datalist
//! `panel-editor-units`), `panel-editor-decimals`, `panel-editor-min`,
//! `panel-editor-max`, `panel-editor-thresholds-mode`, per step j:
//! `panel-editor-threshold-color-<j>`, `panel-editor-threshold-value-<j>`,
//! `panel-editor-threshold-remove-<j>`; `panel-editor-threshold-add`;
//! `panel-editor-legend-show`, `panel-editor-legend-mode`,
//! `panel-editor-legend-placement`, `panel-editor-legend-calc-<calc>`;
//! `panel-editor-draw-style`, `panel-editor-stacking`,
//! `panel-editor-fill`; `panel-editor-calc`; `panel-editor-content`;
//! `panel-editor-apply`, `panel-editor-discard`.

use std::collections::HashMap;
use std::time::Duration;

use leptos::leptos_dom::helpers::TimeoutHandle;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};
use vigil_shared::dashboard::model::{
    LegendOptions, ReduceOptions, ThresholdStep, Thresholds, ThresholdsMode, TimeRange,
};
use vigil_shared::dashboard::render::{REDUCERS, UNITS};
use vigil_shared::dashboard::variables::ResolvedVariable;
use vigil_shared::dashboard::{Panel, Target};

use super::query_editor::{QueryEditor, problem};
use crate::AppContext;
use crate::fetching::{self, PanelSlot};
use crate::panels::PanelBody;
use crate::panels::data::PanelState;
use crate::panels::render::default_thresholds;
use crate::timepicker::{now_ms, resolve};

/// The preview's panel id: apart from every dashboard panel's, so its DOM
/// ids never clash with the grid's.
const PREVIEW_ID: i64 = -1;
/// How long edits must pause before the preview asks the server again.
const PREVIEW_DEBOUNCE: Duration = Duration::from_millis(400);

/// The visualisations the renderers draw, as Grafana names them.
pub const PANEL_TYPES: [(&str, &str); 7] = [
    ("timeseries", "Time series"),
    ("stat", "Stat"),
    ("gauge", "Gauge"),
    ("bargauge", "Bar gauge"),
    ("table", "Table"),
    ("heatmap", "Heatmap"),
    ("text", "Text"),
];

/// Colours new threshold steps take, in turn (Grafana's named colours).
const THRESHOLD_COLOURS: [&str; 6] = ["red", "orange", "yellow", "blue", "purple", "green"];

// ---------------------------------------------------------------------------
// Pure edits of a panel's JSON: what each control writes.

/// A number typed into a field: empty is "not set"; `Err` for anything
/// that is not a finite number (the field keeps its old value).
pub fn parse_optional_number(text: &str) -> Result<Option<f64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite()).map(Some).ok_or(())
}

/// The next free refId: A, B, … Z, then A1, B1, …
pub fn next_ref_id(targets: &[Target]) -> String {
    (0..)
        .map(|n: usize| {
            let letter = char::from(b'A' + (n % 26) as u8);
            if n < 26 { letter.to_string() } else { format!("{letter}{}", n / 26) }
        })
        .find(|id| targets.iter().all(|t| &t.ref_id != id))
        .unwrap_or_default()
}

/// Adds an empty target with the next free refId.
pub fn add_target(panel: &mut Panel) {
    let ref_id = next_ref_id(&panel.targets);
    panel.targets.push(Target { ref_id, ..Target::default() });
}

/// How a target runs: Grafana's "Range", "Instant" or "Both".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    Range,
    Instant,
    Both,
}

impl QueryType {
    pub fn of(target: &Target) -> QueryType {
        match (target.is_range(), target.is_instant()) {
            (true, true) => QueryType::Both,
            (false, true) => QueryType::Instant,
            _ => QueryType::Range,
        }
    }

    fn name(self) -> &'static str {
        match self {
            QueryType::Range => "range",
            QueryType::Instant => "instant",
            QueryType::Both => "both",
        }
    }

    fn from_name(name: &str) -> QueryType {
        match name {
            "instant" => QueryType::Instant,
            "both" => QueryType::Both,
            _ => QueryType::Range,
        }
    }

    /// Writes Grafana's `range` and `instant` flags.
    pub fn write(self, target: &mut Target) {
        let (range, instant) = match self {
            QueryType::Range => (true, false),
            QueryType::Instant => (false, true),
            QueryType::Both => (true, true),
        };
        target.range = Some(range);
        target.instant = Some(instant);
    }
}

/// The thresholds as the renderers use them (Grafana's default until set).
pub fn thresholds_of(panel: &Panel) -> Thresholds {
    panel.field_config.defaults.thresholds.clone().filter(|t| !t.steps.is_empty()).unwrap_or_else(default_thresholds)
}

/// Adds a step above the highest (Grafana adds 10 above it).
pub fn add_threshold(thresholds: &mut Thresholds) {
    let top =
        thresholds.steps.iter().filter_map(|s| s.value).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let colour = THRESHOLD_COLOURS[thresholds.steps.len() % THRESHOLD_COLOURS.len()];
    if thresholds.steps.is_empty() {
        thresholds.steps.push(ThresholdStep { color: "green".to_owned(), value: None });
    }
    thresholds.steps.push(ThresholdStep { color: colour.to_owned(), value: Some(top.map_or(80.0, |t| t + 10.0)) });
}

/// Removes step `index`; the base step (−∞) stays.
pub fn remove_threshold(thresholds: &mut Thresholds, index: usize) {
    if index > 0 && index < thresholds.steps.len() {
        thresholds.steps.remove(index);
    }
}

/// Orders the steps as Grafana keeps them: the base first, then by value.
pub fn sort_thresholds(thresholds: &mut Thresholds) {
    thresholds.steps.sort_by(|a, b| match (a.value, b.value) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Less,
        (_, None) => std::cmp::Ordering::Greater,
        (Some(a), Some(b)) => a.total_cmp(&b),
    });
}

/// Edits the thresholds (starting from what the renderers show).
pub fn edit_thresholds(panel: &mut Panel, edit: impl FnOnce(&mut Thresholds)) {
    let mut thresholds = thresholds_of(panel);
    edit(&mut thresholds);
    panel.field_config.defaults.thresholds = Some(thresholds);
}

/// The legend settings (Grafana's defaults until set).
pub fn legend_of(panel: &Panel) -> LegendOptions {
    panel.options.legend.clone().unwrap_or_else(|| LegendOptions {
        show_legend: true,
        display_mode: "list".to_owned(),
        placement: "bottom".to_owned(),
        calcs: Vec::new(),
        extra: serde_json::Map::new(),
    })
}

/// Edits `options.legend`.
pub fn edit_legend(panel: &mut Panel, edit: impl FnOnce(&mut LegendOptions)) {
    let mut legend = legend_of(panel);
    edit(&mut legend);
    panel.options.legend = Some(legend);
}

/// Adds or removes `calc` from the legend's calcs, keeping Grafana's order
/// of reducers.
pub fn toggle_legend_calc(panel: &mut Panel, calc: &str, on: bool) {
    edit_legend(panel, |legend| {
        legend.calcs.retain(|c| c != calc);
        if on {
            legend.calcs.push(calc.to_owned());
            legend.calcs.sort_by_key(|c| REDUCERS.iter().position(|r| r == c).unwrap_or(usize::MAX));
        }
    });
}

/// A string in `fieldConfig.defaults.custom`, or `default`.
pub fn custom_str(panel: &Panel, key: &str, default: &'static str) -> String {
    panel.field_config.defaults.custom.get(key).and_then(Value::as_str).unwrap_or(default).to_owned()
}

/// `fieldConfig.defaults.custom.stacking.mode` (`none`, `normal`, `percent`).
pub fn stacking_of(panel: &Panel) -> String {
    panel
        .field_config
        .defaults
        .custom
        .get("stacking")
        .and_then(|s| s.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned()
}

/// Sets the stacking mode, keeping the stacking group if there is one.
pub fn set_stacking(panel: &mut Panel, mode: &str) {
    let custom = &mut panel.field_config.defaults.custom;
    let group = custom.get("stacking").and_then(|s| s.get("group")).cloned().unwrap_or_else(|| json!("A"));
    custom.insert("stacking".to_owned(), json!({"mode": mode, "group": group}));
}

/// Sets a value in `fieldConfig.defaults.custom` (`drawStyle`, `fillOpacity`…).
pub fn set_custom(panel: &mut Panel, key: &str, value: Value) {
    panel.field_config.defaults.custom.insert(key.to_owned(), value);
}

/// The reduction of stat, gauge and bar gauge panels.
pub fn set_reduce_calc(panel: &mut Panel, calc: &str) {
    let mut reduce = panel.options.reduce_options.clone().unwrap_or_else(|| ReduceOptions {
        calcs: Vec::new(),
        values: false,
        fields: Some(String::new()),
        limit: None,
        extra: serde_json::Map::new(),
    });
    reduce.calcs = vec![calc.to_owned()];
    panel.options.reduce_options = Some(reduce);
}

/// A text panel's markdown (`options.content`, `options.mode`).
pub fn set_text_content(panel: &mut Panel, content: &str) {
    panel.options.extra.insert("content".to_owned(), json!(content));
    panel.options.extra.entry("mode".to_owned()).or_insert_with(|| json!("markdown"));
    // The old top-level `content` would shadow nothing but confuse exports.
    panel.extra.remove("content");
}

/// The panel as Apply hands it back: thresholds in order, empty optional
/// texts unset.
pub fn finished(mut panel: Panel) -> Panel {
    if let Some(thresholds) = &mut panel.field_config.defaults.thresholds {
        sort_thresholds(thresholds);
    }
    let blank = |s: &Option<String>| s.as_deref().is_some_and(|s| s.trim().is_empty());
    if blank(&panel.description) {
        panel.description = None;
    }
    if blank(&panel.interval) {
        panel.interval = None;
    }
    for target in &mut panel.targets {
        if blank(&target.legend_format) {
            target.legend_format = None;
        }
        if blank(&target.interval) {
            target.interval = None;
        }
    }
    panel
}

/// Whether every query that would run parses: the preview waits for that.
pub fn queries_parse(panel: &Panel) -> bool {
    panel.targets.iter().filter(|t| !t.is_hidden()).all(|t| problem(&t.expr).is_none())
}

// ---------------------------------------------------------------------------
// The component.

/// Edits `panel`; hands the edited panel to `on_apply`, or calls
/// `on_cancel` to close without change. `vars` and `range` are the
/// dashboard's, for the live preview.
#[component]
pub fn PanelEditor(
    panel: Panel,
    vars: Signal<Vec<ResolvedVariable>>,
    range: Signal<TimeRange>,
    on_apply: Callback<Panel>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let edited = RwSignal::new(panel);
    let preview = Preview::start(edited, vars, range);
    let target_count = Memo::new(move |_| edited.with(|p| p.targets.len()));
    let kind = Memo::new(move |_| edited.with(|p| p.kind.clone()));
    let shown = preview.shown;
    let slot = preview.slot;

    view! {
        <div class="panel-editor" id="panel-editor" role="dialog" aria-label="Edit panel">
            <header class="panel-editor-header">
                <h2>"Edit panel"</h2>
                <div class="panel-editor-actions">
                    <button id="panel-editor-discard" type="button" on:click=move |_| on_cancel.run(())>
                        "Discard"
                    </button>
                    <button
                        id="panel-editor-apply"
                        type="button"
                        class="primary"
                        on:click=move |_| on_apply.run(finished(edited.get_untracked()))
                    >
                        "Apply"
                    </button>
                </div>
            </header>
            <div class="panel-editor-main">
                <div class="panel-editor-left">
                    <section class="panel panel-editor-preview" id="panel-editor-preview">
                        <header class="panel-header">
                            <span class="panel-title">{move || edited.with(|p| p.title.clone())}</span>
                            {move || slot.loading.get().then(|| view! { <span class="panel-spinner" title="Loading"></span> })}
                        </header>
                        {move || {
                            view! {
                                <PanelBody panel=shown.get() state=slot.state on_zoom=Callback::new(|_| ()) />
                            }
                        }}
                    </section>
                    <div class="panel-editor-queries">
                        {move || {
                            (0..target_count.get())
                                .map(|i| view! { <TargetEditor edited index=i /> })
                                .collect_view()
                        }}
                        <button
                            id="panel-editor-add-target"
                            type="button"
                            on:click=move |_| edited.update(add_target)
                        >
                            "+ Query"
                        </button>
                    </div>
                </div>
                <aside class="panel-editor-options">
                    <PanelSettings edited />
                    {move || match kind.get().as_str() {
                        "text" => view! { <TextOptions edited /> }.into_any(),
                        other => {
                            let timeseries = matches!(other, "timeseries" | "graph");
                            let reduces = matches!(other, "stat" | "gauge" | "bargauge" | "singlestat");
                            view! {
                                {timeseries.then(|| view! { <GraphOptions edited /> })}
                                {reduces.then(|| view! { <ReduceOption edited /> })}
                                <StandardOptions edited />
                                <ThresholdOptions edited />
                                {timeseries.then(|| view! { <LegendSettings edited /> })}
                            }
                                .into_any()
                        }
                    }}
                </aside>
            </div>
        </div>
    }
}

/// The live preview: the panel as edited, drawn from data fetched for the
/// queries as they stand once they parse.
struct Preview {
    /// The panel the preview draws (the copy, without its queries, so
    /// typing a query does not remount the body).
    shown: Memo<Panel>,
    slot: PanelSlot,
}

impl Preview {
    fn start(edited: RwSignal<Panel>, vars: Signal<Vec<ResolvedVariable>>, range: Signal<TimeRange>) -> Preview {
        let ctx = use_context::<AppContext>();
        let slot = PanelSlot::new();
        let shown = Memo::new(move |_| {
            let mut panel = edited.get();
            panel.id = Some(PREVIEW_ID);
            panel.targets.clear();
            panel
        });
        // What a fetch depends on; `None` while a query does not parse
        // (the preview keeps the last data meanwhile).
        let queries = Memo::new(move |_| {
            edited.with(|p| {
                queries_parse(p).then(|| (p.targets.clone(), p.interval.clone(), p.max_data_points, p.kind.clone()))
            })
        });
        let timer = StoredValue::new(None::<TimeoutHandle>);
        let controller = StoredValue::new_local(None::<web_sys::AbortController>);
        Effect::new(move |_| {
            if queries.with(Option::is_none) {
                return;
            }
            range.track();
            vars.track();
            if let Some(old) = timer.get_value() {
                old.clear();
            }
            let handle = set_timeout_with_handle(
                move || {
                    if let Some(previous) = controller.try_get_value().flatten() {
                        previous.abort();
                    }
                    let Ok(abort) = web_sys::AbortController::new() else { return };
                    controller.set_value(Some(abort.clone()));
                    let raw = range.get_untracked();
                    let Some((from, to)) = resolve(&raw, now_ms()) else {
                        slot.state.set(PanelState::Error(format!("invalid time range {} to {}", raw.from, raw.to)));
                        return;
                    };
                    let mut panel = edited.get_untracked();
                    panel.id = Some(PREVIEW_ID);
                    let width = web_sys::window()
                        .and_then(|w| w.document())
                        .and_then(|d| d.get_element_by_id("panel-editor-preview"))
                        .map_or(800, |e| e.client_width().max(100) as u32);
                    let scrape_ms = ctx.map_or(15_000, |c| c.scrape_ms.get_untracked());
                    let plan = fetching::plan(&[(panel, width)], from, to, &vars.get_untracked(), scrape_ms);
                    let slots = HashMap::from([(PREVIEW_ID, slot)]);
                    spawn_local(async move { fetching::run(plan, slots, abort.signal(), || ()).await });
                },
                PREVIEW_DEBOUNCE,
            );
            timer.set_value(handle.ok());
        });
        on_cleanup(move || {
            if let Some(handle) = timer.try_get_value().flatten() {
                handle.clear();
            }
            if let Some(c) = controller.try_get_value().flatten() {
                c.abort();
            }
        });
        Preview { shown, slot }
    }
}

/// Changes target `index` of the edited panel.
fn update_target(edited: RwSignal<Panel>, index: usize, edit: impl FnOnce(&mut Target)) {
    edited.update(|p| {
        if let Some(t) = p.targets.get_mut(index) {
            edit(t);
        }
    });
}

/// The text of an optional field (empty when unset).
fn text_of(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// One query: its editor and its settings.
#[component]
fn TargetEditor(edited: RwSignal<Panel>, index: usize) -> impl IntoView {
    let read = move |f: fn(&Target) -> String| move || edited.with(|p| p.targets.get(index).map(f).unwrap_or_default());
    let expr =
        RwSignal::new(edited.with_untracked(|p| p.targets.get(index).map(|t| t.expr.clone()).unwrap_or_default()));
    // The query editor owns the text; the panel follows it.
    Effect::new(move |_| {
        let text = expr.get();
        if edited.with_untracked(|p| p.targets.get(index).is_some_and(|t| t.expr != text)) {
            update_target(edited, index, |t| t.expr = text);
        }
    });
    view! {
        <div class="target-editor" data-index=index.to_string()>
            <div class="target-editor-head">
                <input
                    id=format!("panel-editor-refid-{index}")
                    class="target-refid mono"
                    type="text"
                    title="Query name (refId)"
                    prop:value=read(|t| t.ref_id.clone())
                    on:change=move |ev| update_target(edited, index, |t| t.ref_id = event_target_value(&ev))
                />
                <button
                    id=format!("panel-editor-remove-{index}")
                    type="button"
                    title="Remove this query"
                    on:click=move |_| {
                        edited.update(|p| {
                            if index < p.targets.len() {
                                p.targets.remove(index);
                            }
                        })
                    }
                >
                    "Remove"
                </button>
            </div>
            <QueryEditor id=format!("panel-editor-expr-{index}") value=expr />
            <div class="target-editor-options">
                <label>
                    "Legend "
                    <input
                        id=format!("panel-editor-legend-{index}")
                        type="text"
                        placeholder="{{instance}}"
                        prop:value=read(|t| text_of(&t.legend_format))
                        on:input=move |ev| {
                            update_target(edited, index, |t| t.legend_format = Some(event_target_value(&ev)))
                        }
                    />
                </label>
                <label>
                    "Type "
                    <select
                        id=format!("panel-editor-query-type-{index}")
                        on:change=move |ev| {
                            let kind = QueryType::from_name(&event_target_value(&ev));
                            update_target(edited, index, |t| kind.write(t));
                        }
                    >
                        {[(QueryType::Range, "Range"), (QueryType::Instant, "Instant"), (QueryType::Both, "Both")]
                            .into_iter()
                            .map(|(kind, text)| {
                                let selected = move || {
                                    edited.with(|p| p.targets.get(index).is_some_and(|t| QueryType::of(t) == kind))
                                };
                                view! {
                                    <option value=kind.name() prop:selected=selected>
                                        {text}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Min interval "
                    <input
                        id=format!("panel-editor-interval-{index}")
                        type="text"
                        placeholder="e.g. 30s"
                        prop:value=read(|t| text_of(&t.interval))
                        on:change=move |ev| update_target(edited, index, |t| t.interval = Some(event_target_value(&ev)))
                    />
                </label>
            </div>
        </div>
    }
}

/// A labelled `<select>` of `(value, text)` options.
#[component]
fn SelectField(
    id: &'static str,
    label: &'static str,
    options: Vec<(&'static str, &'static str)>,
    value: Signal<String>,
    on_change: Callback<String>,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            // Each option says whether it is selected: a `value` set on the
            // select before its options exist would select nothing.
            <select id=id on:change=move |ev| on_change.run(event_target_value(&ev))>
                {options
                    .into_iter()
                    .map(|(option, text)| {
                        view! {
                            <option value=option prop:selected=move || value.with(|v| v == option)>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}

/// Title, description and the visualisation picker.
#[component]
fn PanelSettings(edited: RwSignal<Panel>) -> impl IntoView {
    view! {
        <fieldset class="options-group">
            <legend>"Panel"</legend>
            <label class="field">
                <span>"Title"</span>
                <input
                    id="panel-editor-title"
                    type="text"
                    prop:value=move || edited.with(|p| p.title.clone())
                    on:input=move |ev| edited.update(|p| p.title = event_target_value(&ev))
                />
            </label>
            <label class="field">
                <span>"Description"</span>
                <input
                    id="panel-editor-description"
                    type="text"
                    prop:value=move || edited.with(|p| text_of(&p.description))
                    on:input=move |ev| edited.update(|p| p.description = Some(event_target_value(&ev)))
                />
            </label>
            <SelectField
                id="panel-editor-type"
                label="Visualisation"
                options=PANEL_TYPES.to_vec()
                value=Signal::derive(move || edited.with(|p| p.kind.clone()))
                on_change=Callback::new(move |kind| edited.update(|p| p.kind = kind))
            />
        </fieldset>
    }
}

/// Unit, decimals, min and max (`fieldConfig.defaults`).
#[component]
fn StandardOptions(edited: RwSignal<Panel>) -> impl IntoView {
    let number = move |read: fn(&Panel) -> Option<f64>| {
        move || edited.with(|p| read(p).map(|v| v.to_string()).unwrap_or_default())
    };
    let set_number = move |write: fn(&mut Panel, Option<f64>)| {
        move |ev: web_sys::Event| {
            if let Ok(v) = parse_optional_number(&event_target_value(&ev)) {
                edited.update(|p| write(p, v));
            }
        }
    };
    view! {
        <fieldset class="options-group">
            <legend>"Standard options"</legend>
            <label class="field">
                <span>"Unit"</span>
                <input
                    id="panel-editor-unit"
                    type="text"
                    list="panel-editor-units"
                    placeholder="none"
                    prop:value=move || edited.with(|p| text_of(&p.field_config.defaults.unit))
                    on:change=move |ev| {
                        let unit = event_target_value(&ev).trim().to_owned();
                        edited.update(|p| p.field_config.defaults.unit = (!unit.is_empty()).then_some(unit));
                    }
                />
                <datalist id="panel-editor-units">
                    {UNITS.iter().map(|u| view! { <option value=*u></option> }).collect_view()}
                </datalist>
            </label>
            <label class="field">
                <span>"Decimals"</span>
                <input
                    id="panel-editor-decimals"
                    type="number"
                    min="0"
                    max="12"
                    placeholder="auto"
                    prop:value=number(|p| p.field_config.defaults.decimals.map(f64::from))
                    on:change=set_number(|p, v| {
                        p.field_config.defaults.decimals = v.map(|v| v.clamp(0.0, 12.0) as u32)
                    })
                />
            </label>
            <label class="field">
                <span>"Min"</span>
                <input
                    id="panel-editor-min"
                    type="number"
                    placeholder="auto"
                    prop:value=number(|p| p.field_config.defaults.min)
                    on:change=set_number(|p, v| p.field_config.defaults.min = v)
                />
            </label>
            <label class="field">
                <span>"Max"</span>
                <input
                    id="panel-editor-max"
                    type="number"
                    placeholder="auto"
                    prop:value=number(|p| p.field_config.defaults.max)
                    on:change=set_number(|p, v| p.field_config.defaults.max = v)
                />
            </label>
        </fieldset>
    }
}

/// Threshold steps and their mode.
#[component]
fn ThresholdOptions(edited: RwSignal<Panel>) -> impl IntoView {
    let thresholds = Memo::new(move |_| edited.with(thresholds_of));
    let count = Memo::new(move |_| thresholds.with(|t| t.steps.len()));
    view! {
        <fieldset class="options-group">
            <legend>"Thresholds"</legend>
            <SelectField
                id="panel-editor-thresholds-mode"
                label="Mode"
                options=vec![("absolute", "Absolute"), ("percentage", "Percentage")]
                value=Signal::derive(move || {
                    let percentage = thresholds.with(|t| t.mode == ThresholdsMode::Percentage);
                    (if percentage { "percentage" } else { "absolute" }).to_owned()
                })
                on_change=Callback::new(move |mode: String| {
                    let mode = if mode == "percentage" { ThresholdsMode::Percentage } else { ThresholdsMode::Absolute };
                    edited.update(|p| edit_thresholds(p, |t| t.mode = mode));
                })
            />
            <ol class="threshold-steps">
                {move || {
                    (0..count.get())
                        .map(|j| {
                            let step = move || thresholds.with(|t| t.steps.get(j).cloned());
                            // Read untracked: the rows are rebuilt when the
                            // number of steps changes, not on every edit.
                            let base = thresholds.with_untracked(|t| t.steps.get(j).is_some_and(|s| s.value.is_none()));
                            view! {
                                <li class="threshold-step">
                                    <input
                                        id=format!("panel-editor-threshold-color-{j}")
                                        class="threshold-color"
                                        type="text"
                                        title="Colour: a name (red) or #rrggbb"
                                        prop:value=move || step().map(|s| s.color).unwrap_or_default()
                                        on:change=move |ev| {
                                            let colour = event_target_value(&ev);
                                            edited.update(|p| edit_thresholds(p, |t| {
                                                if let Some(s) = t.steps.get_mut(j) {
                                                    s.color = colour;
                                                }
                                            }));
                                        }
                                    />
                                    {if base {
                                        view! { <span class="threshold-base">"Base"</span> }.into_any()
                                    } else {
                                        view! {
                                            <input
                                                id=format!("panel-editor-threshold-value-{j}")
                                                type="number"
                                                prop:value=move || {
                                                    step().and_then(|s| s.value).map(|v| v.to_string()).unwrap_or_default()
                                                }
                                                on:change=move |ev| {
                                                    if let Ok(Some(v)) = parse_optional_number(&event_target_value(&ev)) {
                                                        edited.update(|p| edit_thresholds(p, |t| {
                                                            if let Some(s) = t.steps.get_mut(j) {
                                                                s.value = Some(v);
                                                            }
                                                        }));
                                                    }
                                                }
                                            />
                                            <button
                                                id=format!("panel-editor-threshold-remove-{j}")
                                                type="button"
                                                title="Remove this step"
                                                on:click=move |_| {
                                                    edited.update(|p| edit_thresholds(p, |t| remove_threshold(t, j)))
                                                }
                                            >
                                                "×"
                                            </button>
                                        }
                                            .into_any()
                                    }}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ol>
            <button
                id="panel-editor-threshold-add"
                type="button"
                on:click=move |_| edited.update(|p| edit_thresholds(p, add_threshold))
            >
                "+ Threshold"
            </button>
        </fieldset>
    }
}

/// The legend of time series.
#[component]
fn LegendSettings(edited: RwSignal<Panel>) -> impl IntoView {
    let legend = Memo::new(move |_| edited.with(legend_of));
    view! {
        <fieldset class="options-group">
            <legend>"Legend"</legend>
            <label class="check">
                <input
                    id="panel-editor-legend-show"
                    type="checkbox"
                    prop:checked=move || legend.with(|l| l.show_legend && l.display_mode != "hidden")
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        edited.update(|p| edit_legend(p, |l| {
                            l.show_legend = on;
                            if on && l.display_mode == "hidden" {
                                l.display_mode = "list".to_owned();
                            }
                        }));
                    }
                />
                " Show legend"
            </label>
            <SelectField
                id="panel-editor-legend-mode"
                label="Mode"
                options=vec![("list", "List"), ("table", "Table")]
                value=Signal::derive(move || legend.with(|l| l.display_mode.clone()))
                on_change=Callback::new(move |mode| edited.update(|p| edit_legend(p, |l| l.display_mode = mode)))
            />
            <SelectField
                id="panel-editor-legend-placement"
                label="Placement"
                options=vec![("bottom", "Bottom"), ("right", "Right")]
                value=Signal::derive(move || legend.with(|l| l.placement.clone()))
                on_change=Callback::new(move |placement| edited.update(|p| edit_legend(p, |l| l.placement = placement)))
            />
            <div class="legend-calcs">
                <span>"Values"</span>
                {REDUCERS
                    .iter()
                    .map(|calc| {
                        let calc = *calc;
                        view! {
                            <label class="check">
                                <input
                                    id=format!("panel-editor-legend-calc-{calc}")
                                    type="checkbox"
                                    prop:checked=move || legend.with(|l| l.calcs.iter().any(|c| c == calc))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        edited.update(|p| toggle_legend_calc(p, calc, on));
                                    }
                                />
                                {format!(" {calc}")}
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
        </fieldset>
    }
}

/// Draw style, stacking and fill of time series.
#[component]
fn GraphOptions(edited: RwSignal<Panel>) -> impl IntoView {
    view! {
        <fieldset class="options-group">
            <legend>"Graph styles"</legend>
            <SelectField
                id="panel-editor-draw-style"
                label="Style"
                options=vec![("line", "Lines"), ("bars", "Bars"), ("points", "Points")]
                value=Signal::derive(move || edited.with(|p| custom_str(p, "drawStyle", "line")))
                on_change=Callback::new(move |style| edited.update(|p| set_custom(p, "drawStyle", json!(style))))
            />
            <SelectField
                id="panel-editor-stacking"
                label="Stack series"
                options=vec![("none", "Off"), ("normal", "Normal"), ("percent", "100%")]
                value=Signal::derive(move || edited.with(stacking_of))
                on_change=Callback::new(move |mode: String| edited.update(|p| set_stacking(p, &mode)))
            />
            <label class="field">
                <span>"Fill opacity"</span>
                <input
                    id="panel-editor-fill"
                    type="number"
                    min="0"
                    max="100"
                    prop:value=move || {
                        edited.with(|p| {
                            p.field_config.defaults.custom.get("fillOpacity").and_then(Value::as_f64).unwrap_or(0.0).to_string()
                        })
                    }
                    on:change=move |ev| {
                        if let Ok(Some(v)) = parse_optional_number(&event_target_value(&ev)) {
                            edited.update(|p| set_custom(p, "fillOpacity", json!(v.clamp(0.0, 100.0))));
                        }
                    }
                />
            </label>
        </fieldset>
    }
}

/// The reduction of stat, gauge and bar gauge.
#[component]
fn ReduceOption(edited: RwSignal<Panel>) -> impl IntoView {
    view! {
        <fieldset class="options-group">
            <legend>"Value"</legend>
            <SelectField
                id="panel-editor-calc"
                label="Calculation"
                options=REDUCERS.iter().map(|c| (*c, *c)).collect()
                value=Signal::derive(move || edited.with(crate::panels::options::reduce_calc))
                on_change=Callback::new(move |calc: String| edited.update(|p| set_reduce_calc(p, &calc)))
            />
        </fieldset>
    }
}

/// A text panel's markdown.
#[component]
fn TextOptions(edited: RwSignal<Panel>) -> impl IntoView {
    view! {
        <fieldset class="options-group">
            <legend>"Text"</legend>
            <label class="field">
                <span>"Content (Markdown)"</span>
                <textarea
                    id="panel-editor-content"
                    class="mono"
                    rows="10"
                    prop:value=move || edited.with(|p| p.text_content().unwrap_or_default().to_owned())
                    on:input=move |ev| {
                        let content = event_target_value(&ev);
                        edited.update(|p| set_text_content(p, &content));
                    }
                ></textarea>
            </label>
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panels::options::{Stacking, field_options, graph_style, legend_options, reduce_calc};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn panel(json: Value) -> Panel {
        serde_json::from_value(json).expect("a panel")
    }

    /// Through JSON and back, as a save and a reload do.
    fn round_trip(p: &Panel) -> Panel {
        let text = serde_json::to_string(p).expect("serialises");
        serde_json::from_str(&text).expect("reads back")
    }

    #[wasm_bindgen_test]
    fn options_write_the_json_the_renderers_read() {
        let mut p =
            panel(json!({"id": 4, "type": "timeseries", "title": "t", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
            "fieldConfig": {"defaults": {"custom": {"lineWidth": 2, "stacking": {"mode": "none", "group": "B"}}}},
            "options": {"tooltip": {"mode": "multi", "sort": "none"}}, "pluginVersion": "10.0.0"}));
        p.field_config.defaults.unit = Some("bytes".into());
        p.field_config.defaults.decimals = Some(2);
        p.field_config.defaults.min = Some(0.0);
        p.field_config.defaults.max = Some(100.0);
        edit_thresholds(&mut p, |t| {
            t.mode = ThresholdsMode::Percentage;
            add_threshold(t);
        });
        edit_legend(&mut p, |l| {
            l.display_mode = "table".into();
            l.placement = "right".into();
        });
        toggle_legend_calc(&mut p, "max", true);
        toggle_legend_calc(&mut p, "mean", true);
        toggle_legend_calc(&mut p, "lastNotNull", true);
        toggle_legend_calc(&mut p, "mean", false);
        set_stacking(&mut p, "percent");
        set_custom(&mut p, "drawStyle", json!("bars"));
        set_custom(&mut p, "fillOpacity", json!(30.0));
        let p = round_trip(&finished(p));

        let json = serde_json::to_value(&p).expect("json");
        assert_eq!(json["fieldConfig"]["defaults"]["unit"], "bytes");
        assert_eq!(json["fieldConfig"]["defaults"]["thresholds"]["mode"], "percentage");
        assert_eq!(json["fieldConfig"]["defaults"]["custom"]["stacking"], json!({"mode": "percent", "group": "B"}));
        assert_eq!(json["options"]["legend"]["calcs"], json!(["lastNotNull", "max"]));
        // What the editor does not touch survives.
        assert_eq!(json["fieldConfig"]["defaults"]["custom"]["lineWidth"], 2);
        assert_eq!(json["options"]["tooltip"]["mode"], "multi");
        assert_eq!(json["pluginVersion"], "10.0.0");
        assert_eq!((json["id"].clone(), json["gridPos"]["w"].clone()), (json!(4), json!(12)));

        let f = field_options(&p);
        assert_eq!((f.unit.as_str(), f.decimals, f.min, f.max), ("bytes", Some(2), Some(0.0), Some(100.0)));
        let values: Vec<Option<f64>> = f.thresholds.steps.iter().map(|s| s.value).collect();
        assert_eq!(values, vec![None, Some(80.0), Some(90.0)], "Grafana's default steps and one 10 above");
        let l = legend_options(&p);
        assert!(l.show && l.table && l.right);
        let g = graph_style(&p);
        assert_eq!((g.stacking, g.bars, g.lines, g.fill_opacity), (Stacking::Percent, true, false, 30.0));
    }

    #[wasm_bindgen_test]
    fn thresholds_add_remove_and_sort() {
        let mut t = Thresholds { mode: ThresholdsMode::Absolute, steps: Vec::new() };
        add_threshold(&mut t);
        assert_eq!(t.steps.iter().map(|s| s.value).collect::<Vec<_>>(), vec![None, Some(80.0)]);
        add_threshold(&mut t);
        t.steps[2].value = Some(5.0);
        remove_threshold(&mut t, 0);
        assert_eq!(t.steps.len(), 3, "the base step stays");
        sort_thresholds(&mut t);
        assert_eq!(t.steps.iter().map(|s| s.value).collect::<Vec<_>>(), vec![None, Some(5.0), Some(80.0)]);
        remove_threshold(&mut t, 1);
        remove_threshold(&mut t, 7);
        assert_eq!(t.steps.iter().map(|s| s.value).collect::<Vec<_>>(), vec![None, Some(80.0)]);
    }

    #[wasm_bindgen_test]
    fn targets_ref_ids_and_query_types() {
        let mut p = panel(
            json!({"type": "timeseries", "targets": [{"refId": "A", "expr": "up"}, {"refId": "C", "expr": "x"}]}),
        );
        add_target(&mut p);
        add_target(&mut p);
        let ids: Vec<&str> = p.targets.iter().map(|t| t.ref_id.as_str()).collect();
        assert_eq!(ids, ["A", "C", "B", "D"]);
        let many: Vec<Target> =
            (0..26).map(|i| Target { ref_id: char::from(b'A' + i).to_string(), ..Target::default() }).collect();
        assert_eq!(next_ref_id(&many), "A1");

        // (query type, range flag, instant flag)
        let cases = [(QueryType::Range, true, false), (QueryType::Instant, false, true), (QueryType::Both, true, true)];
        for (kind, range, instant) in cases {
            let mut t = Target::default();
            kind.write(&mut t);
            assert_eq!((t.is_range(), t.is_instant()), (range, instant), "{kind:?}");
            let t = round_trip(&panel(json!({"targets": [t]}))).targets.remove(0);
            assert_eq!(QueryType::of(&t), kind);
            assert_eq!(QueryType::from_name(kind.name()), kind);
        }
        assert_eq!(QueryType::of(&Target::default()), QueryType::Range, "Grafana's default");
    }

    #[wasm_bindgen_test]
    fn stat_and_text_options() {
        let mut p = panel(json!({"type": "stat"}));
        set_reduce_calc(&mut p, "max");
        let p = round_trip(&p);
        assert_eq!(reduce_calc(&p), "max");

        let mut p = panel(json!({"type": "text", "content": "old"}));
        set_text_content(&mut p, "# Hello <b>x</b>");
        let p = round_trip(&p);
        assert_eq!(p.text_content(), Some("# Hello <b>x</b>"));
        let json = serde_json::to_value(&p).expect("json");
        assert_eq!((json["options"]["mode"].clone(), json.get("content")), (json!("markdown"), None));
    }

    #[wasm_bindgen_test]
    fn finishing_and_parsing() {
        let p = panel(json!({"type": "timeseries", "description": " ", "interval": "",
            "targets": [{"refId": "A", "expr": "rate(x[$__rate_interval])", "legendFormat": ""}]}));
        assert!(queries_parse(&p), "variables are masked");
        let p = finished(p);
        assert_eq!((p.description, p.interval, p.targets[0].legend_format.clone()), (None, None, None));
        let broken =
            panel(json!({"targets": [{"refId": "A", "expr": "sum("}, {"refId": "B", "expr": "up", "hide": true}]}));
        assert!(!queries_parse(&broken));
        let hidden = panel(json!({"targets": [{"refId": "A", "expr": "sum(", "hide": true}]}));
        assert!(queries_parse(&hidden), "a hidden query does not run");

        // (typed, parsed)
        let cases =
            [("", Ok(None)), (" 12.5 ", Ok(Some(12.5))), ("-3", Ok(Some(-3.0))), ("x", Err(())), ("inf", Err(()))];
        for (text, want) in cases {
            assert_eq!(parse_optional_number(text), want, "{text:?}");
        }
    }

    // The component itself, mounted in the page: controls write the copy,
    // Apply hands it back whole, Discard hands back nothing.

    use wasm_bindgen::JsCast;

    fn document() -> web_sys::Document {
        web_sys::window().and_then(|w| w.document()).expect("a document")
    }

    fn element(host: &web_sys::Element, selector: &str) -> web_sys::HtmlElement {
        host.query_selector(selector)
            .ok()
            .flatten()
            .and_then(|e| e.dyn_into().ok())
            .unwrap_or_else(|| panic!("no {selector} in the editor"))
    }

    /// Sets a form control's value and sends the event Leptos listens to.
    fn type_into(host: &web_sys::Element, selector: &str, value: &str, event: &str) {
        let target = element(host, selector);
        if let Some(input) = target.dyn_ref::<web_sys::HtmlInputElement>() {
            input.set_value(value);
        } else if let Some(area) = target.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            area.set_value(value);
        } else if let Some(select) = target.dyn_ref::<web_sys::HtmlSelectElement>() {
            select.set_value(value);
        }
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        let ev = web_sys::Event::new_with_event_init_dict(event, &init).expect("an event");
        target.dispatch_event(&ev).expect("dispatched");
    }

    async fn settle() {
        gloo_timers::future::sleep(std::time::Duration::from_millis(50)).await;
    }

    #[wasm_bindgen_test]
    async fn editing_then_apply_hands_back_the_edited_panel() {
        let host = document().create_element("div").expect("div");
        document().body().expect("body").append_child(&host).expect("appended");
        let applied = RwSignal::new(None::<Panel>);
        let cancelled = RwSignal::new(0);
        let original = panel(json!({"id": 12, "type": "timeseries", "title": "Old",
            "gridPos": {"x": 6, "y": 3, "w": 12, "h": 9},
            "fieldConfig": {"defaults": {"custom": {"stacking": {"mode": "normal"}}}},
            "options": {"legend": {"placement": "right"}},
            "targets": [{"refId": "A", "expr": "up", "instant": true, "range": false}]}));
        let mount_panel = original.clone();
        let handle = leptos::mount::mount_to(host.clone().dyn_into().expect("an HtmlElement"), move || {
            view! {
                <PanelEditor
                    panel=mount_panel
                    vars=Signal::derive(Vec::new)
                    range=Signal::derive(|| TimeRange { from: "now-1h".into(), to: "now".into() })
                    on_apply=Callback::new(move |p| applied.set(Some(p)))
                    on_cancel=Callback::new(move |()| cancelled.update(|n| *n += 1))
                />
            }
        });
        settle().await;
        // The pickers show the panel's settings from the start.
        let shown =
            |selector: &str| element(&host, selector).dyn_into::<web_sys::HtmlSelectElement>().ok().map(|s| s.value());
        assert_eq!(shown("#panel-editor-type").as_deref(), Some("timeseries"));
        assert_eq!(shown("#panel-editor-stacking").as_deref(), Some("normal"));
        assert_eq!(shown("#panel-editor-legend-placement").as_deref(), Some("right"));
        assert_eq!(shown("#panel-editor-query-type-0").as_deref(), Some("instant"));

        type_into(&host, "#panel-editor-title", "New <b>title</b>", "input");
        type_into(&host, "#panel-editor-unit", "bytes", "change");
        element(&host, "#panel-editor-threshold-add").click();
        settle().await;
        type_into(&host, "#panel-editor-threshold-value-2", "95", "change");
        // A broken query is underlined in its editor, and fixed.
        type_into(&host, "#panel-editor-expr-0", "sum(", "input");
        settle().await;
        assert!(host.query_selector("#panel-editor-expr-0-error.query-error").ok().flatten().is_some());
        type_into(&host, "#panel-editor-expr-0", "sum(up)", "input");
        settle().await;
        element(&host, "#panel-editor-add-target").click();
        settle().await;
        type_into(&host, "#panel-editor-expr-1", "rate(x[$__rate_interval])", "input");
        type_into(&host, "#panel-editor-legend-1", "{{job}}", "input");
        type_into(&host, "#panel-editor-query-type-1", "instant", "change");
        settle().await;
        assert!(host.query_selector(".query-error").ok().flatten().is_none(), "both queries parse");
        // Switching to stat swaps the options: a calculation, no legend.
        type_into(&host, "#panel-editor-type", "stat", "change");
        settle().await;
        assert!(host.query_selector("#panel-editor-legend-show").ok().flatten().is_none());
        type_into(&host, "#panel-editor-calc", "max", "change");
        settle().await;
        // The title reaches the preview as text, never as markup.
        let title = element(&host, "#panel-editor-preview .panel-title");
        assert_eq!(title.text_content().as_deref(), Some("New <b>title</b>"));
        assert!(title.query_selector("b").ok().flatten().is_none());

        element(&host, "#panel-editor-apply").click();
        settle().await;
        let got = applied.get_untracked().expect("Apply hands the panel back");
        assert_eq!((got.id, got.grid_pos), (original.id, original.grid_pos), "id and position are kept");
        assert_eq!((got.title.as_str(), got.kind.as_str()), ("New <b>title</b>", "stat"));
        assert_eq!(got.field_config.defaults.unit.as_deref(), Some("bytes"));
        let steps: Vec<Option<f64>> = thresholds_of(&got).steps.iter().map(|s| s.value).collect();
        assert_eq!(steps, vec![None, Some(80.0), Some(95.0)]);
        assert_eq!(reduce_calc(&got), "max");
        let targets: Vec<(&str, &str, Option<&str>, QueryType)> = got
            .targets
            .iter()
            .map(|t| (t.ref_id.as_str(), t.expr.as_str(), t.legend_format.as_deref(), QueryType::of(t)))
            .collect();
        assert_eq!(
            targets,
            vec![
                ("A", "sum(up)", None, QueryType::Instant),
                ("B", "rate(x[$__rate_interval])", Some("{{job}}"), QueryType::Instant)
            ]
        );
        assert_eq!(cancelled.get_untracked(), 0);
        element(&host, "#panel-editor-discard").click();
        assert_eq!(cancelled.get_untracked(), 1, "Discard hands back nothing");
        drop(handle);
        host.remove();
    }
}
