//! The stat panel: one big number per series, reduced by the dashboard's
//! calc (`options.reduceOptions.calcs`), coloured by thresholds, with an
//! optional sparkline. Also the pieces gauge and bar gauge share: reducing
//! series to items, the field's min/max, and laying items out in a grid.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::Theme;
use super::data::PanelData;
use super::options::{FieldOptions, field_options, option_str, reduce_calc};
use super::render::{GREY, Rgb, downsample_min_max, format_value, parse_colour, reduce, threshold_colour};
use super::timeseries::{rgb, runs, text_style};
use super::{Drawn, Panel};

/// One series reduced to a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub value: Option<f64>,
    pub points: Vec<(i64, f64)>,
}

/// Each series of `data` reduced by `calc`.
pub fn items(data: &PanelData, calc: &str) -> Vec<Item> {
    data.series
        .iter()
        .map(|s| Item { name: s.name.clone(), value: reduce(calc, &s.points), points: s.points.clone() })
        .collect()
}

/// The range values are measured against (gauge arcs, bar lengths,
/// percentage thresholds): the dashboard's min and max, else 0 (or the
/// lowest value, if negative) up to the highest value.
pub fn value_range(field: &FieldOptions, items: &[Item]) -> (f64, f64) {
    let values = items.iter().filter_map(|i| i.value).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((0.0f64, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let min = field.min.unwrap_or(lo);
    let mut max = field.max.unwrap_or(if hi.is_finite() { hi } else { 100.0 });
    if max <= min {
        max = min + 1.0;
    }
    (min, max)
}

/// The colour of a value: the dashboard's fixed colour, else its threshold
/// step's.
pub fn value_colour(field: &FieldOptions, value: Option<f64>, range: (f64, f64)) -> Rgb {
    match (field.fixed_colour, value) {
        (Some(c), _) => c,
        (None, Some(v)) => threshold_colour(&field.thresholds, v, range.0, range.1),
        (None, None) => field.thresholds.steps.first().and_then(|s| parse_colour(&s.color)).unwrap_or(GREY),
    }
}

/// Columns and rows for `n` cells in `width × height`, each cell as close
/// to `aspect` (width / height) as the grid allows.
pub fn grid(n: usize, width: f64, height: f64, aspect: f64) -> (usize, usize) {
    if n == 0 {
        return (1, 1);
    }
    let mut best = (1, n, f64::NEG_INFINITY);
    for cols in 1..=n {
        let rows = n.div_ceil(cols);
        let (w, h) = (width / cols as f64, height / rows as f64);
        // The size of the largest `aspect` box that fits a cell.
        let fit = w.min(h * aspect);
        if fit > best.2 {
            best = (cols, rows, fit);
        }
    }
    (best.0, best.1)
}

/// The rectangle of cell `i` (device pixels): x, y, width, height.
pub fn cell(i: usize, cols: usize, rows: usize, width: f64, height: f64) -> (f64, f64, f64, f64) {
    let (w, h) = (width / cols as f64, height / rows.max(1) as f64);
    ((i % cols) as f64 * w, (i / cols) as f64 * h, w, h)
}

/// A font size at which `text` fits `width` and `height` (device pixels),
/// assuming characters about 0.66 em wide (bold digits are the widest
/// text drawn this way).
pub fn fit_font(text: &str, width: f64, height: f64) -> f64 {
    let chars = text.chars().count().max(1) as f64;
    (width / (chars * 0.66)).min(height).max(6.0)
}

/// Black or white, whichever reads better on `background`.
pub fn contrast(background: Rgb) -> Rgb {
    let l = 0.299 * f64::from(background.0) + 0.587 * f64::from(background.1) + 0.114 * f64::from(background.2);
    if l > 150.0 { Rgb(0x20, 0x20, 0x20) } else { Rgb(0xff, 0xff, 0xff) }
}

/// Draws the stat panel (the canvas entry point).
pub fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    data: &PanelData,
    theme: &Theme,
    ratio: f64,
) -> Result<Drawn, String> {
    let field = field_options(panel);
    let items = items(data, &reduce_calc(panel));
    let style = StatStyle {
        background: option_str(panel, "colorMode", "value") == "background",
        colour_value: option_str(panel, "colorMode", "value") != "none",
        sparkline: option_str(panel, "graphMode", "area") != "none",
        text_mode: option_str(panel, "textMode", "auto").to_owned(),
    };
    draw_stat(area, &items, &field, &style, theme, ratio)
}

/// How a stat draws (`options.colorMode`, `graphMode`, `textMode`).
pub struct StatStyle {
    pub background: bool,
    pub colour_value: bool,
    pub sparkline: bool,
    /// `auto`, `value`, `value_and_name`, `name`, `none`.
    pub text_mode: String,
}

pub fn draw_stat<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[Item],
    field: &FieldOptions,
    style: &StatStyle,
    theme: &Theme,
    ratio: f64,
) -> Result<Drawn, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&rgb(theme.background)).map_err(err)?;
    let (width, height) = area.dim_in_pixel();
    let (width, height) = (f64::from(width), f64::from(height));
    let range = value_range(field, items);
    let (cols, rows) = grid(items.len(), width, height, 2.5);
    let show_name = match style.text_mode.as_str() {
        "name" | "value_and_name" => true,
        "auto" => items.len() > 1,
        _ => false,
    };
    let show_value = !matches!(style.text_mode.as_str(), "name" | "none");
    let px = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    let mut drawn = Drawn::default();
    for (i, item) in items.iter().enumerate() {
        let (x, y, w, h) = cell(i, cols, rows, width, height);
        let pad = 4.0 * ratio;
        let (x, y, w, h) = (x + pad, y + pad, (w - 2.0 * pad).max(1.0), (h - 2.0 * pad).max(1.0));
        let colour = value_colour(field, item.value, range);
        let text_colour = if style.background {
            area.draw(&Rectangle::new([px(x, y), px(x + w, y + h)], rgb(colour).filled())).map_err(err)?;
            contrast(colour)
        } else if style.colour_value {
            colour
        } else {
            theme.text
        };
        // Sparkline in the lower part of the cell, behind the text.
        let finite = item.points.iter().filter(|p| p.1.is_finite()).count();
        if style.sparkline && finite > 1 {
            let spark_top = y + h * 0.55;
            draw_sparkline(area, &item.points, (x, spark_top, w, y + h - spark_top), colour, style.background, ratio)?;
        }
        drawn.series += 1;
        drawn.points += finite;
        let value_text =
            item.value.map_or_else(|| "No data".to_owned(), |v| format_value(v, &field.unit, field.decimals));
        let name_height = if show_name { (h * 0.18).min(16.0 * ratio * 1.6) } else { 0.0 };
        if show_name {
            let font = fit_font(&item.name, w, name_height * 0.8).min(14.0 * ratio);
            let style = text_style(font, text_colour, false);
            area.draw(&Text::new(
                item.name.clone(),
                px(x + w / 2.0, y + name_height / 2.0),
                style.pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
        }
        if show_value {
            // Above the sparkline when there is one, else the rest of the cell.
            let value_h = if style.sparkline && finite > 1 { h * 0.55 - name_height } else { h - name_height };
            let font = fit_font(&value_text, w * 0.9, value_h * 0.7);
            let style = text_style(font, text_colour, true);
            let centre = px(x + w / 2.0, y + name_height + value_h / 2.0);
            area.draw(&Text::new(value_text, centre, style.pos(Pos::new(HPos::Center, VPos::Center)))).map_err(err)?;
        }
    }
    area.present().map_err(err)?;
    Ok(drawn)
}

/// A small area graph of `points` in `rect` (x, y, w, h): one polygon and
/// one path per gap-free run, downsampled to the rect's pixel width.
pub fn draw_sparkline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &[(i64, f64)],
    rect: (f64, f64, f64, f64),
    colour: Rgb,
    on_background: bool,
    ratio: f64,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (x, y, w, h) = rect;
    let finite = points.iter().filter(|p| p.1.is_finite());
    let (lo, hi) = finite.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (t0, t1) = (points.first().map_or(0, |p| p.0), points.last().map_or(1, |p| p.0));
    if !lo.is_finite() || t1 <= t0 {
        return Ok(());
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    let map = |p: &(i64, f64)| {
        let fx = (p.0 - t0) as f64 / (t1 - t0) as f64;
        let fy = (p.1 - lo) / span;
        ((x + fx * w).round() as i32, (y + h - fy * h).round() as i32)
    };
    let colour = if on_background { Rgb(0xff, 0xff, 0xff) } else { colour };
    for run in runs(points) {
        let sampled = downsample_min_max(&points[run], t0, t1, w.max(1.0) as usize);
        let path: Vec<(i32, i32)> = sampled.iter().map(map).collect();
        let (Some(first), Some(last)) = (path.first().copied(), path.last().copied()) else { continue };
        let mut polygon = path.clone();
        polygon.push((last.0, (y + h).round() as i32));
        polygon.push((first.0, (y + h).round() as i32));
        area.draw(&Polygon::new(polygon, rgb(colour).mix(0.2).filled())).map_err(err)?;
        area.draw(&PathElement::new(path, rgb(colour).mix(0.8).stroke_width((ratio.round() as u32).max(1))))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn lays_out_cells_in_a_grid() {
        let cases: &[(usize, f64, f64, (usize, usize))] = &[
            (1, 400.0, 200.0, (1, 1)),
            // Wide panel: side by side.
            (4, 1000.0, 100.0, (4, 1)),
            // Tall panel: stacked.
            (3, 200.0, 600.0, (1, 3)),
            (4, 500.0, 200.0, (2, 2)),
            (0, 100.0, 100.0, (1, 1)),
        ];
        for (n, w, h, want) in cases {
            assert_eq!(grid(*n, *w, *h, 2.5), *want, "{n} in {w}x{h}");
        }
        assert_eq!(cell(3, 2, 2, 200.0, 100.0), (100.0, 50.0, 100.0, 50.0));
    }

    #[wasm_bindgen_test]
    fn ranges_and_colours_follow_the_field() {
        let item = |v: f64| Item { name: String::new(), value: Some(v), points: Vec::new() };
        let field = FieldOptions {
            unit: String::new(),
            decimals: None,
            min: None,
            max: None,
            thresholds: crate::panels::render::default_thresholds(),
            fixed_colour: None,
            colour_by_thresholds: true,
        };
        assert_eq!(value_range(&field, &[item(20.0), item(70.0)]), (0.0, 70.0));
        assert_eq!(value_range(&field, &[item(-5.0), item(5.0)]), (-5.0, 5.0));
        assert_eq!(value_range(&FieldOptions { max: Some(100.0), ..field.clone() }, &[item(20.0)]), (0.0, 100.0));
        assert_eq!(value_range(&field, &[]), (0.0, 100.0));
        let red = Rgb(0xf2, 0x49, 0x5c);
        assert_eq!(value_colour(&field, Some(95.0), (0.0, 100.0)), red);
        assert_eq!(
            value_colour(&FieldOptions { fixed_colour: Some(Rgb(1, 2, 3)), ..field }, Some(95.0), (0.0, 100.0)),
            Rgb(1, 2, 3)
        );
        assert_eq!(contrast(Rgb(255, 255, 255)), Rgb(0x20, 0x20, 0x20));
        assert_eq!(contrast(Rgb(0, 0, 0)), Rgb(255, 255, 255));
    }
}
