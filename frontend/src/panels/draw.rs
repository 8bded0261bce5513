//! Pure drawing of a time-series graph with `plotters`: data and a drawing
//! area in, pixels out. No DOM or network here, so it can be tested and
//! reused by any backend.

use plotters::coord::Shift;
use plotters::prelude::*;
use vigil_shared::model::api::RangeSeries;

/// Series colours, Grafana's classic palette: saturated, so lines stand out
/// from the grey grid and axes.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x7e, 0xb2, 0x6d),
    RGBColor(0xea, 0xb8, 0x39),
    RGBColor(0x6e, 0xd0, 0xe0),
    RGBColor(0xef, 0x84, 0x3c),
    RGBColor(0xe2, 0x4d, 0x42),
    RGBColor(0x1f, 0x78, 0xc1),
    RGBColor(0xba, 0x43, 0xa9),
    RGBColor(0x70, 0x5d, 0xa0),
    RGBColor(0x50, 0x8d, 0xe8),
    RGBColor(0xcc, 0xa3, 0x00),
];

/// A stable colour for a series: the same label set gets the same colour on
/// every refresh, whatever order the series arrive in.
pub fn series_colour(key: &str) -> RGBColor {
    // FNV-1a: tiny, and identical on every platform.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    PALETTE[hash as usize % PALETTE.len()]
}

/// What was drawn, for the panel to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drawn {
    pub series: usize,
    pub points: usize,
}

/// Formats a time axis label as local `HH:MM:SS`.
fn time_label(ms: &i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(*ms as f64));
    format!("{:02}:{:02}:{:02}", date.get_hours(), date.get_minutes(), date.get_seconds())
}

/// Formats a value axis label compactly (SI suffixes for large values).
fn value_label(v: &f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (*v, "")
    };
    let text = format!("{scaled:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

/// The value range to show: the data's finite min and max, padded, and
/// never empty (a flat line sits in the middle).
fn value_range(series: &[RangeSeries]) -> (f64, f64) {
    let values = series.iter().flat_map(|s| s.values.iter().map(|p| p.value)).filter(|v| v.is_finite());
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !min.is_finite() {
        return (0.0, 1.0);
    }
    if min == max {
        let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        return (min - pad, max + pad);
    }
    let pad = (max - min) * 0.05;
    (min - pad, max + pad)
}

/// Draws `series` over `[start_ms, end_ms]` on `area`, white background,
/// grey grid, one coloured line per series (broken at gaps and NaNs).
pub fn draw_time_series<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[RangeSeries],
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<Drawn, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let (y_min, y_max) = value_range(series);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(start_ms..end_ms.max(start_ms + 1), y_min..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .axis_style(RGBColor(0x99, 0x99, 0x99))
        .label_style(("sans-serif", 12).into_font().color(&RGBColor(0x55, 0x55, 0x55)))
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&time_label)
        .y_label_formatter(&value_label)
        .draw()
        .map_err(err)?;
    let mut drawn = Drawn::default();
    for s in series {
        let colour = series_colour(&s.metric.to_string());
        // Split at gaps wider than 1.5 steps and at non-finite values, so a
        // missing scrape shows as a gap, not a straight line across it.
        let mut segment: Vec<(i64, f64)> = Vec::new();
        let mut segments = Vec::new();
        for p in &s.values {
            let gap = segment.last().is_some_and(|(t, _)| p.timestamp_ms - t > step_ms * 3 / 2);
            if gap || !p.value.is_finite() {
                segments.push(std::mem::take(&mut segment));
            }
            if p.value.is_finite() {
                segment.push((p.timestamp_ms, p.value));
                drawn.points += 1;
            }
        }
        segments.push(segment);
        for segment in segments.into_iter().filter(|s| !s.is_empty()) {
            if segment.len() == 1 {
                chart.draw_series(segment.iter().map(|p| Circle::new(*p, 2, colour.filled()))).map_err(err)?;
            } else {
                chart.draw_series(LineSeries::new(segment, colour.stroke_width(2))).map_err(err)?;
            }
        }
        drawn.series += 1;
    }
    area.present().map_err(err)?;
    Ok(drawn)
}
