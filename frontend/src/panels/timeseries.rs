//! The time-series panel: fetches a range query for the last
//! `range_seconds` (15 minutes by default), refreshes every 5 seconds, and
//! draws on its canvas.
//!
//! The panel root reports what it shows in `data-state` (`loading`,
//! `drawn`, `error`), `data-series` and `data-points`, so tests and tools
//! can tell a drawn graph from an empty page.

use std::time::Duration;

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;

use super::draw::{self, Drawn};
use crate::api::{self, RangeQuery};

const REFRESH: Duration = Duration::from_secs(5);
const WIDTH: u32 = 900;
const HEIGHT: u32 = 300;

#[derive(Debug, Clone, PartialEq)]
enum PanelState {
    Loading,
    Drawn(Drawn),
    Error(String),
}

/// One legend row: the series' labels and its colour.
#[derive(Debug, Clone, PartialEq)]
struct LegendItem {
    label: String,
    colour: String,
}

#[component]
pub fn TimeSeriesPanel(expr: ReadSignal<String>, range_seconds: i64) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let state = RwSignal::new(PanelState::Loading);
    let legend = RwSignal::new(Vec::<LegendItem>::new());
    // Each fetch takes a number; only the newest may write its result, so a
    // slow answer for an old expression never overwrites a newer one.
    let generation = StoredValue::new(0u64);

    let refresh = move || {
        let expr_now = expr.get_untracked();
        let this = generation.get_value() + 1;
        generation.set_value(this);
        spawn_local(async move {
            let end = (js_sys::Date::now() / 1000.0).ceil() as i64;
            let start = end - range_seconds;
            let step_seconds = (range_seconds / i64::from(WIDTH)).max(1);
            let query = RangeQuery { expr: expr_now, start, end, step_seconds };
            let result = api::query_range(&query).await;
            if generation.get_value() != this {
                return;
            }
            let Some(canvas) = canvas.get_untracked() else { return };
            match result {
                Ok(series) => {
                    let backend = CanvasBackend::with_canvas_object(canvas);
                    let drawn = backend.ok_or_else(|| "the canvas has no 2D context".to_owned()).and_then(|backend| {
                        draw::draw_time_series(
                            &backend.into_drawing_area(),
                            &series,
                            start * 1000,
                            end * 1000,
                            step_seconds * 1000,
                        )
                    });
                    legend.set(
                        series
                            .iter()
                            .map(|s| {
                                let label = s.metric.to_string();
                                let c = draw::series_colour(&label);
                                LegendItem { colour: format!("rgb({},{},{})", c.0, c.1, c.2), label }
                            })
                            .collect(),
                    );
                    state.set(match drawn {
                        Ok(drawn) => PanelState::Drawn(drawn),
                        Err(e) => PanelState::Error(format!("cannot draw: {e}")),
                    });
                }
                Err(message) => {
                    legend.set(Vec::new());
                    state.set(PanelState::Error(message));
                }
            }
        });
    };

    // A new expression fetches at once (this also runs the first fetch).
    Effect::new(move |_| {
        expr.track();
        refresh();
    });
    // The graph stays live.
    if let Ok(handle) = set_interval_with_handle(refresh, REFRESH) {
        on_cleanup(move || handle.clear());
    }

    let data_state = move || match state.get() {
        PanelState::Loading => "loading",
        PanelState::Drawn(_) => "drawn",
        PanelState::Error(_) => "error",
    };
    let drawn = move || match state.get() {
        PanelState::Drawn(d) => d,
        _ => Drawn::default(),
    };
    view! {
        <section class="panel" id="panel-0" data-state=data_state data-series=move || drawn().series.to_string()
            data-points=move || drawn().points.to_string()>
            <div class="panel-header">
                <span class="panel-title">{move || expr.get()}</span>
                <span class="panel-range">{format!("last {} · refreshes every 5s", describe_range(range_seconds))}</span>
            </div>
            <canvas id="panel-0-canvas" node_ref=canvas width=WIDTH.to_string() height=HEIGHT.to_string()></canvas>
            {move || match state.get() {
                PanelState::Error(message) => Some(view! { <div class="panel-error">{message}</div> }),
                _ => None,
            }}
            <ul class="legend">
                <For each=move || legend.get() key=|item| item.label.clone() let:item>
                    <li>
                        <span class="swatch" style:background-color=item.colour.clone()></span>
                        <span class="series-labels">{item.label.clone()}</span>
                    </li>
                </For>
            </ul>
        </section>
    }
}

/// "15 minutes", "30 seconds", "2 hours".
fn describe_range(seconds: i64) -> String {
    let (n, unit) = if seconds % 3600 == 0 {
        (seconds / 3600, "hour")
    } else if seconds % 60 == 0 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}
