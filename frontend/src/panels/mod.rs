//! Panel renderers: given a panel's settings (`vigil_shared::dashboard::Panel`) and its data, draw the body.
//! [`PanelBody`] is the one entry point; it dispatches on the panel type to
//! a body per type. Each graph type has its drawing as a pure function of
//! data, size and options onto a plotters `DrawingArea` (testable on any
//! backend) and a small component owning the canvas; the table and the text
//! panel build DOM nodes.
//!
//! Architecture invariants: renderers never fetch (the page hands them a
//! [`data::PanelState`]); strings from dashboards and series (titles,
//! labels, legend text, markdown) only ever become text nodes or attribute
//! values, never HTML.

pub mod axes;
pub mod bargauge;
#[cfg(test)]
mod browser_tests;
pub mod canvas;
pub mod data;
pub mod gauge;
pub mod heatmap;
pub mod legend;
pub mod options;
pub mod render;
pub mod stat;
pub mod table;
pub mod text;
pub mod timeseries;

use std::rc::Rc;

use leptos::prelude::*;

use data::{PanelData, PanelState};

pub use vigil_shared::dashboard::Panel;

/// A time-series panel with Grafana's defaults, for pages that graph a
/// query without a dashboard (Explore).
pub fn timeseries_panel(id: i64, title: &str) -> Panel {
    use vigil_shared::dashboard::model::{FieldConfig, PanelOptions};
    Panel {
        id: Some(id),
        kind: "timeseries".to_owned(),
        title: title.to_owned(),
        description: None,
        grid_pos: None,
        datasource: None,
        targets: Vec::new(),
        field_config: FieldConfig::default(),
        options: PanelOptions::default(),
        interval: None,
        max_data_points: None,
        collapsed: None,
        panels: Vec::new(),
        extra: serde_json::Map::new(),
    }
}

/// The panel's DOM id number (`panel-{id}`): 0 when the dashboard gave none.
pub fn panel_id(panel: &Panel) -> i64 {
    panel.id.unwrap_or(0)
}

/// What a body drew, reported on the panel as `data-series` and
/// `data-points`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drawn {
    pub series: usize,
    pub points: usize,
}

/// The panel types this module draws, with the legacy names Grafana's
/// import maps to them.
fn canonical_type(panel_type: &str) -> &str {
    match panel_type {
        "graph" => "timeseries",
        "singlestat" => "stat",
        "table-old" => "table",
        other => other,
    }
}

/// The body of a panel: draws `state` as `panel.kind` (its `type`) says, fills its
/// box, and reports on its root `data-state` (`loading`, `drawn` once the
/// data is on screen, `error`), `data-series` and `data-points`. Errors show
/// as text inside the panel; an unknown type shows a placeholder.
#[component]
pub fn PanelBody(
    panel: Panel,
    #[prop(into)] state: Signal<PanelState>,
    on_zoom: Callback<(i64, i64)>,
) -> impl IntoView {
    let drawn = RwSignal::new(None::<Drawn>);
    let data: Memo<Option<PanelData>> = Memo::new(move |_| match state.get() {
        PanelState::Ready(d) => Some(d),
        _ => None,
    });
    let kind = canonical_type(&panel.kind).to_owned();
    // Text and the placeholder of an unknown type need no data: they are
    // final as soon as they are mounted, so the page's "all drawn" mark does
    // not wait for them.
    let always_drawn = !matches!(kind.as_str(), "timeseries" | "stat" | "gauge" | "bargauge" | "heatmap" | "table");
    // `drawn` once a body has drawn data; it keeps the last drawing's counts
    // while a refresh draws the next.
    let data_state =
        move || match state.with(|s| (matches!(s, PanelState::Error(_)), matches!(s, PanelState::Ready(_)))) {
            (true, _) => "error",
            _ if always_drawn => "drawn",
            (false, true) if drawn.get().is_some() => "drawn",
            _ => "loading",
        };
    let counts = move || drawn.get().unwrap_or_default();
    let data = Signal::from(data);
    let body = match kind.as_str() {
        "timeseries" => view! { <timeseries::TimeSeriesBody panel=panel.clone() data drawn on_zoom /> }.into_any(),
        "stat" => canvas_body(&panel, data, drawn, Rc::new(stat::draw_panel)),
        "gauge" => canvas_body(&panel, data, drawn, Rc::new(gauge::draw_panel)),
        "bargauge" => canvas_body(&panel, data, drawn, Rc::new(bargauge::draw_panel)),
        "heatmap" => canvas_body(&panel, data, drawn, Rc::new(heatmap::draw_panel)),
        "table" => view! { <table::TableBody panel=panel.clone() data drawn /> }.into_any(),
        "text" => view! { <text::TextBody panel=panel.clone() /> }.into_any(),
        other => {
            let message = format!("Panel type `{other}` is not supported");
            view! { <div class="panel-unsupported">{message}</div> }.into_any()
        }
    };
    view! {
        <div class="panel-body" data-state=data_state data-series=move || counts().series.to_string()
            data-points=move || counts().points.to_string()>
            {body}
            {move || {
                state
                    .with(|s| match s {
                        PanelState::Error(message) => Some(message.clone()),
                        _ => None,
                    })
                    .map(|message| view! { <div class="panel-error">{message}</div> })
            }}
        </div>
    }
}

/// Draws a whole canvas panel: data, size (device pixels), ratio, theme.
pub type DrawPanel = dyn Fn(
    &plotters::drawing::DrawingArea<plotters_canvas::CanvasBackend, plotters::coord::Shift>,
    &Panel,
    &PanelData,
    &canvas::Theme,
    f64,
) -> Result<Drawn, String>;

fn canvas_body(
    panel: &Panel,
    data: Signal<Option<PanelData>>,
    drawn: RwSignal<Option<Drawn>>,
    draw: Rc<DrawPanel>,
) -> AnyView {
    view! { <CanvasBody panel=panel.clone() data drawn draw /> }.into_any()
}

/// A body that is one canvas filling its box, redrawn when the data or the
/// box's size change.
#[component]
fn CanvasBody(
    panel: Panel,
    data: Signal<Option<PanelData>>,
    drawn: RwSignal<Option<Drawn>>,
    draw: Rc<DrawPanel>,
) -> impl IntoView {
    use plotters::prelude::IntoDrawingArea;
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let plot = NodeRef::<leptos::html::Div>::new();
    let size = canvas::observe_size(plot);
    let theme_version = canvas::observe_theme();
    let canvas_id = format!("panel-{}-canvas", panel_id(&panel));
    Effect::new(move |_| {
        let (w, h) = size.get();
        theme_version.track();
        let Some(data) = data.get() else { return };
        if w < 2.0 || h < 2.0 {
            return;
        }
        let Some(element) = canvas.get() else { return };
        let Some((backend, ratio)) = canvas::backend_for(&element, (w, h), false) else { return };
        let theme = canvas::Theme::from_page();
        match draw(&backend.into_drawing_area(), &panel, &data, &theme, ratio) {
            Ok(d) => drawn.set(Some(d)),
            Err(e) => leptos::logging::warn!("panel {}: cannot draw: {e}", panel_id(&panel)),
        }
    });
    view! {
        <div class="panel-plot" node_ref=plot>
            <canvas id=canvas_id node_ref=canvas></canvas>
        </div>
    }
}
