//! The time-series graph: data transforms (stacking, gap splitting, the
//! tooltip's nearest-time lookup) and drawing onto any plotters backend,
//! then the component that owns the canvas, the legend, the hover tooltip
//! and drag-to-zoom.
//!
//! Drawing cost is bounded by pixels, not points: each gap-free run of a
//! series is downsampled to per-pixel min/max and drawn as one path (and
//! one polygon for its fill), so 100 series × 10k points draw as fast as
//! 100 series × 4 points per pixel column.

use std::collections::{HashMap, HashSet};

use leptos::html::{Canvas, Div};
use leptos::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{full_time, step_decimals, time_ticks, value_ticks};
use super::canvas::{Theme, backend_for, local_position, observe_size, observe_theme};
use super::data::{PanelData, SeriesData};
use super::legend::{Legend, LegendItem};
use super::options::{
    FieldOptions, GraphStyle, Stacking, field_at, field_options, graph_style, legend_options, with_overrides,
};
use super::render::{Rgb, downsample_min_max, format_value, labels_colour, threshold_bands};
use super::{Drawn, Panel};

/// plotters' colour for ours.
pub fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// A sans-serif text style of `size` device pixels.
pub fn text_style(size: f64, colour: Rgb, bold: bool) -> TextStyle<'static> {
    let font = ("sans-serif", size).into_font();
    TextStyle {
        font: if bold { font.style(FontStyle::Bold) } else { font },
        color: rgb(colour).to_backend_color(),
        pos: Pos::default(),
    }
}

/// A series' identity within a panel: its target and labels. Keys the
/// legend's hidden set and the colour hash.
pub fn series_key(s: &SeriesData) -> String {
    format!("{}{}", s.ref_id, s.labels)
}

/// The colour of a series: the dashboard's fixed colour if it set one,
/// otherwise stable per label set.
pub fn colour_of(s: &SeriesData, field: &FieldOptions) -> Rgb {
    field.fixed_colour.unwrap_or_else(|| labels_colour(&s.labels))
}

/// One series ready to draw: its points (stacked if the panel stacks) and,
/// when stacked, the level it sits on at each point.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub colour: Rgb,
    pub points: Vec<(i64, f64)>,
    /// Same length as `points` when stacked; empty otherwise (fills go down
    /// to zero).
    pub base: Vec<f64>,
}

/// Stacks series as Grafana does: each series sits on the sum of those
/// before it at the same timestamp; `Percent` divides by the total of all
/// at that timestamp. Non-finite values are gaps and add nothing.
pub fn stack(series: &[(Rgb, &[(i64, f64)])], mode: Stacking) -> Vec<Layer> {
    if mode == Stacking::None {
        return series.iter().map(|(c, p)| Layer { colour: *c, points: p.to_vec(), base: Vec::new() }).collect();
    }
    let mut totals: HashMap<i64, f64> = HashMap::new();
    if mode == Stacking::Percent {
        for (_, points) in series {
            for (t, v) in points.iter().filter(|p| p.1.is_finite()) {
                *totals.entry(*t).or_default() += v;
            }
        }
    }
    let scale = |t: i64, v: f64| -> f64 {
        match totals.get(&t) {
            Some(total) if *total != 0.0 => v / total * 100.0,
            Some(_) => 0.0,
            None => v,
        }
    };
    let mut running: HashMap<i64, f64> = HashMap::new();
    series
        .iter()
        .map(|(colour, points)| {
            let mut out = Vec::with_capacity(points.len());
            let mut base = Vec::with_capacity(points.len());
            for &(t, v) in points.iter() {
                let below = running.get(&t).copied().unwrap_or(0.0);
                if v.is_finite() {
                    let top = below + v;
                    running.insert(t, top);
                    out.push((t, scale(t, top)));
                } else {
                    out.push((t, f64::NAN));
                }
                base.push(scale(t, below));
            }
            Layer { colour: *colour, points: out, base }
        })
        .collect()
}

/// Index ranges of `points` without gaps: split at non-finite values and
/// where consecutive points are more than 1.5 times the series' smallest
/// spacing apart (a missed scrape).
pub fn runs(points: &[(i64, f64)]) -> Vec<std::ops::Range<usize>> {
    let spacing = points.windows(2).map(|w| w[1].0 - w[0].0).filter(|d| *d > 0).min().unwrap_or(i64::MAX);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, p) in points.iter().enumerate() {
        if !p.1.is_finite() {
            if let Some(s) = start.take() {
                out.push(s..i);
            }
            continue;
        }
        match start {
            Some(s) if (p.0 - points[i - 1].0).saturating_mul(2) > spacing.saturating_mul(3) => {
                out.push(s..i);
                start = Some(i);
            }
            Some(_) => {}
            None => start = Some(i),
        }
    }
    if let Some(s) = start {
        out.push(s..points.len());
    }
    out
}

/// The tooltip's content for time `t`: the data timestamp nearest to `t`
/// over all series, and each series' value there (series without a point
/// within half their spacing of it are left out), highest value first.
pub fn values_at(series: &[&[(i64, f64)]], t: i64) -> Option<(i64, Vec<(usize, f64)>)> {
    let nearest = |points: &[(i64, f64)], t: i64| -> Option<(i64, f64)> {
        let i = points.partition_point(|p| p.0 < t);
        let candidates = [i.checked_sub(1), Some(i)];
        candidates.into_iter().flatten().filter_map(|i| points.get(i).copied()).min_by_key(|p| (p.0 - t).abs())
    };
    let at = series.iter().filter_map(|p| nearest(p, t)).min_by_key(|p| (p.0 - t).abs())?.0;
    let mut values: Vec<(usize, f64)> = series
        .iter()
        .enumerate()
        .filter_map(|(i, points)| {
            let p = nearest(points, at)?;
            let spacing = points.windows(2).map(|w| w[1].0 - w[0].0).filter(|d| *d > 0).min().unwrap_or(0);
            ((p.0 - at).abs() * 2 <= spacing || p.0 == at).then_some((i, p.1))
        })
        .collect();
    values.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal).then(a.0.cmp(&b.0)));
    Some((at, values))
}

/// Where the plot area landed on the canvas (device pixels) and what it
/// spans, so mouse positions map back to times.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Geometry {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Geometry {
    /// The time at device-pixel x, clamped to the plot.
    pub fn time_at(&self, x: f64) -> i64 {
        let f = ((x - self.left) / (self.right - self.left).max(1.0)).clamp(0.0, 1.0);
        self.from_ms + ((self.to_ms - self.from_ms) as f64 * f).round() as i64
    }

    /// The device-pixel x of time `t`.
    pub fn x_of(&self, t: i64) -> f64 {
        self.left + (t - self.from_ms) as f64 / (self.to_ms - self.from_ms).max(1) as f64 * (self.right - self.left)
    }
}

/// What the graph draws with.
pub struct GraphInput<'a> {
    pub layers: &'a [Layer],
    pub from_ms: i64,
    pub to_ms: i64,
    pub field: &'a FieldOptions,
    pub style: &'a GraphStyle,
    pub theme: &'a Theme,
    /// Device pixels per CSS pixel: line widths and fonts scale by it.
    pub ratio: f64,
}

/// Draws the graph: grid, axes with unit-formatted values and UTC times,
/// thresholds, then each layer's fill, line and points.
pub fn draw_graph<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    input: &GraphInput,
) -> Result<(Drawn, Geometry), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let GraphInput { layers, field, style, theme, ratio, .. } = *input;
    let (from_ms, to_ms) = (input.from_ms, input.to_ms.max(input.from_ms + 1));
    area.fill(&rgb(theme.background)).map_err(err)?;
    let (width, height) = area.dim_in_pixel();
    let (width, height) = (f64::from(width), f64::from(height));

    // Value range: the data (fills reach down to their base), unless the
    // dashboard fixes an end; percent stacking is always 0..100.
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for layer in layers {
        for (i, p) in layer.points.iter().enumerate() {
            if p.1.is_finite() && p.0 >= from_ms && p.0 <= to_ms {
                lo = lo.min(p.1);
                hi = hi.max(p.1);
                if let Some(b) = layer.base.get(i) {
                    lo = lo.min(*b);
                }
            }
        }
    }
    if style.fill_opacity > 0.0 && lo.is_finite() {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let percent = style.stacking == Stacking::Percent;
    if percent {
        (lo, hi) = (0.0, 100.0);
    }
    if let Some(min) = field.min {
        lo = min;
    }
    if let Some(max) = field.max {
        hi = max;
    }
    let font = 11.0 * ratio;
    let rows = ((height / (font * 3.0)).floor() as usize).clamp(2, 10);
    let (y_min, y_max, y_step, y_ticks) =
        value_ticks(lo, hi, rows, (field.min.is_some() || percent, field.max.is_some() || percent));
    let unit = if percent { "percent" } else { field.unit.as_str() };
    let decimals = field.decimals.or(Some(step_decimals(y_step)));
    let labels: Vec<String> = y_ticks.iter().map(|v| format_value(*v, unit, decimals)).collect();
    let label_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64;

    let geometry = Geometry {
        left: (label_chars * font * 0.62 + 10.0 * ratio).round(),
        right: (width - 10.0 * ratio).round(),
        top: (8.0 * ratio).round(),
        bottom: (height - font - 10.0 * ratio).round(),
        from_ms,
        to_ms,
    };
    if geometry.right - geometry.left < 4.0 || geometry.bottom - geometry.top < 4.0 {
        // Too small to draw anything useful.
        area.present().map_err(err)?;
        return Ok((Drawn::default(), geometry));
    }
    let y_of = |v: f64| -> f64 {
        let f = (v - y_min) / (y_max - y_min);
        (geometry.bottom - f * (geometry.bottom - geometry.top)).clamp(geometry.top, geometry.bottom)
    };
    let px = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    let label_style = text_style(font, theme.muted, false);
    let grid = ShapeStyle::from(&rgb(theme.grid)).stroke_width(ratio.round().max(1.0) as u32);

    // Horizontal grid and value labels.
    for (v, label) in y_ticks.iter().zip(&labels) {
        let y = y_of(*v);
        area.draw(&PathElement::new(vec![px(geometry.left, y), px(geometry.right, y)], grid)).map_err(err)?;
        area.draw(&Text::new(
            label.clone(),
            px(geometry.left - 6.0 * ratio, y),
            label_style.pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(err)?;
    }
    // Vertical grid and UTC time labels, one about every 90 CSS pixels.
    let max_ticks = ((geometry.right - geometry.left) / (90.0 * ratio)).floor().max(1.0) as usize;
    for (t, label) in time_ticks(from_ms, to_ms, max_ticks) {
        let x = geometry.x_of(t);
        area.draw(&PathElement::new(vec![px(x, geometry.top), px(x, geometry.bottom)], grid)).map_err(err)?;
        area.draw(&Text::new(
            label,
            px(x, geometry.bottom + 4.0 * ratio),
            label_style.pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
    }
    let axis = ShapeStyle::from(&rgb(theme.axis)).stroke_width(ratio.round().max(1.0) as u32);
    area.draw(&PathElement::new(vec![px(geometry.left, geometry.bottom), px(geometry.right, geometry.bottom)], axis))
        .map_err(err)?;

    // Thresholds: bands behind the data, lines over the grid.
    if style.threshold_areas || style.threshold_lines {
        let steps = threshold_bands(&field.thresholds, y_min, y_max);
        for (i, &(value, colour)) in steps.iter().enumerate() {
            let from = if value.is_finite() { value } else { y_min };
            let to = steps.get(i + 1).map_or(y_max, |n| n.0);
            if style.threshold_areas && to > from {
                area.draw(&Rectangle::new(
                    [px(geometry.left, y_of(to)), px(geometry.right, y_of(from))],
                    rgb(colour).mix(0.15).filled(),
                ))
                .map_err(err)?;
            }
            if style.threshold_lines && value.is_finite() && value >= y_min && value <= y_max {
                let y = y_of(value);
                area.draw(&PathElement::new(
                    vec![px(geometry.left, y), px(geometry.right, y)],
                    rgb(colour).stroke_width((ratio * 1.5).round().max(1.0) as u32),
                ))
                .map_err(err)?;
            }
        }
    }

    let columns = (geometry.right - geometry.left).max(1.0) as usize;
    let line = ((style.line_width * ratio).round().max(1.0)) as u32;
    let baseline = y_of(0.0f64.clamp(y_min, y_max));
    let mut drawn = Drawn::default();
    for layer in layers.iter() {
        let colour = rgb(layer.colour);
        drawn.series += 1;
        for run in runs(&layer.points) {
            let points = &layer.points[run.clone()];
            drawn.points += points.len();
            let top = downsample_min_max(points, from_ms, to_ms, columns);
            let path: Vec<(i32, i32)> = top.iter().map(|p| px(geometry.x_of(p.0), y_of(p.1))).collect();
            if style.fill_opacity > 0.0 || style.bars {
                let mut polygon = path.clone();
                if layer.base.is_empty() {
                    if let (Some(first), Some(last)) = (path.first(), path.last()) {
                        polygon.push((last.0, baseline.round() as i32));
                        polygon.push((first.0, baseline.round() as i32));
                    }
                } else {
                    let base: Vec<(i64, f64)> = points.iter().zip(&layer.base[run]).map(|(p, b)| (p.0, *b)).collect();
                    let base = downsample_min_max(&base, from_ms, to_ms, columns);
                    polygon.extend(base.iter().rev().map(|p| px(geometry.x_of(p.0), y_of(p.1))));
                }
                let opacity = if style.bars && style.fill_opacity == 0.0 { 0.8 } else { style.fill_opacity / 100.0 };
                area.draw(&Polygon::new(polygon, colour.mix(opacity).filled())).map_err(err)?;
            }
            if style.lines && line > 0 && path.len() > 1 {
                area.draw(&PathElement::new(path.clone(), colour.stroke_width(line))).map_err(err)?;
            }
            // Points: always when asked; in `auto`, as Grafana does, when
            // they are sparse (here: over 20 CSS pixels apart on average);
            // a lone point always, or it would not show at all.
            let spacing = match (path.first(), path.last()) {
                (Some(a), Some(b)) if points.len() > 1 => f64::from(b.0 - a.0) / (points.len() - 1) as f64,
                _ => 0.0,
            };
            let sparse = style.points_auto && spacing > 20.0 * ratio;
            if style.points || sparse || path.len() == 1 {
                let radius = ((style.point_size / 2.0 * ratio).round() as u32).max(1);
                for p in &path {
                    area.draw(&Circle::new(*p, radius, colour.filled())).map_err(err)?;
                }
            }
        }
    }
    area.present().map_err(err)?;
    Ok((drawn, geometry))
}

/// One row of the tooltip.
#[derive(Debug, Clone, PartialEq)]
struct TooltipRow {
    colour: String,
    name: String,
    value: String,
}

/// What the hover shows: where (CSS px), the time, the rows.
#[derive(Debug, Clone, PartialEq)]
struct Hover {
    x: f64,
    y: f64,
    crosshair_x: f64,
    time: String,
    rows: Vec<TooltipRow>,
}

/// The time-series panel body: the graph filling its box, the legend, the
/// tooltip with every series' value at the hovered time, and drag-select
/// to zoom.
#[component]
pub fn TimeSeriesBody(
    panel: Panel,
    data: Signal<Option<PanelData>>,
    drawn: RwSignal<Option<Drawn>>,
    on_zoom: Callback<(i64, i64)>,
) -> impl IntoView {
    let field = field_options(&panel);
    let style = graph_style(&panel);
    let legend_opts = legend_options(&panel);
    let panel_number = super::panel_id(&panel);
    let canvas_id = format!("panel-{panel_number}-canvas");
    let canvas = NodeRef::<Canvas>::new();
    let plot = NodeRef::<Div>::new();
    let size = observe_size(plot);
    let theme_version = observe_theme();
    let hidden = RwSignal::new(HashSet::<String>::new());
    let geometry = StoredValue::new(Geometry::default());
    let ratio = StoredValue::new(1.0f64);
    let hover = RwSignal::new(None::<Hover>);
    // Drag start and current x, CSS pixels.
    let drag = RwSignal::new(None::<(f64, f64)>);

    // The data as drawn: renamed, negated and given per-series settings
    // by the panel's overrides (once per result, not per frame).
    let panel_for_overrides = panel.clone();
    let resolved = Memo::new(move |_| data.get().map(|d| with_overrides(&panel_for_overrides, d)));
    let field_for_draw = field.clone();
    Effect::new(move |_| {
        let (w, h) = size.get();
        theme_version.track();
        let hidden_now = hidden.get();
        let Some((data, fields)) = resolved.get() else { return };
        if w < 2.0 || h < 2.0 {
            return;
        }
        let Some(canvas) = canvas.get() else { return };
        let Some((backend, r)) = backend_for(&canvas, (w, h), true) else {
            return;
        };
        let shown: Vec<(usize, &SeriesData)> = data
            .series
            .iter()
            .enumerate()
            .filter(|(i, s)| !hidden_now.contains(&series_key(s)) && !fields.get(*i).is_some_and(|f| f.hide_viz))
            .collect();
        // negative-Y draws the series mirrored below zero.
        let flipped: Vec<Option<Vec<(i64, f64)>>> = shown
            .iter()
            .map(|(i, s)| {
                fields.get(*i).is_some_and(|f| f.negative_y).then(|| s.points.iter().map(|&(t, v)| (t, -v)).collect())
            })
            .collect();
        let visible: Vec<(Rgb, &[(i64, f64)])> = shown
            .iter()
            .zip(&flipped)
            .map(|((i, s), flip)| {
                (colour_of(s, field_at(&fields, *i, &field_for_draw)), flip.as_deref().unwrap_or(&s.points))
            })
            .collect();
        let layers = stack(&visible, style.stacking);
        let theme = Theme::from_page();
        let input = GraphInput {
            layers: &layers,
            from_ms: data.start_ms,
            to_ms: data.end_ms,
            field: &field_for_draw,
            style: &style,
            theme: &theme,
            ratio: r,
        };
        match draw_graph(&backend.into_drawing_area(), &input) {
            Ok((d, g)) => {
                geometry.set_value(g);
                ratio.set_value(r);
                drawn.set(Some(d));
            }
            Err(e) => leptos::logging::warn!("panel {panel_number}: cannot draw: {e}"),
        }
    });

    let field_for_hover = field.clone();
    // `options.tooltip`: `none` hides it; `asc` sorts lowest first (the
    // default here is highest first, for every mode).
    let tooltip_mode = panel.options.tooltip.as_ref().map(|t| (t.mode.clone(), t.sort.clone()));
    let show_tooltip = tooltip_mode.as_ref().is_none_or(|(mode, _)| mode != "none");
    let ascending = tooltip_mode.as_ref().is_some_and(|(_, sort)| sort == "asc");
    let on_move = move |ev: web_sys::MouseEvent| {
        let Some(element) = plot.get_untracked() else { return };
        let (x, y) = local_position(&element, &ev);
        if let Some((start, _)) = drag.get_untracked() {
            drag.set(Some((start, x)));
        }
        let Some((data, fields)) = resolved.get_untracked() else { return };
        let g = geometry.get_value();
        let r = ratio.get_value();
        let inside = x * r >= g.left && x * r <= g.right && y * r >= g.top && y * r <= g.bottom;
        if !inside {
            hover.set(None);
            return;
        }
        let hidden_now = hidden.get_untracked();
        let visible: Vec<(&SeriesData, &FieldOptions)> = data
            .series
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                !hidden_now.contains(&series_key(s)) && !fields.get(*i).is_some_and(|f| f.hide_viz || f.hide_tooltip)
            })
            .map(|(i, s)| (s, field_at(&fields, i, &field_for_hover)))
            .collect();
        let points: Vec<&[(i64, f64)]> = visible.iter().map(|(s, _)| s.points.as_slice()).collect();
        let Some((at, mut values)) = values_at(&points, g.time_at(x * r)) else {
            hover.set(None);
            return;
        };
        if ascending {
            values.reverse();
        }
        let rows = values
            .into_iter()
            .map(|(i, v)| {
                let (s, field) = visible[i];
                TooltipRow {
                    colour: colour_of(s, field).css(),
                    name: s.name.clone(),
                    value: format_value(v, &field.unit, field.decimals),
                }
            })
            .collect();
        hover.set(Some(Hover { x, y, crosshair_x: g.x_of(at) / r, time: full_time(at), rows }));
    };
    let on_down = move |ev: web_sys::MouseEvent| {
        if ev.button() != 0 {
            return;
        }
        let Some(element) = plot.get_untracked() else { return };
        let (x, _) = local_position(&element, &ev);
        ev.prevent_default();
        drag.set(Some((x, x)));
    };
    let on_up = move |_ev: web_sys::MouseEvent| {
        let Some((a, b)) = drag.get_untracked() else { return };
        drag.set(None);
        // A click is not a zoom: a few pixels of jitter are ignored.
        if (a - b).abs() < 4.0 {
            return;
        }
        let g = geometry.get_value();
        let r = ratio.get_value();
        let (from, to) = (g.time_at(a.min(b) * r), g.time_at(a.max(b) * r));
        if to > from {
            on_zoom.run((from, to));
        }
    };
    let on_leave = move |_ev: web_sys::MouseEvent| {
        hover.set(None);
        drag.set(None);
    };

    let legend_items = Signal::derive({
        let field = field.clone();
        let calcs = legend_opts.calcs.clone();
        move || {
            resolved
                .get()
                .map(|(d, fields)| {
                    d.series
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !fields.get(*i).is_some_and(|f| f.hide_legend))
                        .map(|(i, s)| {
                            let field = field_at(&fields, i, &field);
                            LegendItem::new(s, series_key(s), colour_of(s, field), &calcs, field)
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    });
    let layout_class = if legend_opts.right { "ts-body legend-right" } else { "ts-body legend-bottom" };

    view! {
        <div class=layout_class>
            <div class="panel-plot" node_ref=plot on:mousemove=on_move on:mousedown=on_down on:mouseup=on_up
                on:mouseleave=on_leave>
                <canvas id=canvas_id node_ref=canvas></canvas>
                {move || hover.get().filter(|_| show_tooltip).map(|h| {
                    let (w, _) = size.get_untracked();
                    // The tooltip sits beside the pointer, flipped left in the
                    // right half so it stays inside the panel.
                    let left = if h.x > w / 2.0 { format!("{}px", (h.x - 12.0).max(0.0)) } else { format!("{}px", h.x + 12.0) };
                    let transform = if h.x > w / 2.0 { "translateX(-100%)" } else { "none" };
                    view! {
                        <div class="crosshair" style:left=format!("{}px", h.crosshair_x)></div>
                        <div class="tooltip" style:left=left style:top=format!("{}px", h.y + 12.0) style:transform=transform>
                            <div class="tooltip-time">{h.time}</div>
                            {h.rows.into_iter().map(|row| view! {
                                <div class="tooltip-row">
                                    <span class="swatch" style:background-color=row.colour></span>
                                    <span class="tooltip-name">{row.name}</span>
                                    <span class="tooltip-value">{row.value}</span>
                                </div>
                            }).collect_view()}
                        </div>
                    }
                })}
                {move || drag.get().filter(|(a, b)| (a - b).abs() >= 1.0).map(|(a, b)| view! {
                    <div class="zoom-selection" style:left=format!("{}px", a.min(b)) style:width=format!("{}px", (a - b).abs())></div>
                })}
            </div>
            {legend_opts.show.then(|| view! { <Legend items=legend_items hidden=hidden options=legend_opts.clone() /> })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    const C: Rgb = Rgb(0, 0, 0);

    #[wasm_bindgen_test]
    fn stacks_normal_and_percent() {
        let a = [(0, 1.0), (10, 2.0), (20, f64::NAN)];
        let b = [(0, 3.0), (10, 2.0), (20, 5.0)];
        let normal = stack(&[(C, &a), (C, &b)], Stacking::Normal);
        assert_eq!(normal[0].points[..2], [(0, 1.0), (10, 2.0)]);
        assert!(normal[0].points[2].1.is_nan(), "a gap stays a gap");
        assert_eq!(normal[0].base, vec![0.0, 0.0, 0.0]);
        assert_eq!(normal[1].points, vec![(0, 4.0), (10, 4.0), (20, 5.0)]);
        assert_eq!(normal[1].base, vec![1.0, 2.0, 0.0]);

        let percent = stack(&[(C, &a), (C, &b)], Stacking::Percent);
        assert_eq!(percent[0].points[..2], [(0, 25.0), (10, 50.0)]);
        assert_eq!(percent[1].points, vec![(0, 100.0), (10, 100.0), (20, 100.0)]);
        assert_eq!(percent[1].base, vec![25.0, 50.0, 0.0]);

        let none = stack(&[(C, &a)], Stacking::None);
        assert!(none[0].base.is_empty());
    }

    #[wasm_bindgen_test]
    fn splits_runs_at_gaps_and_nans() {
        // (points, expected runs as start..end index pairs).
        type Case<'a> = (&'a [(i64, f64)], &'a [(usize, usize)]);
        let cases: &[Case] = &[
            (&[], &[]),
            (&[(0, 1.0)], &[(0, 1)]),
            (&[(0, 1.0), (10, 1.0), (20, 1.0)], &[(0, 3)]),
            // A missed scrape between 20 and 40.
            (&[(0, 1.0), (10, 1.0), (20, 1.0), (40, 1.0), (50, 1.0)], &[(0, 3), (3, 5)]),
            (&[(0, 1.0), (10, f64::NAN), (20, 1.0), (30, 1.0)], &[(0, 1), (2, 4)]),
            (&[(0, f64::NAN), (10, f64::INFINITY)], &[]),
        ];
        for (points, want) in cases {
            let got: Vec<(usize, usize)> = runs(points).into_iter().map(|r| (r.start, r.end)).collect();
            assert_eq!(got, want.to_vec(), "{points:?}");
        }
    }

    #[wasm_bindgen_test]
    fn tooltip_finds_values_at_the_nearest_time() {
        let a = [(0, 1.0), (10, 2.0), (20, 3.0)];
        let b = [(0, 5.0), (10, 7.0), (20, 0.5)];
        // Offset scrapes: c is 4 ms after a and b.
        let c = [(4, 9.0), (14, 9.5)];
        let d: [(i64, f64); 0] = [];
        let (at, values) = values_at(&[&a, &b, &c, &d], 12).expect("values");
        assert_eq!(at, 10);
        assert_eq!(values, vec![(2, 9.5), (1, 7.0), (0, 2.0)], "sorted, highest first");
        let (at, values) = values_at(&[&a, &b], 19).expect("values");
        assert_eq!((at, values), (20, vec![(0, 3.0), (1, 0.5)]));
        assert_eq!(values_at(&[&d], 5), None);
    }

    #[wasm_bindgen_test]
    fn geometry_maps_pixels_to_times_and_back() {
        let g = Geometry { left: 50.0, right: 550.0, top: 0.0, bottom: 100.0, from_ms: 1000, to_ms: 6000 };
        assert_eq!(g.time_at(50.0), 1000);
        assert_eq!(g.time_at(300.0), 3500);
        assert_eq!(g.time_at(9999.0), 6000, "clamped");
        assert_eq!(g.x_of(3500), 300.0);
    }
}
