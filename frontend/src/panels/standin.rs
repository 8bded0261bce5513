//! Stand-ins for what `vigil_shared::dashboard` (branch `model`) will
//! provide: unit formatting, reduce calculations, threshold colours, the
//! classic palette and per-pixel downsampling. The renderers call these
//! through this one module so that, once `model` is merged, each function
//! here is replaced by a re-export of the shared one and no call site
//! changes. Nothing here may grow beyond what the renderers need now.

use std::cmp::Ordering;

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

/// Grafana's classic palette, in its order: series colours that stand out
/// from the grid on dark and light backgrounds alike.
pub const CLASSIC_PALETTE: [Rgb; 24] = [
    Rgb(0x7e, 0xb2, 0x6d),
    Rgb(0xea, 0xb8, 0x39),
    Rgb(0x6e, 0xd0, 0xe0),
    Rgb(0xef, 0x84, 0x3c),
    Rgb(0xe2, 0x4d, 0x42),
    Rgb(0x1f, 0x78, 0xc1),
    Rgb(0xba, 0x43, 0xa9),
    Rgb(0x70, 0x5d, 0xa0),
    Rgb(0x50, 0x86, 0x42),
    Rgb(0xcc, 0xa3, 0x00),
    Rgb(0x44, 0x7e, 0xbc),
    Rgb(0xc1, 0x5c, 0x17),
    Rgb(0x89, 0x0f, 0x02),
    Rgb(0x0a, 0x43, 0x7c),
    Rgb(0x6d, 0x1f, 0x62),
    Rgb(0x58, 0x44, 0x77),
    Rgb(0xb7, 0xdb, 0xab),
    Rgb(0xf4, 0xd5, 0x98),
    Rgb(0x70, 0xdb, 0xed),
    Rgb(0xf9, 0xba, 0x8f),
    Rgb(0xf2, 0x91, 0x91),
    Rgb(0x82, 0xb5, 0xd8),
    Rgb(0xe5, 0xa8, 0xe2),
    Rgb(0xae, 0xa2, 0xe0),
];

/// A stable colour for a series: the same label set gets the same colour
/// on every refresh and in every panel, whatever order series arrive in.
pub fn series_colour(key: &str) -> Rgb {
    // FNV-1a: tiny, and identical on every platform.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    CLASSIC_PALETTE[hash as usize % CLASSIC_PALETTE.len()]
}

/// A colour as dashboards write it: Grafana's named colours, `#rgb`,
/// `#rrggbb`, `rgb(r, g, b)` or `rgba(r, g, b, a)` (alpha ignored).
pub fn parse_colour(text: &str) -> Option<Rgb> {
    let text = text.trim();
    let named = match text.to_ascii_lowercase().as_str() {
        "green" => Some(Rgb(0x73, 0xbf, 0x69)),
        "dark-green" => Some(Rgb(0x37, 0x87, 0x2d)),
        "semi-dark-green" => Some(Rgb(0x56, 0xa6, 0x4b)),
        "light-green" => Some(Rgb(0x96, 0xd9, 0x8d)),
        "red" => Some(Rgb(0xf2, 0x49, 0x5c)),
        "dark-red" => Some(Rgb(0xc4, 0x16, 0x2a)),
        "semi-dark-red" => Some(Rgb(0xe0, 0x2f, 0x44)),
        "light-red" => Some(Rgb(0xff, 0x73, 0x83)),
        "yellow" => Some(Rgb(0xfa, 0xde, 0x2a)),
        "dark-yellow" => Some(Rgb(0xe0, 0xb4, 0x00)),
        "orange" => Some(Rgb(0xff, 0x98, 0x30)),
        "dark-orange" => Some(Rgb(0xfa, 0x64, 0x00)),
        "blue" => Some(Rgb(0x57, 0x94, 0xf2)),
        "dark-blue" => Some(Rgb(0x1f, 0x60, 0xc4)),
        "purple" => Some(Rgb(0xb8, 0x77, 0xd9)),
        "dark-purple" => Some(Rgb(0x8f, 0x3b, 0xb8)),
        "white" => Some(Rgb(0xff, 0xff, 0xff)),
        "black" => Some(Rgb(0, 0, 0)),
        "transparent" => Some(Rgb(0x80, 0x80, 0x80)),
        "text" => Some(Rgb(0xcc, 0xcc, 0xdc)),
        _ => None,
    };
    if named.is_some() {
        return named;
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

/// One threshold step: from `value` up (the first step's value is minus
/// infinity) the colour is `colour`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdStep {
    pub value: f64,
    pub colour: Rgb,
}

/// Threshold steps in ascending order; `percentage` steps are percentages
/// of the field's min..max range.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub percentage: bool,
    pub steps: Vec<ThresholdStep>,
}

impl Default for Thresholds {
    /// Grafana's default: green, and red from 80.
    fn default() -> Self {
        Thresholds {
            percentage: false,
            steps: vec![
                ThresholdStep { value: f64::NEG_INFINITY, colour: Rgb(0x73, 0xbf, 0x69) },
                ThresholdStep { value: 80.0, colour: Rgb(0xf2, 0x49, 0x5c) },
            ],
        }
    }
}

impl Thresholds {
    /// The steps with absolute values, for a field spanning `min..max`.
    pub fn absolute(&self, min: f64, max: f64) -> Vec<ThresholdStep> {
        self.steps
            .iter()
            .map(|s| ThresholdStep {
                value: if self.percentage && s.value.is_finite() {
                    min + (max - min) * s.value / 100.0
                } else {
                    s.value
                },
                colour: s.colour,
            })
            .collect()
    }

    /// The colour of `value`: that of the last step at or below it.
    pub fn colour_for(&self, value: f64, min: f64, max: f64) -> Rgb {
        let steps = self.absolute(min, max);
        let base = steps.first().map_or(Rgb(0x73, 0xbf, 0x69), |s| s.colour);
        steps.iter().rev().find(|s| value >= s.value).map_or(base, |s| s.colour)
    }
}

/// A reduce calculation over a series' finite values, by Grafana's calc id
/// (`lastNotNull`, `last`, `first`, `min`, `max`, `mean`, `sum`, `count`,
/// `range`, `delta`, `diff`). `None` for no value or an unknown id.
pub fn reduce(calc: &str, points: &[(i64, f64)]) -> Option<f64> {
    let finite = || points.iter().map(|p| p.1).filter(|v| v.is_finite());
    match calc {
        "lastNotNull" => finite().next_back(),
        "last" => points.last().map(|p| p.1),
        "firstNotNull" => finite().next(),
        "first" => points.first().map(|p| p.1),
        "min" => finite().min_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal)),
        "max" => finite().max_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal)),
        "mean" | "avg" => {
            let (sum, n) = finite().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            (n > 0).then(|| sum / n as f64)
        }
        "sum" => finite().reduce(|a, b| a + b),
        "count" => Some(points.len() as f64),
        "range" => Some(reduce("max", points)? - reduce("min", points)?),
        "diff" => Some(reduce("lastNotNull", points)? - reduce("firstNotNull", points)?),
        "delta" => {
            // Sum of increases, counter resets counted from zero.
            let mut total = 0.0;
            let mut prev: Option<f64> = None;
            for v in finite() {
                if let Some(p) = prev {
                    total += if v >= p { v - p } else { v };
                }
                prev = Some(v);
            }
            prev.map(|_| total)
        }
        _ => None,
    }
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

/// Formats `value` in `unit` (Grafana's unit ids: `short`, `bytes`,
/// `decbytes`, `bits`, `s`, `ms`, `percent`, `percentunit`, `none`, and any
/// other text as a suffix), with `decimals` digits or as many as the
/// magnitude needs.
pub fn format_value(value: f64, unit: &str, decimals: Option<u32>) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    match unit {
        "" | "none" => fixed(value, decimals),
        "short" => scaled(value, 1000.0, &["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint"], decimals),
        "bytes" => scaled(value, 1024.0, &[" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"], decimals),
        "decbytes" => scaled(value, 1000.0, &[" B", " kB", " MB", " GB", " TB", " PB", " EB"], decimals),
        "bits" => scaled(value, 1024.0, &[" b", " Kib", " Mib", " Gib", " Tib", " Pib"], decimals),
        "percent" => format!("{}%", fixed(value, decimals)),
        "percentunit" => format!("{}%", fixed(value * 100.0, decimals)),
        "s" => duration(value, decimals),
        "ms" => duration(value / 1000.0, decimals),
        "reqps" => format!("{} req/s", scaled(value, 1000.0, &["", " K", " Mil", " Bil"], decimals)),
        "ops" => format!("{} ops/s", scaled(value, 1000.0, &["", " K", " Mil", " Bil"], decimals)),
        other => format!("{} {other}", fixed(value, decimals)),
    }
}

/// Fixed-point with `decimals`, or about three significant digits with
/// trailing zeros dropped.
fn fixed(value: f64, decimals: Option<u32>) -> String {
    if let Some(d) = decimals {
        return format!("{value:.*}", d.min(12) as usize);
    }
    let a = value.abs();
    let d = if a == 0.0 || a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // Enough digits for three significant ones below 1.
        ((-a.log10()).floor() as usize + 3).min(12)
    };
    let text = format!("{value:.d$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

fn scaled(value: f64, base: f64, suffixes: &[&str], decimals: Option<u32>) -> String {
    let mut v = value;
    let mut i = 0;
    while v.abs() >= base && i + 1 < suffixes.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", fixed(v, decimals), suffixes[i])
}

/// Seconds as Grafana's `s` unit writes them: ns..ms below a second, then
/// s, min, hour, day, week, year.
fn duration(seconds: f64, decimals: Option<u32>) -> String {
    let a = seconds.abs();
    let (v, suffix) = if a == 0.0 {
        (0.0, " s")
    } else if a < 1e-6 {
        (seconds * 1e9, " ns")
    } else if a < 1e-3 {
        (seconds * 1e6, " µs")
    } else if a < 1.0 {
        (seconds * 1e3, " ms")
    } else if a < 60.0 {
        (seconds, " s")
    } else if a < 3600.0 {
        (seconds / 60.0, " min")
    } else if a < 86_400.0 {
        (seconds / 3600.0, " hour")
    } else if a < 604_800.0 {
        (seconds / 86_400.0, " day")
    } else if a < 31_536_000.0 {
        (seconds / 604_800.0, " week")
    } else {
        (seconds / 31_536_000.0, " year")
    };
    format!("{}{suffix}", fixed(v, decimals))
}

/// Per-pixel downsampling that keeps the shape a line would have at full
/// resolution: for each of `columns` pixel columns over `[from, to]`, the
/// first, lowest, highest and last point (M4), in time order. Input in
/// time order with finite values; a series already small is returned as is.
pub fn downsample_min_max(points: &[(i64, f64)], from: i64, to: i64, columns: usize) -> Vec<(i64, f64)> {
    if columns == 0 || points.len() <= columns * 4 || to <= from {
        return points.to_vec();
    }
    let span = (to - from) as f64;
    let column_of =
        |t: i64| (((t - from) as f64 / span) * columns as f64).floor().clamp(0.0, columns as f64 - 1.0) as usize;
    let mut out = Vec::with_capacity(columns * 4);
    let mut i = 0;
    while i < points.len() {
        let col = column_of(points[i].0);
        let start = i;
        let (mut lo, mut hi) = (i, i);
        while i < points.len() && column_of(points[i].0) == col {
            if points[i].1 < points[lo].1 {
                lo = i;
            }
            if points[i].1 > points[hi].1 {
                hi = i;
            }
            i += 1;
        }
        let end = i - 1;
        let mut picks = [start, lo, hi, end];
        picks.sort_unstable();
        let mut last = usize::MAX;
        for p in picks {
            if p != last {
                out.push(points[p]);
                last = p;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn formats_units() {
        let cases: &[(f64, &str, Option<u32>, &str)] = &[
            (1536.0, "bytes", None, "1.5 KiB"),
            (1_073_741_824.0, "bytes", Some(1), "1.0 GiB"),
            (1500.0, "decbytes", None, "1.5 kB"),
            (0.25, "s", None, "250 ms"),
            (90.0, "s", None, "1.5 min"),
            (0.000_002, "s", None, "2 µs"),
            (250.0, "ms", None, "250 ms"),
            (42.5, "percent", None, "42.5%"),
            (0.425, "percentunit", Some(1), "42.5%"),
            (1_234_567.0, "short", None, "1.23 Mil"),
            (12.0, "short", None, "12"),
            (0.001234, "none", None, "0.00123"),
            (f64::NAN, "bytes", None, "NaN"),
            (f64::INFINITY, "s", None, "+Inf"),
            (3.0, "widgets", None, "3 widgets"),
        ];
        for (value, unit, decimals, want) in cases {
            assert_eq!(format_value(*value, unit, *decimals), *want, "{value} {unit} {decimals:?}");
        }
    }

    #[wasm_bindgen_test]
    fn reduces() {
        let points = [(0, 3.0), (1, f64::NAN), (2, 1.0), (3, 5.0), (4, 2.0)];
        let cases: &[(&str, Option<f64>)] = &[
            ("lastNotNull", Some(2.0)),
            ("firstNotNull", Some(3.0)),
            ("min", Some(1.0)),
            ("max", Some(5.0)),
            ("mean", Some(2.75)),
            ("sum", Some(11.0)),
            ("count", Some(5.0)),
            ("range", Some(4.0)),
            ("diff", Some(-1.0)),
            // 3→1 is a reset (counts 1), 1→5 adds 4, 5→2 a reset (counts 2).
            ("delta", Some(7.0)),
            ("bogus", None),
        ];
        for (calc, want) in cases {
            assert_eq!(reduce(calc, &points), *want, "{calc}");
        }
        assert_eq!(reduce("max", &[]), None);
    }

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
        let t = Thresholds::default();
        assert_eq!(t.colour_for(10.0, 0.0, 100.0), Rgb(0x73, 0xbf, 0x69));
        assert_eq!(t.colour_for(80.0, 0.0, 100.0), Rgb(0xf2, 0x49, 0x5c));
        let pct = Thresholds { percentage: true, ..Thresholds::default() };
        // 80% of 0..1000 is 800.
        assert_eq!(pct.colour_for(700.0, 0.0, 1000.0), Rgb(0x73, 0xbf, 0x69));
        assert_eq!(pct.colour_for(900.0, 0.0, 1000.0), Rgb(0xf2, 0x49, 0x5c));
    }

    #[wasm_bindgen_test]
    fn downsampling_keeps_extremes_and_order() {
        let points: Vec<(i64, f64)> = (0..10_000).map(|i| (i, ((i * 7919) % 1000) as f64)).collect();
        let out = downsample_min_max(&points, 0, 10_000, 100);
        assert!(out.len() <= 400, "{} points", out.len());
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "time order");
        // Every column keeps its min and max.
        for col in 0..100 {
            let slice = &points[col * 100..(col + 1) * 100];
            let max = slice.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            let min = slice.iter().map(|p| p.1).fold(f64::MAX, f64::min);
            let kept: Vec<f64> = out.iter().filter(|p| p.0 / 100 == col as i64).map(|p| p.1).collect();
            assert!(kept.contains(&max) && kept.contains(&min), "column {col}");
        }
        let small = [(0, 1.0), (5, 2.0)];
        assert_eq!(downsample_min_max(&small, 0, 10, 100), small.to_vec());
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
