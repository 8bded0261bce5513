//! The shared render helpers (`vigil_shared::dashboard::render`: units,
//! reductions, thresholds, palette, downsampling) in the shapes the drawing
//! code uses: colours as [`Rgb`] for plotters and CSS, formatted values as
//! strings, points as `(ms, value)` slices. The logic itself lives in
//! `shared`; what is here is conversion, plus what only drawing needs
//! (colour parsing and blending, threshold bands as ranges, calc names).

use vigil_shared::dashboard::model::{ThresholdStep, Thresholds, ThresholdsMode};
use vigil_shared::dashboard::render;
use vigil_shared::model::labels::Labels;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`, for CSS.
    pub fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Linear blend towards `other`: `t = 0` is `self`, `t = 1` is `other`.
    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let t = t.clamp(0.0, 1.0);
        let channel = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Rgb(channel(self.0, other.0), channel(self.1, other.1), channel(self.2, other.2))
    }
}

/// A stable colour for a series (by a hash of its label text, from
/// Grafana's classic palette): the same label set gets the same colour on
/// every refresh and in every panel, whatever order series arrive in.
pub fn series_colour(key: &str) -> Rgb {
    parse_colour(render::series_color(key)).unwrap_or(GREY)
}

/// The colour of a series by its labels, keyed as `shared` keys it (the
/// label text `render::series_name` writes), so every view of a series
/// agrees on its colour.
pub fn labels_colour(labels: &Labels) -> Rgb {
    let pairs: Vec<(String, String)> = labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
    series_colour(&render::series_name(&pairs, ""))
}

/// What an unreadable colour is drawn in.
pub const GREY: Rgb = Rgb(0x80, 0x80, 0x80);

/// A colour as dashboards write it: Grafana's named colours, `#rgb`,
/// `#rrggbb`, `rgb(r, g, b)` or `rgba(r, g, b, a)` (alpha ignored).
pub fn parse_colour(text: &str) -> Option<Rgb> {
    let text = render::resolve_color(text.trim());
    match text.to_ascii_lowercase().as_str() {
        "white" => return Some(Rgb(0xff, 0xff, 0xff)),
        "black" => return Some(Rgb(0, 0, 0)),
        "transparent" | "text" => return Some(GREY),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix('#') {
        let digit = |i: usize, len: usize| u8::from_str_radix(hex.get(i..i + len)?, 16).ok();
        return match hex.len() {
            3 | 4 => Some(Rgb(digit(0, 1)? * 17, digit(1, 1)? * 17, digit(2, 1)? * 17)),
            6 | 8 => Some(Rgb(digit(0, 2)?, digit(2, 2)?, digit(4, 2)?)),
            _ => None,
        };
    }
    let inner = text.strip_prefix("rgba(").or_else(|| text.strip_prefix("rgb("))?.strip_suffix(')')?;
    let mut parts = inner.split(',').map(|p| p.trim().parse::<f64>().ok().map(|v| v.clamp(0.0, 255.0) as u8));
    Some(Rgb(parts.next()??, parts.next()??, parts.next()??))
}

/// Grafana's default thresholds: green, and red from 80.
pub fn default_thresholds() -> Thresholds {
    Thresholds {
        mode: ThresholdsMode::Absolute,
        steps: vec![
            ThresholdStep { color: "green".to_owned(), value: None },
            ThresholdStep { color: "red".to_owned(), value: Some(80.0) },
        ],
    }
}

/// The colour of `value` on a field spanning `min..max`.
pub fn threshold_colour(thresholds: &Thresholds, value: f64, min: f64, max: f64) -> Rgb {
    render::threshold_color(value, thresholds, min, max).and_then(parse_colour).unwrap_or(GREY)
}

/// The steps as bands for drawing: (from, colour) in ascending order with
/// absolute values (percentages read against `min..max`); the base step
/// starts at minus infinity.
pub fn threshold_bands(thresholds: &Thresholds, min: f64, max: f64) -> Vec<(f64, Rgb)> {
    thresholds
        .steps
        .iter()
        .map(|s| {
            let from = match (s.value, thresholds.mode) {
                (None, _) => f64::NEG_INFINITY,
                (Some(v), ThresholdsMode::Absolute) => v,
                (Some(v), ThresholdsMode::Percentage) => min + (max - min) * v / 100.0,
            };
            (from, parse_colour(&s.color).unwrap_or(GREY))
        })
        .collect()
}

/// A reduce calculation by Grafana's calc id (`lastNotNull`, `mean`, …)
/// over a series' values; `None` for no value or an unknown id.
pub fn reduce(calc: &str, points: &[(i64, f64)]) -> Option<f64> {
    let values: Vec<Option<f64>> = points.iter().map(|p| Some(p.1)).collect();
    render::reduce(&values, calc)
}

/// Grafana's display name of a calc, for legend headers.
pub fn calc_name(calc: &str) -> &str {
    match calc {
        "lastNotNull" => "Last *",
        "last" => "Last",
        "firstNotNull" => "First *",
        "first" => "First",
        "min" => "Min",
        "max" => "Max",
        "mean" | "avg" => "Mean",
        "sum" => "Total",
        "count" => "Count",
        "range" => "Range",
        "delta" => "Delta",
        "diff" => "Difference",
        other => other,
    }
}

/// `value` formatted in Grafana's `unit` (empty for none) with `decimals`
/// or Grafana's automatic ones.
pub fn format_value(value: f64, unit: &str, decimals: Option<u32>) -> String {
    render::format_value(value, (!unit.is_empty()).then_some(unit), decimals).to_string()
}

/// Per-pixel min/max (M4) downsampling of `points` over `[from, to]` into
/// `columns` pixel columns.
pub fn downsample_min_max(points: &[(i64, f64)], from: i64, to: i64, columns: usize) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    render::downsample(points, from, to, columns, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn parses_colours_and_thresholds() {
        let cases: &[(&str, Option<Rgb>)] = &[
            ("#ff0000", Some(Rgb(255, 0, 0))),
            ("#0f0", Some(Rgb(0, 255, 0))),
            ("rgb(1, 2, 3)", Some(Rgb(1, 2, 3))),
            ("rgba(10,20,30,0.5)", Some(Rgb(10, 20, 30))),
            ("green", Some(Rgb(0x73, 0xbf, 0x69))),
            ("#zzzzzz", None),
            ("nonsense", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_colour(text), *want, "{text}");
        }
        let t = default_thresholds();
        assert_eq!(threshold_colour(&t, 10.0, 0.0, 100.0), Rgb(0x73, 0xbf, 0x69));
        assert_eq!(threshold_colour(&t, 80.0, 0.0, 100.0), Rgb(0xf2, 0x49, 0x5c));
        let pct = Thresholds { mode: ThresholdsMode::Percentage, ..default_thresholds() };
        // 80% of 0..1000 is 800.
        assert_eq!(threshold_colour(&pct, 700.0, 0.0, 1000.0), Rgb(0x73, 0xbf, 0x69));
        assert_eq!(threshold_colour(&pct, 900.0, 0.0, 1000.0), Rgb(0xf2, 0x49, 0x5c));
        let bands = threshold_bands(&pct, 0.0, 1000.0);
        assert_eq!(bands, vec![(f64::NEG_INFINITY, Rgb(0x73, 0xbf, 0x69)), (800.0, Rgb(0xf2, 0x49, 0x5c))]);
    }

    #[wasm_bindgen_test]
    fn series_colours_are_stable() {
        let a = series_colour("{job=\"a\"}");
        assert_eq!(a, series_colour("{job=\"a\"}"));
        let distinct: std::collections::HashSet<_> =
            (0..50).map(|i| series_colour(&format!("{{instance=\"{i}\"}}")).css()).collect();
        assert!(distinct.len() > 10, "only {} colours for 50 series", distinct.len());
    }
}
