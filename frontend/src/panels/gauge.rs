//! The gauge panel: per series, a 240° arc filled up to the reduced value
//! in its threshold colour, a thin outer ring showing the threshold bands,
//! and the value in the middle.

use std::f64::consts::PI;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::Theme;
use super::data::PanelData;
use super::options::{field_options, option_bool, reduce_calc};
use super::render::{format_value, threshold_bands};
use super::stat::{cell, fit_font, grid, items, value_colour, value_range};
use super::timeseries::{rgb, text_style};
use super::{Drawn, Panel};

/// Where the arc starts (screen angle, clockwise from 3 o'clock: lower
/// left) and how far it sweeps.
const START: f64 = 150.0 * PI / 180.0;
const SWEEP: f64 = 240.0 * PI / 180.0;

/// The screen angle of `value` on a gauge spanning `min..max`.
pub fn angle_of(value: f64, min: f64, max: f64) -> f64 {
    let f = if max > min { ((value - min) / (max - min)).clamp(0.0, 1.0) } else { 0.0 };
    START + f * SWEEP
}

/// A ring segment between radii `inner..outer` and angles `a0..a1` as a
/// closed polygon, a point every 2° or so.
pub fn ring(centre: (f64, f64), inner: f64, outer: f64, a0: f64, a1: f64) -> Vec<(i32, i32)> {
    let steps = (((a1 - a0).abs() / (2.0 * PI / 180.0)).ceil() as usize).max(2);
    let point = |r: f64, a: f64| ((centre.0 + r * a.cos()).round() as i32, (centre.1 + r * a.sin()).round() as i32);
    let mut out = Vec::with_capacity(steps * 2 + 2);
    for i in 0..=steps {
        out.push(point(outer, a0 + (a1 - a0) * i as f64 / steps as f64));
    }
    for i in (0..=steps).rev() {
        out.push(point(inner, a0 + (a1 - a0) * i as f64 / steps as f64));
    }
    out
}

pub fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    data: &PanelData,
    theme: &Theme,
    ratio: f64,
) -> Result<Drawn, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let field = field_options(panel);
    let items = items(data, &reduce_calc(panel));
    let show_bands = option_bool(panel, "showThresholdMarkers", true);
    area.fill(&rgb(theme.background)).map_err(err)?;
    let (width, height) = area.dim_in_pixel();
    let (width, height) = (f64::from(width), f64::from(height));
    let (min, max) = value_range(&field, &items);
    let (cols, rows) = grid(items.len(), width, height, 1.2);
    let mut drawn = Drawn::default();
    for (i, item) in items.iter().enumerate() {
        let (x, y, w, h) = cell(i, cols, rows, width, height);
        let name_h = if items.len() > 1 { (h * 0.15).min(20.0 * ratio) } else { 0.0 };
        // The arc's bounding box is about 2r wide and 1.6r tall.
        let r = ((w - 8.0 * ratio) / 2.0).min((h - name_h - 8.0 * ratio) / 1.6).max(4.0);
        let centre = (x + w / 2.0, y + (h - name_h) / 2.0 + r * 0.2);
        let band = if show_bands { (r * 0.08).max(2.0 * ratio) } else { 0.0 };
        let gap = if show_bands { band * 0.5 } else { 0.0 };
        let (outer, inner) = (r - band - gap, r * 0.72);
        // Track, then the value.
        area.draw(&Polygon::new(ring(centre, inner, outer, START, START + SWEEP), rgb(theme.grid).filled()))
            .map_err(err)?;
        let colour = value_colour(&field, item.value, (min, max));
        if let Some(v) = item.value.filter(|v| v.is_finite()) {
            area.draw(&Polygon::new(ring(centre, inner, outer, START, angle_of(v, min, max)), rgb(colour).filled()))
                .map_err(err)?;
        }
        if show_bands {
            let steps = threshold_bands(&field.thresholds, min, max);
            for (j, (value, colour)) in steps.iter().enumerate() {
                let from = value.max(min);
                let to = steps.get(j + 1).map_or(max, |n| n.0.min(max));
                if to > from {
                    let (a0, a1) = (angle_of(from, min, max), angle_of(to, min, max));
                    area.draw(&Polygon::new(ring(centre, r - band, r, a0, a1), rgb(*colour).filled())).map_err(err)?;
                }
            }
        }
        let text = item.value.map_or_else(|| "No data".to_owned(), |v| format_value(v, &field.unit, field.decimals));
        let font = fit_font(&text, inner * 1.5, inner * 0.6);
        let style = text_style(font, colour, true);
        area.draw(&Text::new(
            text,
            (centre.0.round() as i32, centre.1.round() as i32),
            style.pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(err)?;
        if name_h > 0.0 {
            let font = fit_font(&item.name, w, name_h * 0.8);
            let style = text_style(font, theme.text, false);
            let at = ((x + w / 2.0).round() as i32, (y + h - name_h / 2.0).round() as i32);
            area.draw(&Text::new(item.name.clone(), at, style.pos(Pos::new(HPos::Center, VPos::Center))))
                .map_err(err)?;
        }
        drawn.series += 1;
        drawn.points += item.points.iter().filter(|p| p.1.is_finite()).count();
    }
    area.present().map_err(err)?;
    Ok(drawn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn angles_span_240_degrees_clamped() {
        let deg = |a: f64| (a * 180.0 / PI).round();
        let cases: &[(f64, f64)] = &[(0.0, 150.0), (50.0, 270.0), (100.0, 390.0), (-10.0, 150.0), (500.0, 390.0)];
        for (value, want) in cases {
            assert_eq!(deg(angle_of(*value, 0.0, 100.0)), *want, "{value}");
        }
        // The top of a 0..100 gauge is straight up from the centre.
        let r = ring((100.0, 100.0), 40.0, 50.0, angle_of(50.0, 0.0, 100.0), angle_of(50.0, 0.0, 100.0));
        assert_eq!(r[0], (100, 50));
    }
}
