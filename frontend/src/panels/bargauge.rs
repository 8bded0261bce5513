//! The bar gauge panel: one bar per series, as long as its reduced value
//! within the field's min..max, in `basic` (one colour), `gradient`
//! (threshold colours blending along the bar) or `lcd` (lit cells) mode,
//! horizontal or vertical.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::Theme;
use super::data::PanelData;
use super::options::{FieldOptions, field_options, option_str, reduce_calc};
use super::render::{Rgb, format_value};
use super::stat::{fit_font, items, value_colour, value_range};
use super::timeseries::{rgb, text_style};
use super::{Drawn, Panel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Basic,
    Gradient,
    Lcd,
}

/// The colour of each of `n` segments along a bar over `min..max`: a
/// segment takes the threshold colour of its midpoint (gradient blends
/// towards the next). Used for gradient slices and LCD cells.
pub fn segment_colours(field: &FieldOptions, n: usize, min: f64, max: f64, blend: bool) -> Vec<Rgb> {
    (0..n)
        .map(|i| {
            let mid = min + (max - min) * (i as f64 + 0.5) / n as f64;
            let here = value_colour(field, Some(mid), (min, max));
            if !blend {
                return here;
            }
            // Blend with the colour half a segment on, so steps soften.
            let next = value_colour(field, Some(mid + (max - min) / n as f64 / 2.0), (min, max));
            here.mix(next, 0.5)
        })
        .collect()
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
    let mode = match option_str(panel, "displayMode", "gradient") {
        "lcd" => Mode::Lcd,
        "basic" => Mode::Basic,
        _ => Mode::Gradient,
    };
    let vertical = option_str(panel, "orientation", "auto") == "vertical";
    area.fill(&rgb(theme.background)).map_err(err)?;
    let (width, height) = area.dim_in_pixel();
    let (width, height) = (f64::from(width), f64::from(height));
    let (min, max) = value_range(&field, &items);
    let n = items.len().max(1) as f64;
    let px = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    let font = 12.0 * ratio;
    let mut drawn = Drawn::default();
    for (i, item) in items.iter().enumerate() {
        let colour = value_colour(&field, item.value, (min, max));
        let fraction =
            item.value.map_or(0.0, |v| if v.is_finite() { ((v - min) / (max - min)).clamp(0.0, 1.0) } else { 0.0 });
        let text = item.value.map_or_else(|| "No data".to_owned(), |v| format_value(v, &field.unit, field.decimals));
        let label = text_style(font, theme.text, false);
        // The bar's rectangle: (x0, y0) top-left, (x1, y1) bottom-right, and
        // the direction it fills.
        let (x0, y0, x1, y1) = if vertical {
            let w = width / n;
            let (x, pad) = (i as f64 * w, (w * 0.1).max(2.0 * ratio));
            let value_font = fit_font(&text, w - pad, font * 1.6);
            area.draw(&Text::new(
                text.clone(),
                px(x + w / 2.0, value_font * 0.6),
                text_style(value_font, colour, false).pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
            area.draw(&Text::new(
                item.name.clone(),
                px(x + w / 2.0, height - font * 0.8),
                label.pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
            (x + pad, value_font * 1.3, x + w - pad, height - font * 1.8)
        } else {
            let h = height / n;
            let y = i as f64 * h;
            let name_h = font * 1.4;
            area.draw(&Text::new(
                item.name.clone(),
                px(4.0 * ratio, y + name_h / 2.0),
                label.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
            let bar_h = (h - name_h - 4.0 * ratio).max(2.0);
            let value_font = fit_font(&text, width * 0.25, bar_h * 0.8).min(bar_h * 0.8);
            // Bold digits run about 0.7 em wide.
            let value_w = text.chars().count() as f64 * value_font * 0.7 + 8.0 * ratio;
            area.draw(&Text::new(
                text.clone(),
                px(width - 4.0 * ratio, y + name_h + bar_h / 2.0),
                text_style(value_font, colour, true).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
            (4.0 * ratio, y + name_h, (width - value_w).max(8.0 * ratio), y + name_h + bar_h)
        };
        // Track.
        area.draw(&Rectangle::new([px(x0, y0), px(x1, y1)], rgb(theme.grid).filled())).map_err(err)?;
        let segment = |f0: f64, f1: f64| -> [(i32, i32); 2] {
            if vertical {
                [px(x0, y1 - (y1 - y0) * f1), px(x1, y1 - (y1 - y0) * f0)]
            } else {
                [px(x0 + (x1 - x0) * f0, y0), px(x0 + (x1 - x0) * f1, y1)]
            }
        };
        match mode {
            Mode::Basic => {
                area.draw(&Rectangle::new(segment(0.0, fraction), rgb(colour).filled())).map_err(err)?;
            }
            Mode::Gradient => {
                // Slices up to the value, blending the threshold colours.
                let slices = 32;
                let colours = segment_colours(&field, slices, min, max, true);
                for (k, c) in colours.iter().enumerate() {
                    let (f0, f1) = (k as f64 / slices as f64, (k + 1) as f64 / slices as f64);
                    if f0 >= fraction {
                        break;
                    }
                    area.draw(&Rectangle::new(segment(f0, f1.min(fraction)), rgb(*c).filled())).map_err(err)?;
                }
            }
            Mode::Lcd => {
                let length = if vertical { y1 - y0 } else { x1 - x0 };
                let cells = ((length / (10.0 * ratio)).floor() as usize).clamp(4, 60);
                let colours = segment_colours(&field, cells, min, max, false);
                let gap = 0.25 / cells as f64;
                for (k, c) in colours.iter().enumerate() {
                    let (f0, f1) = (k as f64 / cells as f64 + gap, (k + 1) as f64 / cells as f64 - gap);
                    let lit = (k as f64 + 0.5) / (cells as f64) <= fraction;
                    let style = if lit { rgb(*c).filled() } else { rgb(*c).mix(0.18).filled() };
                    area.draw(&Rectangle::new(segment(f0, f1), style)).map_err(err)?;
                }
            }
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
    use vigil_shared::dashboard::model::{ThresholdStep, Thresholds, ThresholdsMode};
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn segments_take_their_threshold_colour() {
        let (green, red) = (Rgb(0, 255, 0), Rgb(255, 0, 0));
        let field = FieldOptions {
            unit: String::new(),
            decimals: None,
            min: None,
            max: None,
            thresholds: Thresholds {
                mode: ThresholdsMode::Absolute,
                steps: vec![
                    ThresholdStep { color: "#00ff00".into(), value: None },
                    ThresholdStep { color: "#ff0000".into(), value: Some(50.0) },
                ],
            },
            fixed_colour: None,
            colour_by_thresholds: true,
        };
        assert_eq!(segment_colours(&field, 4, 0.0, 100.0, false), vec![green, green, red, red]);
        let blended = segment_colours(&field, 4, 0.0, 100.0, true);
        // The segment before the step blends towards red.
        assert_eq!(blended[0], green);
        assert_eq!(blended[1], green.mix(red, 0.5));
        assert_eq!(blended[3], red);
    }
}
