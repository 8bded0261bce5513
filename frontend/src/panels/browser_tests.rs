//! Renderer tests that need a browser: drawing on a real canvas (pixels
//! read back), the cost of drawing (timed with `performance.now()`), and
//! `PanelBody` mounted into the page (its `data-*` attributes, the
//! placeholder, inert hostile strings). Run by `cargo test -p
//! vigil-frontend --target wasm32-unknown-unknown --release` in headless
//! Chromium (`CHROMEDRIVER=/usr/bin/chromedriver`).

use std::time::Duration;

use leptos::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;
use serde_json::json;
use vigil_shared::model::labels::Labels;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlElement};

use super::canvas::Theme;
use super::data::{PanelData, PanelState, SeriesData};
use super::options::{FieldOptions, GraphStyle, Stacking, field_options, graph_style};
use super::render::labels_colour;
use super::timeseries::{GraphInput, Layer, draw_graph};
use super::{Panel, PanelBody};

fn document() -> web_sys::Document {
    web_sys::window().and_then(|w| w.document()).expect("a document")
}

fn now() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

fn canvas(width: u32, height: u32) -> HtmlCanvasElement {
    let c: HtmlCanvasElement = document().create_element("canvas").expect("canvas").dyn_into().expect("a canvas");
    c.set_width(width);
    c.set_height(height);
    document().body().expect("body").append_child(&c).expect("appended");
    c
}

/// Pixels whose colour is `colour` (±6 per channel).
fn pixels_of(c: &HtmlCanvasElement, colour: (u8, u8, u8)) -> usize {
    let ctx: CanvasRenderingContext2d =
        c.get_context("2d").ok().flatten().expect("2d").dyn_into().expect("a 2d context");
    let data = ctx.get_image_data(0.0, 0.0, f64::from(c.width()), f64::from(c.height())).expect("pixels").data();
    let near = |a: u8, b: u8| a.abs_diff(b) <= 6;
    data.chunks_exact(4).filter(|p| near(p[0], colour.0) && near(p[1], colour.1) && near(p[2], colour.2)).count()
}

/// `n` series of `points` points each, one every 15 s, as wavy lines.
fn series(n: usize, points: usize) -> Vec<SeriesData> {
    (0..n)
        .map(|i| {
            let instance = format!("host-{i}:9100");
            SeriesData {
                ref_id: "A".into(),
                labels: Labels::from_pairs([("__name__", "node_load1"), ("instance", instance.as_str())]),
                name: instance.clone(),
                points: (0..points)
                    .map(|j| (j as i64 * 15_000, (i as f64 + 1.0) * (1.0 + (j as f64 / 40.0 + i as f64).sin())))
                    .collect(),
            }
        })
        .collect()
}

fn layers(series: &[SeriesData], stacking: Stacking) -> Vec<Layer> {
    let visible: Vec<_> = series.iter().map(|s| (labels_colour(&s.labels), s.points.as_slice())).collect();
    super::timeseries::stack(&visible, stacking)
}

/// A panel from dashboard JSON, as the dashboard model reads it.
fn panel(json: serde_json::Value) -> Panel {
    serde_json::from_value(json).expect("a panel")
}

fn field() -> FieldOptions {
    field_options(&panel(json!({})))
}

fn style() -> GraphStyle {
    graph_style(&panel(json!({})))
}

/// Draws `layers` on a fresh 600×300 canvas; returns the canvas and the
/// milliseconds the draw took.
fn draw(layers: &[Layer], end_ms: i64, style: &GraphStyle) -> (HtmlCanvasElement, f64, super::Drawn) {
    let c = canvas(600, 300);
    let backend = CanvasBackend::with_canvas_object(c.clone()).expect("a canvas backend");
    let field = field();
    let input =
        GraphInput { layers, from_ms: 0, to_ms: end_ms, field: &field, style, theme: &Theme::LIGHT, ratio: 1.0 };
    let start = now();
    let (drawn, _) = draw_graph(&backend.into_drawing_area(), &input).expect("drawn");
    (c, now() - start, drawn)
}

#[wasm_bindgen_test]
fn time_series_draws_lines_in_series_colours() {
    let data = series(20, 720);
    let layers = layers(&data, Stacking::None);
    // Warm up once (fonts, JIT), then the median of five.
    let _ = draw(&layers, 720 * 15_000, &style());
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let (c, ms, drawn) = draw(&layers, 720 * 15_000, &style());
        times.push(ms);
        last = Some((c, drawn));
    }
    times.sort_by(f64::total_cmp);
    let (c, drawn) = last.expect("drawn");
    console_log!("PERF 20 series x 720 points on 600x300: median {:.1} ms (runs {:?})", times[2], times);
    assert_eq!((drawn.series, drawn.points), (20, 20 * 720));
    // Every series' colour is on the canvas.
    for s in &data {
        let colour = labels_colour(&s.labels);
        let n = pixels_of(&c, (colour.0, colour.1, colour.2));
        assert!(n > 20, "{} has only {n} pixels of its colour {colour:?}", s.name);
    }
}

#[wasm_bindgen_test]
fn time_series_with_a_million_points_is_bounded_by_pixels() {
    let data = series(100, 10_000);
    let layers = layers(&data, Stacking::None);
    let (_, ms, drawn) = draw(&layers, 10_000 * 15_000, &style());
    console_log!("PERF 100 series x 10000 points on 600x300: {:.1} ms", ms);
    assert_eq!(drawn.points, 1_000_000);
}

#[wasm_bindgen_test]
fn stacked_fill_covers_the_area_under_the_lines() {
    let data = series(3, 100);
    let mut style = style();
    style.fill_opacity = 100.0;
    style.stacking = Stacking::Normal;
    let (c, _, _) = draw(&layers(&data, Stacking::Normal), 100 * 15_000, &style);
    // Opaque fills: each series' colour covers a large area.
    for s in &data {
        let colour = labels_colour(&s.labels);
        let n = pixels_of(&c, (colour.0, colour.1, colour.2));
        assert!(n > 2000, "{}: {n} pixels", s.name);
    }
}

#[wasm_bindgen_test]
fn stat_gauge_and_bar_gauge_show_the_threshold_colour() {
    let red = (0xf2, 0x49, 0x5c);
    let data = PanelData { series: series(1, 50), start_ms: 0, end_ms: 50 * 15_000 };
    // Thresholds: red from 0, so the value is red whatever it is.
    let field_config = json!({"defaults": {"thresholds": {"mode": "absolute", "steps": [
        {"color": "green", "value": null}, {"color": "red", "value": 0}]}}});
    for kind in ["stat", "gauge", "bargauge"] {
        let panel = panel(json!({"type": kind, "fieldConfig": field_config}));
        let c = canvas(300, 200);
        let backend = CanvasBackend::with_canvas_object(c.clone()).expect("backend");
        let area = backend.into_drawing_area();
        let drawn = match kind {
            "stat" => super::stat::draw_panel(&area, &panel, &data, &Theme::LIGHT, 1.0),
            "gauge" => super::gauge::draw_panel(&area, &panel, &data, &Theme::LIGHT, 1.0),
            _ => super::bargauge::draw_panel(&area, &panel, &data, &Theme::LIGHT, 1.0),
        }
        .expect("drawn");
        assert_eq!(drawn.series, 1, "{kind}");
        let n = pixels_of(&c, red);
        assert!(n > 300, "{kind}: only {n} red pixels");
    }
}

#[wasm_bindgen_test]
fn heatmap_draws_histogram_cells() {
    let bucket = |le: &str, scale: f64| SeriesData {
        ref_id: "A".into(),
        labels: Labels::from_pairs([("__name__", "h_bucket"), ("le", le)]),
        name: le.into(),
        points: (0..60).map(|j| (j * 15_000, scale * j as f64)).collect(),
    };
    let data = PanelData {
        series: vec![bucket("0.1", 1.0), bucket("1", 3.0), bucket("+Inf", 4.0)],
        start_ms: 0,
        end_ms: 60 * 15_000,
    };
    let c = canvas(600, 300);
    let backend = CanvasBackend::with_canvas_object(c.clone()).expect("backend");
    let panel = panel(json!({"type": "heatmap"}));
    let drawn =
        super::heatmap::draw_panel(&backend.into_drawing_area(), &panel, &data, &Theme::LIGHT, 1.0).expect("drawn");
    // 59 columns × 3 buckets, the first column all zero.
    assert_eq!(drawn.points, 59 * 3);
    // Per-bucket counts are j, 2j, j: the last column's middle bucket is
    // the largest, in the scale's deepest colour.
    let deep = super::heatmap::scale_colour(1.0);
    assert!(pixels_of(&c, (deep.0, deep.1, deep.2)) > 20);
}

/// Mounts `PanelBody` in a sized box and returns the box.
fn mount(panel: Panel, state: PanelState) -> (HtmlElement, RwSignal<PanelState>) {
    mount_with_zoom(panel, state, Callback::new(|_| {}))
}

fn mount_with_zoom(
    panel: Panel,
    state: PanelState,
    on_zoom: Callback<(i64, i64)>,
) -> (HtmlElement, RwSignal<PanelState>) {
    let host: HtmlElement = document().create_element("div").expect("div").dyn_into().expect("element");
    host.style().set_property("width", "600px").expect("style");
    host.style().set_property("height", "300px").expect("style");
    host.style().set_property("display", "flex").expect("style");
    document().body().expect("body").append_child(&host).expect("appended");
    let state = RwSignal::new(state);
    let handle = leptos::mount::mount_to(host.clone(), move || {
        view! { <PanelBody panel=panel state=state on_zoom=on_zoom /> }
    });
    handle.forget();
    (host, state)
}

async fn settle() {
    gloo_timers::future::sleep(Duration::from_millis(150)).await;
}

fn body_attr(host: &HtmlElement, name: &str) -> String {
    host.query_selector(".panel-body").ok().flatten().and_then(|b| b.get_attribute(name)).unwrap_or_default()
}

#[wasm_bindgen_test]
async fn panel_body_reports_state_and_counts() {
    let (host, state) = mount(super::timeseries_panel(7, "t"), PanelState::Loading);
    settle().await;
    assert_eq!(body_attr(&host, "data-state"), "loading");
    state.set(PanelState::Ready(PanelData { series: series(3, 40), start_ms: 0, end_ms: 40 * 15_000 }));
    settle().await;
    assert_eq!(body_attr(&host, "data-state"), "drawn");
    assert_eq!(body_attr(&host, "data-series"), "3");
    assert_eq!(body_attr(&host, "data-points"), "120");
    assert!(host.query_selector("#panel-7-canvas").ok().flatten().is_some(), "canvas id");
    assert_eq!(host.query_selector_all(".legend-item").expect("legend").length(), 3);
    state.set(PanelState::Error("parse error: boom".into()));
    settle().await;
    assert_eq!(body_attr(&host, "data-state"), "error");
    let error = host.query_selector(".panel-error").ok().flatten().and_then(|e| e.text_content());
    assert_eq!(error.as_deref(), Some("parse error: boom"));
}

#[wasm_bindgen_test]
async fn unknown_types_and_hostile_strings_stay_inert() {
    let hostile = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=1</script>";
    let (host, _) = mount(panel(json!({"type": hostile, "title": hostile})), PanelState::Loading);
    settle().await;
    let text = host.text_content().unwrap_or_default();
    assert!(text.contains("is not supported") && text.contains("<script>"), "{text}");
    assert_eq!(host.query_selector_all("script, img").expect("query").length(), 0);
    // The placeholder is all an unknown type will ever show: final at once,
    // so the dashboard's "all panels drawn" mark never waits for it.
    assert_eq!(body_attr(&host, "data-state"), "drawn");

    let markdown = format!("# Hello\n\n{hostile}\n\n[x](javascript:window.__pwned=1) [ok](https://grafana.com)\n");
    let (host, _) = mount(
        panel(json!({"type": "text", "options": {"content": markdown}})),
        PanelState::Ready(PanelData::default()),
    );
    settle().await;
    assert_eq!(host.query_selector_all("script, img").expect("query").length(), 0);
    assert_eq!(host.query_selector("h1").ok().flatten().and_then(|h| h.text_content()).as_deref(), Some("Hello"));
    let links = host.query_selector_all("a").expect("links");
    assert_eq!(links.length(), 1, "only the https link is a link");
    assert_eq!(body_attr(&host, "data-state"), "drawn");

    // Series names with markup in the legend and the table are text.
    let mut hostile_series = series(1, 3);
    hostile_series[0].name = hostile.into();
    hostile_series[0].labels = Labels::from_pairs([("job", hostile)]);
    for kind in ["timeseries", "table"] {
        let (host, _) = mount(
            panel(json!({"type": kind})),
            PanelState::Ready(PanelData { series: hostile_series.clone(), start_ms: 0, end_ms: 45_000 }),
        );
        settle().await;
        assert_eq!(host.query_selector_all("script, img").expect("query").length(), 0, "{kind}");
        assert!(host.text_content().unwrap_or_default().contains("<script>"), "{kind}");
    }
    let pwned = js_sys::Reflect::get(&web_sys::window().expect("window"), &"__pwned".into()).expect("read");
    assert!(pwned.is_undefined(), "a hostile string ran");
}

#[wasm_bindgen_test]
async fn table_sorts_on_header_click() {
    let (host, _) = mount(
        panel(json!({"type": "table"})),
        PanelState::Ready(PanelData { series: series(12, 1), start_ms: 0, end_ms: 15_000 }),
    );
    settle().await;
    let column = |c: usize| -> Vec<String> {
        let cells = host.query_selector_all(&format!("tbody tr td:nth-child({c})")).expect("cells");
        (0..cells.length()).filter_map(|i| cells.item(i)?.text_content()).collect()
    };
    let header: HtmlElement = host
        .query_selector("thead th:nth-child(3)")
        .ok()
        .flatten()
        .expect("instance header")
        .dyn_into()
        .expect("element");
    header.click();
    settle().await;
    let instances = column(3);
    assert_eq!(instances.len(), 12);
    assert_eq!(instances[..3], ["host-0:9100", "host-1:9100", "host-2:9100"]);
    assert_eq!(instances[11], "host-11:9100", "natural order: 11 after 2");
    header.click();
    settle().await;
    assert_eq!(column(3)[0], "host-11:9100");
}

/// Sends a mouse event of `kind` at (x, y) CSS pixels inside `element`.
fn mouse(element: &web_sys::Element, kind: &str, x: f64, y: f64) {
    let rect = element.get_bounding_client_rect();
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_client_x((rect.left() + x) as i32);
    init.set_client_y((rect.top() + y) as i32);
    init.set_button(0);
    let event = web_sys::MouseEvent::new_with_mouse_event_init_dict(kind, &init).expect("an event");
    element.dispatch_event(&event).expect("dispatched");
}

#[wasm_bindgen_test]
async fn hover_shows_every_series_and_drag_zooms() {
    let zoomed = RwSignal::new(None::<(i64, i64)>);
    let end = 40 * 15_000;
    let (host, _) = mount_with_zoom(
        super::timeseries_panel(3, "t"),
        PanelState::Ready(PanelData { series: series(3, 41), start_ms: 0, end_ms: end }),
        Callback::new(move |window| zoomed.set(Some(window))),
    );
    settle().await;
    let plot = host.query_selector(".panel-plot").ok().flatten().expect("the plot");
    // The test page has no stylesheet, so sizes are the browser's defaults:
    // positions are taken relative to the plot's box.
    let (width, height) = (plot.get_bounding_client_rect().width(), plot.get_bounding_client_rect().height());
    mouse(&plot, "mousemove", width / 2.0, height / 2.0);
    settle().await;
    let rows = host.query_selector_all(".tooltip-row").expect("rows");
    assert_eq!(rows.length(), 3, "one row per series");
    let values: Vec<f64> = (0..rows.length())
        .filter_map(|i| {
            rows.item(i)?.dyn_into::<web_sys::Element>().ok()?.query_selector(".tooltip-value").ok()??.text_content()
        })
        .map(|v| v.trim().parse().expect("a number"))
        .collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "highest first: {values:?}");
    assert!(host.query_selector(".crosshair").ok().flatten().is_some());
    assert!(zoomed.get_untracked().is_none());

    // Drag from a third to two thirds of the width.
    mouse(&plot, "mousedown", width / 3.0, height / 2.0);
    mouse(&plot, "mousemove", width * 2.0 / 3.0, height / 2.0);
    settle().await;
    assert!(host.query_selector(".zoom-selection").ok().flatten().is_some(), "the selection shows");
    mouse(&plot, "mouseup", width * 2.0 / 3.0, height / 2.0);
    settle().await;
    let (from, to) = zoomed.get_untracked().expect("a zoom");
    assert!(0 < from && from < to && to < end, "{from}..{to}");
    // The plot starts after the y labels, so the window sits right of the
    // middle third of the time range, but spans about a third of it.
    let span = (to - from) as f64 / end as f64;
    assert!((0.3..0.5).contains(&span), "span {span}");

    // A click without a drag does not zoom.
    zoomed.set(None);
    mouse(&plot, "mousedown", width / 2.0, 100.0);
    mouse(&plot, "mouseup", width / 2.0 + 1.0, 100.0);
    settle().await;
    assert!(zoomed.get_untracked().is_none());
}

#[wasm_bindgen_test]
async fn legend_click_isolates_a_series() {
    let (host, _) = mount(
        super::timeseries_panel(4, "t"),
        PanelState::Ready(PanelData { series: series(3, 10), start_ms: 0, end_ms: 10 * 15_000 }),
    );
    settle().await;
    let items = host.query_selector_all(".legend-item").expect("items");
    let second: HtmlElement = items.item(1).expect("an item").dyn_into().expect("element");
    second.click();
    settle().await;
    assert_eq!(host.query_selector_all(".legend-item.hidden").expect("hidden").length(), 2);
    assert_eq!(body_attr(&host, "data-series"), "1", "only the isolated series is drawn");
    second.click();
    settle().await;
    assert_eq!(host.query_selector_all(".legend-item.hidden").expect("hidden").length(), 0);
    assert_eq!(body_attr(&host, "data-series"), "3");
}

/// A 16-panel dashboard of 20 series × 720 points each: every body mounted
/// with its data reports `drawn` with all its points. The time it took is
/// printed, not asserted (timing belongs to the `dashboard_load` bench, on
/// a quiet machine, not to a test on a shared one).
#[wasm_bindgen_test]
async fn sixteen_panel_dashboard_mounts_and_draws_every_point() {
    let data = PanelData { series: series(20, 720), start_ms: 0, end_ms: 720 * 15_000 };
    let start = now();
    let hosts: Vec<HtmlElement> =
        (0..16).map(|i| mount(super::timeseries_panel(100 + i, "t"), PanelState::Ready(data.clone())).0).collect();
    let drawn = |h: &HtmlElement| body_attr(h, "data-state") == "drawn";
    let mut waited = 0;
    while !hosts.iter().all(drawn) && waited < 400 {
        gloo_timers::future::sleep(Duration::from_millis(5)).await;
        waited += 1;
    }
    let ms = now() - start;
    console_log!("PERF 16 panels x 20 series x 720 points mounted and drawn: {ms:.1} ms");
    assert!(hosts.iter().all(drawn), "not every panel drew");
    for h in &hosts {
        assert_eq!(body_attr(h, "data-points"), (20 * 720).to_string());
    }
}

/// The colour of the canvas pixel at (x, y).
fn pixel(c: &HtmlCanvasElement, x: f64, y: f64) -> (u8, u8, u8) {
    let ctx: CanvasRenderingContext2d =
        c.get_context("2d").ok().flatten().expect("2d").dyn_into().expect("a 2d context");
    let data = ctx.get_image_data(x, y, 1.0, 1.0).expect("a pixel").data();
    (data[0], data[1], data[2])
}

#[wasm_bindgen_test]
async fn canvases_follow_a_theme_switch() {
    let (host, _) = mount(
        panel(json!({"type": "stat", "id": 9})),
        PanelState::Ready(PanelData { series: series(1, 10), start_ms: 0, end_ms: 150_000 }),
    );
    settle().await;
    let canvas: HtmlCanvasElement =
        host.query_selector("#panel-9-canvas").ok().flatten().expect("canvas").dyn_into().expect("a canvas");
    // The stat's corner is background.
    assert_eq!(pixel(&canvas, 1.0, 1.0), (0xff, 0xff, 0xff), "light by default");
    let root = document().document_element().expect("root");
    root.set_attribute("style", "--panel: #181b1f; --text: #cccccc").expect("dark theme");
    settle().await;
    let dark = pixel(&canvas, 1.0, 1.0);
    root.remove_attribute("style").expect("light again");
    assert_eq!(dark, (0x18, 0x1b, 0x1f), "redrawn dark");
    settle().await;
    assert_eq!(pixel(&canvas, 1.0, 1.0), (0xff, 0xff, 0xff), "light again");
}

/// `fieldConfig.overrides` as Node Exporter Full uses them: transmit drawn
/// below zero in its own colour under its own name, one series kept out of
/// the legend.
#[wasm_bindgen_test]
async fn overrides_flip_recolour_rename_and_hide_single_series() {
    let p = panel(json!({
        "type": "timeseries", "id": 12,
        "options": {"legend": {"showLegend": true, "displayMode": "list", "placement": "bottom"}},
        "fieldConfig": {"defaults": {"custom": {"lineWidth": 3}}, "overrides": [
            {"matcher": {"id": "byName", "options": "host-1:9100"}, "properties": [
                {"id": "custom.transform", "value": "negative-Y"},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": "#ff0000"}},
                {"id": "displayName", "value": "TX ${__field.labels.instance}"},
            ]},
            {"matcher": {"id": "byRegexp", "options": "host-2.*"}, "properties": [
                {"id": "custom.hideFrom", "value": {"legend": true, "tooltip": false, "viz": false}},
            ]},
        ]},
    }));
    // Every value is positive: anything below the zero line is the flip.
    let data = PanelData { series: series(3, 60), start_ms: 0, end_ms: 60 * 15_000 };
    let (host, _) = mount(p, PanelState::Ready(data.clone()));
    settle().await;
    assert_eq!(body_attr(&host, "data-series"), "3");
    let legend: Vec<String> = (0..host.query_selector_all(".legend-item").expect("items").length())
        .filter_map(|i| host.query_selector_all(".legend-item").ok()?.item(i)?.text_content())
        .collect();
    assert_eq!(legend.len(), 2, "host-2 is hidden from the legend: {legend:?}");
    assert!(legend[1].contains("TX host-1:9100"), "renamed: {legend:?}");
    let canvas: HtmlCanvasElement =
        host.query_selector("#panel-12-canvas").ok().flatten().expect("canvas").dyn_into().expect("a canvas");
    let (w, h) = (f64::from(canvas.width()), f64::from(canvas.height()));
    // Pure red pixels (the override's colour; the palette has none).
    let red_in = |top: f64, bottom: f64| -> usize {
        let ctx: CanvasRenderingContext2d =
            canvas.get_context("2d").ok().flatten().expect("2d").dyn_into().expect("a 2d context");
        let data = ctx.get_image_data(0.0, top, w, bottom - top).expect("pixels").data();
        data.chunks_exact(4).filter(|p| p[0] >= 0xf0 && p[1] <= 0x10 && p[2] <= 0x10).count()
    };
    let (upper, lower) = (red_in(0.0, h / 2.0), red_in(h / 2.0, h));
    assert!(lower > 50 && upper < lower / 10, "the flipped series is drawn below zero: {upper} above, {lower} below");
    // The other series keep their palette colour and stay above zero.
    let host0 = labels_colour(&data.series[0].labels);
    assert!(pixels_of(&canvas, (host0.0, host0.1, host0.2)) > 50, "host-0 keeps its colour");
}
