//! Stand-in for `panels::PanelBody` (branch `panels`), with its exact
//! signature: a time-series canvas through the existing `panels::draw`, the
//! last value for stat-like panels, text for text panels, a placeholder
//! for other types, and the error text for `PanelState::Error`. The root
//! carries `data-state`, `data-series` and `data-points`.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;
use vigil_shared::model::api::{RangeSeries, SamplePoint};

use vigil_shared::dashboard::Panel;
use crate::panels::data::{PanelData, PanelState};
use crate::panels::draw;

/// The plot area's left and right insets in `draw::draw_time_series`
/// (margin + label area; margin), to map a drag to times.
const PLOT_LEFT: f64 = 76.0;
const PLOT_RIGHT: f64 = 12.0;

fn is_graph(panel_type: &str) -> bool {
    matches!(panel_type, "timeseries" | "graph" | "trend" | "barchart" | "heatmap" | "state-timeline")
}

fn is_single_value(panel_type: &str) -> bool {
    matches!(panel_type, "stat" | "singlestat" | "gauge" | "bargauge")
}

fn as_range_series(data: &PanelData) -> Vec<RangeSeries> {
    data.series
        .iter()
        .map(|s| RangeSeries {
            metric: s.labels.clone(),
            values: s.points.iter().map(|&(timestamp_ms, value)| SamplePoint { timestamp_ms, value }).collect(),
        })
        .collect()
}

#[component]
pub fn PanelBody(panel: Panel, state: Signal<PanelState>, on_zoom: Callback<(i64, i64)>) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let drawn = RwSignal::new((0usize, 0usize));
    let panel_type = panel.kind.clone();
    let graph = is_graph(&panel_type);
    let single = is_single_value(&panel_type);
    let known = graph || single || matches!(panel_type.as_str(), "text" | "row" | "table");

    // Draw whenever the state changes (this runs after mount, so the
    // canvas has its laid-out size).
    Effect::new(move |_| {
        let current = state.get();
        let PanelState::Ready(data) = current else {
            drawn.set((0, 0));
            return;
        };
        let points: usize = data.series.iter().map(|s| s.points.iter().filter(|p| p.1.is_finite()).count()).sum();
        if !graph {
            drawn.set((data.series.len(), points));
            return;
        }
        let Some(canvas) = canvas.get_untracked() else { return };
        let (w, h) = (canvas.client_width().max(100) as u32, canvas.client_height().max(60) as u32);
        canvas.set_width(w);
        canvas.set_height(h);
        let Some(backend) = CanvasBackend::with_canvas_object(canvas) else { return };
        let series = as_range_series(&data);
        let step = data.series.iter().find_map(|s| s.points.windows(2).map(|p| p[1].0 - p[0].0).min()).unwrap_or(1000);
        if let Ok(d) = draw::draw_time_series(&backend.into_drawing_area(), &series, data.start_ms, data.end_ms, step)
        {
            drawn.set((d.series, d.points));
        }
    });

    // Drag-select on the graph: a time range to zoom into.
    let drag_start = StoredValue::new(None::<f64>);
    let x_to_time = move |x: f64| -> Option<i64> {
        let PanelState::Ready(data) = state.get_untracked() else { return None };
        let width = f64::from(canvas.get_untracked()?.client_width()) - PLOT_LEFT - PLOT_RIGHT;
        let fraction = ((x - PLOT_LEFT) / width.max(1.0)).clamp(0.0, 1.0);
        Some(data.start_ms + (fraction * (data.end_ms - data.start_ms) as f64) as i64)
    };

    let data_state = move || match state.get() {
        PanelState::Loading => "loading",
        PanelState::Ready(_) => "drawn",
        PanelState::Error(_) => "error",
    };
    let single_value = move || match state.get() {
        PanelState::Ready(data) => data
            .series
            .first()
            .and_then(|s| s.points.last())
            .map_or_else(|| "No data".to_owned(), |p| vigil_shared::model::api::format_value(p.1)),
        _ => String::new(),
    };
    let text = panel.text_content().unwrap_or_default().to_owned();
    view! {
        <div
            class="panel-body"
            data-state=data_state
            data-series=move || drawn.get().0.to_string()
            data-points=move || drawn.get().1.to_string()
        >
            {graph
                .then(|| {
                    view! {
                        <canvas
                            class="panel-canvas"
                            node_ref=canvas
                            on:mousedown=move |ev| drag_start.set_value(Some(f64::from(ev.offset_x())))
                            on:mouseup=move |ev| {
                                let end = f64::from(ev.offset_x());
                                if let Some(start) = drag_start.get_value().take() {
                                    drag_start.set_value(None);
                                    if (end - start).abs() > 4.0
                                        && let (Some(a), Some(b)) = (x_to_time(start.min(end)), x_to_time(start.max(end)))
                                    {
                                        on_zoom.run((a, b));
                                    }
                                }
                            }
                        ></canvas>
                    }
                })}
            {single.then(|| view! { <div class="panel-stat">{single_value}</div> })}
            {(panel_type == "text").then(|| view! { <div class="panel-text">{text}</div> })}
            {(!known).then(|| view! { <div class="panel-placeholder">{format!("Panel type “{panel_type}” is not supported yet")}</div> })}
            {move || match state.get() {
                PanelState::Error(message) => Some(view! { <div class="panel-error">{message}</div> }),
                _ => None,
            }}
        </div>
    }
}
