//! Pure helpers the panels draw with: series names from `legendFormat`,
//! series colours, values formatted by unit, Grafana's reduce calculations,
//! threshold colours and per-pixel min/max downsampling.
//!
//! Each follows Grafana's own code so a dashboard reads the same in both:
//! `renderLegendFormat` (legend), `classicColors` (palette),
//! `valueFormats` / `toFixed` / `getDecimalsForValue` / `scaledUnits` /
//! `toSeconds` / `toDuration` (units), `doStandardCalcs` (reductions),
//! `getActiveThreshold` (thresholds). Differences are noted where they are.
//!
//! Colours: Grafana's `palette-classic` colours series by their index in the
//! panel, so a series changes colour when another appears before it. The
//! dashboards here colour by a hash of the series' labels instead
//! ([`series_color`]), so a series keeps its colour across refreshes and
//! panels; [`classic_color`] gives Grafana's by-index choice where wanted.

use super::model::{Thresholds, ThresholdsMode};

// ---------------------------------------------------------------------------
// Legend names.

/// A series' legend name. `legend_format` with `{{label}}` placeholders is
/// rendered against the labels (an absent label leaves its placeholder, as
/// Grafana's current `renderLegendFormat` does); an empty format or
/// `__auto` gives `metric{a="1", b="2"}` (labels sorted, `__name__` first),
/// and a series with no labels at all is named by its expression.
pub fn legend_name(legend_format: Option<&str>, labels: &[(String, String)], expr: &str) -> String {
    match legend_format.map(str::trim) {
        Some(f) if !f.is_empty() && f != "__auto" => render_legend_format(legend_format.unwrap_or(f), labels),
        _ => series_name(labels, expr),
    }
}

fn render_legend_format(pattern: &str, labels: &[(String, String)]) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else { break };
        let key = rest[start + 2..start + 2 + len].trim();
        out.push_str(&rest[..start]);
        match labels.iter().find(|(k, _)| k == key) {
            Some((_, v)) => out.push_str(v),
            None => out.push_str(&rest[start..start + len + 4]),
        }
        rest = &rest[start + len + 4..];
    }
    out.push_str(rest);
    out
}

/// `name{a="1", b="2"}` as Grafana names a series without a legend format.
pub fn series_name(labels: &[(String, String)], expr: &str) -> String {
    let name = labels.iter().find(|(k, _)| k == "__name__").map_or("", |(_, v)| v.as_str());
    let mut rest: Vec<&(String, String)> = labels.iter().filter(|(k, _)| k != "__name__").collect();
    if name.is_empty() && rest.is_empty() {
        return expr.to_string();
    }
    if rest.is_empty() {
        return name.to_string();
    }
    rest.sort();
    let inner: Vec<String> = rest.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(", "))
}

// ---------------------------------------------------------------------------
// Colours.

/// Grafana's classic palette (`classicColors`), in its order.
pub const CLASSIC_PALETTE: [&str; 56] = [
    "#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0", "#508642", "#CCA300",
    "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477", "#B7DBAB", "#F4D598", "#70DBED", "#F9BA8F",
    "#F29191", "#82B5D8", "#E5A8E2", "#AEA2E0", "#629E51", "#E5AC0E", "#64B0C8", "#E0752D", "#BF1B00", "#0A50A1",
    "#962D82", "#614D93", "#9AC48A", "#F2C96D", "#65C5DB", "#F9934E", "#EA6460", "#5195CE", "#D683CE", "#806EB7",
    "#3F6833", "#967302", "#2F575E", "#99440A", "#58140C", "#052B51", "#511749", "#3F2B5B", "#E0F9D7", "#FCEACA",
    "#CFFAFF", "#F9E2D2", "#FCE2DE", "#BADFF4", "#F9D9F9", "#DEDAF7",
];

/// Grafana's choice: the colour of the series at `index` in its panel.
pub fn classic_color(index: usize) -> &'static str {
    CLASSIC_PALETTE[index % CLASSIC_PALETTE.len()]
}

/// A stable colour for a series: FNV-1a of its label text (as
/// [`series_name`] writes it) picks from the first 24 classic colours — the
/// saturated ones; the later, pale ones vanish on a light background.
pub fn series_color(series_key: &str) -> &'static str {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in series_key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    CLASSIC_PALETTE[hash as usize % 24]
}

/// Grafana's named colours (`green`, `dark-red`, `semi-dark-blue`…) as hex;
/// anything else (hex, `rgb(…)`, `rgba(…)`) is returned unchanged.
pub fn resolve_color(name: &str) -> &str {
    const NAMED: &[(&str, [&str; 5])] = &[
        // super-light, light, primary, semi-dark, dark
        ("red", ["#FFA6B0", "#FF7383", "#F2495C", "#E02F44", "#C4162A"]),
        ("orange", ["#FFCB7D", "#FFB357", "#FF9830", "#FF780A", "#FA6400"]),
        ("yellow", ["#FFF899", "#FFEE52", "#FADE2A", "#F2CC0C", "#E0B400"]),
        ("green", ["#C8F2C2", "#96D98D", "#73BF69", "#56A64B", "#37872D"]),
        ("blue", ["#C0D8FF", "#8AB8FF", "#5794F2", "#3274D9", "#1F60C4"]),
        ("purple", ["#DEB6F2", "#CA95E5", "#B877D9", "#A352CC", "#8F3BB8"]),
    ];
    let (shade, hue) = [("super-light-", 0), ("light-", 1), ("semi-dark-", 3), ("dark-", 4)]
        .iter()
        .find_map(|(p, i)| name.strip_prefix(p).map(|h| (*i, h)))
        .unwrap_or((2, name));
    NAMED.iter().find(|(h, _)| *h == hue).map_or(name, |(_, shades)| shades[shade])
}

// ---------------------------------------------------------------------------
// Values by unit.

/// A formatted value, split as Grafana splits it (the suffix may be drawn
/// smaller). `to_string()` joins them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormattedValue {
    pub prefix: String,
    pub text: String,
    pub suffix: String,
}

impl std::fmt::Display for FormattedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.prefix, self.text, self.suffix)
    }
}

fn fv(text: String, suffix: &str) -> FormattedValue {
    FormattedValue { prefix: String::new(), text, suffix: suffix.to_string() }
}

/// JavaScript's `Math.round`: halves go up.
fn js_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

/// JavaScript's `String(number)`: shortest round-trip digits, exponent form
/// from 1e21 up and below 1e-6.
fn js_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-6..1e21).contains(&a) {
        return format!("{x}");
    }
    // Rust's `{:e}` is `1.5e-7`; JavaScript writes `1.5e-7` and `1e+21`.
    let s = format!("{x:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

/// Grafana's `getDecimalsForValue`: none for integers, else enough for
/// three significant digits (its "norm" is between 10 and 100, so the 2.25
/// special case always applies).
fn auto_decimals(value: f64) -> i32 {
    if value.fract() == 0.0 {
        return 0;
    }
    let abs = value.abs();
    let log10 = (abs.ln() / std::f64::consts::LN_10).floor() as i32;
    let mut dec = -log10 + 1;
    let magn = 10f64.powi(-dec);
    let norm = abs / magn;
    if norm > 2.25 {
        dec += 1;
    }
    dec.max(0)
}

/// Grafana's `toFixed`: rounds to `decimals` (automatic when `None`) and
/// pads with zeros to exactly that many.
pub fn to_fixed(value: f64, decimals: Option<u32>) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "∞".into() } else { "-∞".into() };
    }
    if value.is_nan() {
        return "NaN".into();
    }
    let decimals = decimals.map_or_else(|| auto_decimals(value), |d| d.min(20) as i32);
    let factor = if decimals > 0 { 10f64.powi(decimals) } else { 1.0 };
    let formatted = js_number(js_round(value * factor) / factor);
    if formatted.contains('e') || value == 0.0 {
        return formatted;
    }
    let precision = formatted.find('.').map_or(0, |p| formatted.len() - p - 1) as i32;
    if precision < decimals {
        let zeros = "0".repeat((decimals - precision) as usize);
        return if precision > 0 { format!("{formatted}{zeros}") } else { format!("{formatted}.{zeros}") };
    }
    formatted
}

/// Grafana's `scaledUnits`: divide by `factor` per step along `suffixes`.
fn scaled(value: f64, decimals: Option<u32>, factor: f64, suffixes: &[&str], offset: i32) -> FormattedValue {
    if !value.is_finite() {
        return fv(to_fixed(value, None), "");
    }
    let si = if value == 0.0 { 0 } else { (value.abs().ln() / factor.ln()).floor() as i32 };
    let last = suffixes.len() as i32 - 1;
    let suffix = suffixes[(offset + si).clamp(0, last) as usize];
    let power = si.clamp(-offset, last - offset);
    fv(to_fixed(value / factor.powi(power), decimals), suffix)
}

const SI: [&str; 14] = ["f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y"];
const IEC: [&str; 9] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"];

fn si_prefix(value: f64, decimals: Option<u32>, unit: &str) -> FormattedValue {
    let suffixes: Vec<String> = SI.iter().map(|p| format!(" {p}{unit}")).collect();
    let refs: Vec<&str> = suffixes.iter().map(String::as_str).collect();
    scaled(value, decimals, 1000.0, &refs, 5)
}

fn binary_prefix(value: f64, decimals: Option<u32>, unit: &str) -> FormattedValue {
    let suffixes: Vec<String> = IEC.iter().map(|p| format!(" {p}{unit}")).collect();
    let refs: Vec<&str> = suffixes.iter().map(String::as_str).collect();
    scaled(value, decimals, 1024.0, &refs, 0)
}

/// Grafana's `simpleCountUnit`: `1.5K req/s`.
fn count_unit(value: f64, decimals: Option<u32>, symbol: &str) -> FormattedValue {
    let mut v = scaled(value, decimals, 1000.0, &["", "K", "M", "B", "T"], 0);
    v.suffix = format!("{} {symbol}", v.suffix);
    v
}

fn to_seconds(s: f64, d: Option<u32>) -> FormattedValue {
    let a = s.abs();
    match () {
        _ if s == 0.0 => fv("0".into(), " s"),
        _ if a < 0.000_001 => fv(to_fixed(s * 1e9, d), " ns"),
        _ if a < 0.001 => fv(to_fixed(s * 1e6, d), " µs"),
        _ if a < 1.0 => fv(to_fixed(s * 1e3, d), " ms"),
        _ if a < 60.0 => fv(to_fixed(s, d), " s"),
        _ if a < 3600.0 => fv(to_fixed(s / 60.0, d), " min"),
        _ if a < 86_400.0 => fv(to_fixed(s / 3600.0, d), " hour"),
        _ if a < 604_800.0 => fv(to_fixed(s / 86_400.0, d), " day"),
        _ if a < 31_536_000.0 => fv(to_fixed(s / 604_800.0, d), " week"),
        _ => fv(to_fixed(s / 3.15569e7, d), " year"),
    }
}

fn to_milliseconds(ms: f64, d: Option<u32>) -> FormattedValue {
    let a = ms.abs();
    match () {
        _ if a < 1000.0 => fv(to_fixed(ms, d), " ms"),
        _ if a < 60_000.0 => fv(to_fixed(ms / 1000.0, d), " s"),
        _ if a < 3_600_000.0 => fv(to_fixed(ms / 60_000.0, d), " min"),
        _ if a < 86_400_000.0 => fv(to_fixed(ms / 3_600_000.0, d), " hour"),
        _ if a < 31_536_000_000.0 => fv(to_fixed(ms / 86_400_000.0, d), " day"),
        _ => fv(to_fixed(ms / 31_536_000_000.0, d), " year"),
    }
}

fn to_microseconds(us: f64, d: Option<u32>) -> FormattedValue {
    let a = us.abs();
    match () {
        _ if a < 1000.0 => fv(to_fixed(us, d), " µs"),
        _ if a < 1_000_000.0 => fv(to_fixed(us / 1000.0, d), " ms"),
        _ => fv(to_fixed(us / 1_000_000.0, d), " s"),
    }
}

/// Grafana's `toDuration` in seconds: `2 hours, 5 minutes`; `decimals`
/// is how many more units follow the first.
fn to_duration(seconds: f64, decimals: Option<u32>) -> FormattedValue {
    if !seconds.is_finite() {
        return fv(to_fixed(seconds, None), "");
    }
    if seconds == 0.0 {
        return fv("0".into(), " seconds");
    }
    if seconds < 0.0 {
        let mut v = to_duration(-seconds, decimals);
        v.suffix.push_str(" ago");
        return v;
    }
    const UNITS: [(&str, f64); 8] = [
        ("year", 31_536_000_000.0),
        ("month", 2_592_000_000.0),
        ("week", 604_800_000.0),
        ("day", 86_400_000.0),
        ("hour", 3_600_000.0),
        ("minute", 60_000.0),
        ("second", 1000.0),
        ("millisecond", 1.0),
    ];
    let mut size = seconds * 1000.0;
    let mut parts = Vec::new();
    let mut started = false;
    let mut left = decimals.map_or(0, |d| d.min(8) as i32);
    for (name, ms) in UNITS {
        if left < 0 {
            break;
        }
        let value = size / ms;
        if value >= 1.0 || started {
            started = true;
            let floor = value.floor();
            parts.push(format!("{floor} {name}{}", if floor == 1.0 { "" } else { "s" }));
            size %= ms;
            left -= 1;
        }
    }
    fv(parts.join(", "), "")
}

/// The units [`format_value`] knows, with Grafana's ids.
pub const UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "decbytes",
    "bits",
    "decbits",
    "bps",
    "Bps",
    "s",
    "ms",
    "µs",
    "us",
    "ns",
    "dtdurations",
    "reqps",
    "ops",
    "rps",
    "wps",
    "hertz",
];

/// Formats a value as Grafana does for `unit` (an id from [`UNITS`];
/// unknown ids are written as a plain suffix, as Grafana's custom units
/// are), with `decimals` or Grafana's automatic decimals.
pub fn format_value(value: f64, unit: Option<&str>, decimals: Option<u32>) -> FormattedValue {
    let d = decimals;
    match unit.unwrap_or("none") {
        "" | "none" => fv(to_fixed(value, d), ""),
        "short" => {
            scaled(value, d, 1000.0, &["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"], 0)
        }
        "percent" => fv(to_fixed(value, d), "%"),
        "percentunit" => fv(to_fixed(value * 100.0, d), "%"),
        "bytes" => binary_prefix(value, d, "B"),
        "decbytes" => si_prefix(value, d, "B"),
        "bits" => binary_prefix(value, d, "b"),
        "decbits" => si_prefix(value, d, "b"),
        "bps" => si_prefix(value, d, "bps"),
        "Bps" => si_prefix(value, d, "B/s"),
        "hertz" => si_prefix(value, d, "Hz"),
        "s" => to_seconds(value, d),
        "ms" => to_milliseconds(value, d),
        "µs" | "us" => to_microseconds(value, d),
        "ns" => to_seconds(value / 1e9, d),
        "dtdurations" => to_duration(value, d),
        "reqps" => count_unit(value, d, "req/s"),
        "ops" => count_unit(value, d, "ops/s"),
        "rps" => count_unit(value, d, "rd/s"),
        "wps" => count_unit(value, d, "wr/s"),
        other => {
            // Grafana's custom units: `suffix:<text>`, `prefix:<text>`, or
            // any other id as a suffix after a space.
            if let Some(p) = other.strip_prefix("prefix:") {
                FormattedValue { prefix: p.to_string(), text: to_fixed(value, d), suffix: String::new() }
            } else {
                let s = other.strip_prefix("suffix:").unwrap_or(other);
                fv(to_fixed(value, d), &format!(" {s}"))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Reductions.

/// Grafana's reducer ids that [`reduce`] computes.
pub const REDUCERS: &[&str] =
    &["last", "lastNotNull", "first", "firstNotNull", "min", "max", "mean", "sum", "count", "range", "delta", "diff"];

/// Reduces a series to one value with Grafana's `doStandardCalcs` (nulls
/// counted by `count` but skipped by the others; NaN is taken as null).
/// `None` when the calculation has no value (e.g. `max` of only nulls) or
/// the id is unknown.
pub fn reduce(values: &[Option<f64>], calc: &str) -> Option<f64> {
    let clean = |v: &Option<f64>| v.filter(|x| !x.is_nan());
    match calc {
        "last" => values.last().and_then(clean),
        "first" => values.first().and_then(clean),
        "count" => Some(values.len() as f64),
        _ => {
            let mut s = Stats::default();
            for v in values.iter().filter_map(clean) {
                s.push(v);
            }
            if let Some(last) = values.last() {
                // A counter reset on the very last value counts that value.
                s.finish(clean(last).is_some());
            }
            match calc {
                "lastNotNull" => s.last,
                "firstNotNull" => s.first,
                "min" => s.first.map(|_| s.min),
                "max" => s.first.map(|_| s.max),
                "sum" => Some(s.sum),
                "mean" => (s.n > 0).then(|| s.sum / s.n as f64),
                "range" => s.first.map(|_| s.max - s.min),
                "delta" => Some(s.delta),
                "diff" => s.first.zip(s.last).map(|(f, l)| l - f),
                _ => None,
            }
        }
    }
}

#[derive(Default)]
struct Stats {
    first: Option<f64>,
    last: Option<f64>,
    min: f64,
    max: f64,
    sum: f64,
    n: usize,
    delta: f64,
    previous_up: bool,
    reset_at_end: Option<f64>,
}

impl Stats {
    fn push(&mut self, v: f64) {
        match self.last {
            None => {
                self.first = Some(v);
                self.min = v;
                self.max = v;
                self.previous_up = true;
            }
            Some(prev) => {
                self.reset_at_end = None;
                if prev > v {
                    // Counter reset: counted only if it is the last value.
                    self.previous_up = false;
                    self.reset_at_end = Some(v);
                } else {
                    self.delta += if self.previous_up { v - prev } else { v };
                    self.previous_up = true;
                }
            }
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.n += 1;
        self.last = Some(v);
    }

    fn finish(&mut self, last_is_value: bool) {
        if let Some(v) = self.reset_at_end.filter(|_| last_is_value) {
            self.delta += v;
        }
    }
}

// ---------------------------------------------------------------------------
// Thresholds.

/// The colour of the step a value falls in (Grafana's `getActiveThreshold`):
/// the last step whose value is at or below it, the base step below all.
/// Percentage steps are read against `min`…`max`.
pub fn threshold_color(value: f64, thresholds: &Thresholds, min: f64, max: f64) -> Option<&str> {
    let v = match thresholds.mode {
        ThresholdsMode::Absolute => value,
        ThresholdsMode::Percentage if max > min => (value - min) / (max - min) * 100.0,
        ThresholdsMode::Percentage => 0.0,
    };
    let mut active = thresholds.steps.first()?;
    for step in &thresholds.steps {
        match step.value {
            None => active = step,
            Some(t) if v >= t => active = step,
            Some(_) => break,
        }
    }
    Some(active.color.as_str())
}

// ---------------------------------------------------------------------------
// Downsampling.

/// Reduces a series to at most four points per pixel column — the first,
/// lowest, highest and last of the column, in time order — so that a line
/// drawn through them covers exactly the pixels the full series would
/// (the "M4" reduction). `points` are `(time ms, value)` in time order; NaN
/// values mark gaps and one is kept per column where they occur, so gaps
/// still break the line. Points outside `from_ms..=to_ms` are dropped, and a
/// series already small enough is copied as it is.
pub fn downsample(points: &[(i64, f64)], from_ms: i64, to_ms: i64, columns: usize, out: &mut Vec<(i64, f64)>) {
    out.clear();
    let lo = points.partition_point(|p| p.0 < from_ms);
    let hi = points.partition_point(|p| p.0 <= to_ms);
    let points = &points[lo..hi.max(lo)];
    if columns == 0 || points.len() <= columns.saturating_mul(4) || to_ms <= from_ms {
        out.extend_from_slice(points);
        return;
    }
    // Integer column arithmetic (i128: no overflow for any i64 times):
    // column(t) = floor((t - from) × columns / span). Each column is scanned
    // up to its first time that belongs to the next one, so the inner loop
    // is one comparison per point.
    let span = i128::from(to_ms - from_ms);
    let cols = columns as i128;
    let column_of = |t: i64| ((i128::from(t - from_ms) * cols / span) as usize).min(columns - 1);
    let mut i = 0;
    while i < points.len() {
        let col = column_of(points[i].0);
        let boundary = if col + 1 >= columns {
            i64::MAX
        } else {
            let n = (col as i128 + 1) * span;
            (i128::from(from_ms) + (n + cols - 1) / cols) as i64
        };
        let start = i;
        // Indices of first, min, max, last finite value and the first gap.
        let (mut first, mut min, mut max, mut last, mut gap) =
            (usize::MAX, usize::MAX, usize::MAX, usize::MAX, usize::MAX);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (j, &(t, v)) in points.iter().enumerate().skip(i) {
            if t >= boundary {
                break;
            }
            i = j + 1;
            if v.is_nan() {
                if gap == usize::MAX {
                    gap = j;
                }
                continue;
            }
            if first == usize::MAX {
                first = j;
            }
            // Strict comparisons keep the earliest of equal extremes.
            if v < lo {
                lo = v;
                min = j;
            }
            if v > hi {
                hi = v;
                max = j;
            }
            last = j;
        }
        let mut picks = [first, min, max, last, gap];
        picks.sort_unstable();
        let mut prev = usize::MAX;
        for p in picks {
            if p != usize::MAX && p != prev && p >= start {
                out.push(points[p]);
                prev = p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::model::ThresholdStep;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn legend_names() {
        let l = labels(&[("__name__", "http_requests_total"), ("job", "api"), ("code", "200")]);
        let cases: &[(Option<&str>, &str)] = &[
            (Some("{{code}}"), "200"),
            (Some("{{ job }} / {{code}}"), "api / 200"),
            (Some("{{missing}} x"), "{{missing}} x"),
            (Some("{{__name__}}"), "http_requests_total"),
            (Some("{{unclosed"), "{{unclosed"),
            (Some("static"), "static"),
            (None, r#"http_requests_total{code="200", job="api"}"#),
            (Some(""), r#"http_requests_total{code="200", job="api"}"#),
            (Some("__auto"), r#"http_requests_total{code="200", job="api"}"#),
        ];
        for (format, want) in cases {
            assert_eq!(legend_name(*format, &l, "expr"), *want, "{format:?}");
        }
        assert_eq!(legend_name(None, &labels(&[("__name__", "up")]), "e"), "up");
        assert_eq!(legend_name(None, &labels(&[("job", "x")]), "e"), r#"{job="x"}"#);
        assert_eq!(legend_name(None, &[], "sum(rate(x[5m]))"), "sum(rate(x[5m]))");
        // A value holding a placeholder is not expanded again.
        assert_eq!(legend_name(Some("{{a}}{{b}}"), &labels(&[("a", "{{b}}"), ("b", "B")]), ""), "{{b}}B");
    }

    #[test]
    fn colours() {
        assert_eq!(classic_color(0), "#7EB26D");
        assert_eq!(classic_color(57), "#EAB839");
        let a = series_color(r#"up{job="a"}"#);
        assert_eq!(a, series_color(r#"up{job="a"}"#));
        let distinct: std::collections::HashSet<&str> = (0..100).map(|i| series_color(&format!("s{i}"))).collect();
        assert!(distinct.len() > 15, "{distinct:?}");
        assert!(distinct.iter().all(|c| CLASSIC_PALETTE[..24].contains(c)));
        let cases: &[(&str, &str)] = &[
            ("green", "#73BF69"),
            ("dark-red", "#C4162A"),
            ("semi-dark-orange", "#FF780A"),
            ("super-light-blue", "#C0D8FF"),
            ("light-purple", "#CA95E5"),
            ("#123456", "#123456"),
            ("rgba(1, 2, 3, 0.5)", "rgba(1, 2, 3, 0.5)"),
            ("dark-nonsense", "dark-nonsense"),
        ];
        for (name, want) in cases {
            assert_eq!(resolve_color(name), *want);
        }
    }

    #[test]
    fn fixed_and_auto_decimals() {
        let cases: &[(f64, Option<u32>, &str)] = &[
            (0.0, None, "0"),
            (1.0, None, "1"),
            (1.5, None, "1.50"),
            (2.2, None, "2.20"),
            (2.5, None, "2.50"),
            (3.14259, None, "3.14"),
            (0.012345, None, "0.0123"),
            (123.456, None, "123"),
            (-2.5, None, "-2.50"),
            (1.005, Some(2), "1.00"),
            (1.0, Some(2), "1.00"),
            (12.3, Some(3), "12.300"),
            (2.345, Some(1), "2.3"),
            (-1.25, Some(1), "-1.2"),
            (1e21, None, "1e+21"),
            (f64::INFINITY, None, "∞"),
        ];
        for &(v, d, want) in cases {
            assert_eq!(to_fixed(v, d), want, "{v} {d:?}");
        }
    }

    #[test]
    fn units() {
        let cases: &[(f64, &str, Option<u32>, &str)] = &[
            (1536.0, "bytes", None, "1.50 KiB"),
            (1024.0 * 1024.0 * 3.0, "bytes", None, "3 MiB"),
            (512.0, "bytes", None, "512 B"),
            (0.0, "bytes", None, "0 B"),
            (1500.0, "decbytes", None, "1.50 kB"),
            (2_500_000_000.0, "decbytes", Some(1), "2.5 GB"),
            (0.5, "decbytes", None, "500 mB"),
            (2048.0, "bits", None, "2 Kib"),
            (1_000_000.0, "bps", None, "1 Mbps"),
            (1234.0, "Bps", Some(2), "1.23 kB/s"),
            (0.5, "s", None, "500 ms"),
            (0.000_25, "s", None, "250 µs"),
            (5e-8, "s", None, "50 ns"),
            (45.0, "s", None, "45 s"),
            (90.0, "s", None, "1.50 min"),
            (7200.0, "s", None, "2 hour"),
            (172_800.0, "s", None, "2 day"),
            (1_209_600.0, "s", None, "2 week"),
            (63_113_800.0, "s", None, "2 year"),
            (0.0, "s", None, "0 s"),
            (250.0, "ms", None, "250 ms"),
            (1500.0, "ms", None, "1.50 s"),
            (120_000.0, "ms", None, "2 min"),
            (999.0, "µs", None, "999 µs"),
            (1500.0, "µs", None, "1.50 ms"),
            (2_000_000.0, "µs", None, "2 s"),
            (42.0, "percent", None, "42%"),
            (42.123, "percent", Some(1), "42.1%"),
            (0.5, "percentunit", None, "50%"),
            (0.1234, "percentunit", Some(2), "12.34%"),
            (999.0, "short", None, "999"),
            (1500.0, "short", None, "1.50 K"),
            (2_000_000.0, "short", None, "2 Mil"),
            (3e9, "short", None, "3 Bil"),
            (4e12, "short", None, "4 Tri"),
            (-1500.0, "short", None, "-1.50 K"),
            (0.25, "short", None, "0.250"),
            (12.0, "none", None, "12"),
            (12.345, "none", Some(1), "12.3"),
            (1500.0, "reqps", None, "1.50K req/s"),
            (3.0, "ops", None, "3 ops/s"),
            (3725.0, "dtdurations", None, "1 hour"),
            (3725.0, "dtdurations", Some(2), "1 hour, 2 minutes, 5 seconds"),
            (90_061.0, "dtdurations", Some(1), "1 day, 1 hour"),
            (-60.0, "dtdurations", None, "1 minute ago"),
            (0.0, "dtdurations", None, "0 seconds"),
            (5.0, "widgets", None, "5 widgets"),
            (5.0, "suffix:/s", None, "5 /s"),
            (5.0, "prefix:$", None, "$5"),
        ];
        for &(v, unit, d, want) in cases {
            assert_eq!(format_value(v, Some(unit), d).to_string(), want, "{v} {unit} {d:?}");
        }
        let split = format_value(1536.0, Some("bytes"), None);
        assert_eq!((split.text.as_str(), split.suffix.as_str()), ("1.50", " KiB"));
    }

    #[test]
    fn reductions() {
        let series = [Some(1.0), None, Some(5.0), Some(3.0), Some(f64::NAN), Some(4.0), None];
        let cases: &[(&str, Option<f64>)] = &[
            ("last", None),
            ("lastNotNull", Some(4.0)),
            ("first", Some(1.0)),
            ("firstNotNull", Some(1.0)),
            ("min", Some(1.0)),
            ("max", Some(5.0)),
            ("mean", Some(13.0 / 4.0)),
            ("sum", Some(13.0)),
            ("count", Some(7.0)),
            ("range", Some(4.0)),
            // 1→5 (+4), 5→3 reset, 3→4 counts 4 after the reset.
            ("delta", Some(8.0)),
            ("diff", Some(3.0)),
            ("median", None),
        ];
        for &(calc, want) in cases {
            assert_eq!(reduce(&series, calc), want, "{calc}");
        }
        let empty: [Option<f64>; 0] = [];
        assert_eq!(
            (reduce(&empty, "max"), reduce(&empty, "count"), reduce(&empty, "sum")),
            (None, Some(0.0), Some(0.0))
        );
        // A counter reset on the last value counts it (Grafana).
        assert_eq!(reduce(&[Some(10.0), Some(20.0), Some(5.0)], "delta"), Some(15.0));
        assert_eq!(reduce(&[Some(10.0), Some(20.0), Some(5.0), None], "delta"), Some(10.0));
    }

    #[test]
    fn thresholds() {
        let t = Thresholds {
            mode: ThresholdsMode::Absolute,
            steps: vec![
                ThresholdStep { color: "green".into(), value: None },
                ThresholdStep { color: "orange".into(), value: Some(70.0) },
                ThresholdStep { color: "red".into(), value: Some(90.0) },
            ],
        };
        let cases: &[(f64, &str)] =
            &[(-1e9, "green"), (69.9, "green"), (70.0, "orange"), (89.0, "orange"), (90.0, "red"), (1e9, "red")];
        for &(v, want) in cases {
            assert_eq!(threshold_color(v, &t, 0.0, 100.0), Some(want), "{v}");
        }
        let pct = Thresholds { mode: ThresholdsMode::Percentage, ..t.clone() };
        assert_eq!(threshold_color(0.75, &pct, 0.0, 1.0), Some("orange"));
        assert_eq!(threshold_color(0.95, &pct, 0.0, 1.0), Some("red"));
        assert_eq!(threshold_color(1.0, &Thresholds::default(), 0.0, 1.0), None);
    }

    #[test]
    fn downsampling_keeps_extremes_in_order() {
        // 10 000 points of a saw wave with one spike and one gap, to 100 px.
        let mut points: Vec<(i64, f64)> = (0..10_000).map(|i| (i * 1000, (i % 37) as f64)).collect();
        points[5_003].1 = 1000.0;
        points[7_000].1 = f64::NAN;
        let mut out = Vec::new();
        downsample(&points, 0, 9_999_000, 100, &mut out);
        assert!(out.len() <= 100 * 5, "{}", out.len());
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "time order");
        // Every column keeps its min and max: the envelope is unchanged.
        for col in 0..100 {
            let in_col = |p: &&(i64, f64)| (p.0 * 100 / 9_999_000).min(99) == col;
            let (orig, kept): (Vec<_>, Vec<_>) =
                (points.iter().filter(in_col).collect(), out.iter().filter(in_col).collect());
            let fold = |v: &[&(i64, f64)], f: fn(f64, f64) -> f64, init| {
                v.iter().map(|p| p.1).filter(|x| !x.is_nan()).fold(init, f)
            };
            assert_eq!(fold(&orig, f64::max, f64::MIN), fold(&kept, f64::max, f64::MIN), "column {col} max");
            assert_eq!(fold(&orig, f64::min, f64::MAX), fold(&kept, f64::min, f64::MAX), "column {col} min");
            assert_eq!(orig.first().map(|p| p.0), kept.first().map(|p| p.0), "column {col} first");
            assert_eq!(orig.last().map(|p| p.0), kept.last().map(|p| p.0), "column {col} last");
        }
        assert!(out.iter().any(|p| p.1 == 1000.0), "spike kept");
        assert!(out.iter().any(|p| p.1.is_nan()), "gap kept");

        // Uneven columns over real timestamps: each column's first and last
        // points are kept, and nothing else is added.
        let base = 1_700_000_000_123;
        let pts: Vec<(i64, f64)> = (0..20_000).map(|i| (base + i * 7 + i % 3, ((i * 7919) % 101) as f64)).collect();
        let (from, to, cols) = (base + 5, base + 139_000, 333usize);
        downsample(&pts, from, to, cols, &mut out);
        let col = |t: i64| ((i128::from(t - from) * cols as i128 / i128::from(to - from)) as usize).min(cols - 1);
        let inside: Vec<&(i64, f64)> = pts.iter().filter(|p| p.0 >= from && p.0 <= to).collect();
        for c in [0, 1, 100, 331, 332] {
            let orig: Vec<i64> = inside.iter().filter(|p| col(p.0) == c).map(|p| p.0).collect();
            let kept: Vec<i64> = out.iter().filter(|p| col(p.0) == c).map(|p| p.0).collect();
            assert_eq!((orig.first(), orig.last()), (kept.first(), kept.last()), "column {c}");
            assert!(kept.len() <= 4, "column {c}: {kept:?}");
        }
        assert!(out.iter().all(|p| inside.contains(&p)));

        // Small series and degenerate ranges are copied; out-of-range dropped.
        downsample(&points[..10], 0, 9_000, 100, &mut out);
        assert_eq!(out.len(), 10);
        downsample(&points, 2_000, 4_000, 1, &mut out);
        assert_eq!(out, points[2..5].to_vec());
        downsample(&points, 5_000, 5_000, 10, &mut out);
        assert_eq!(out, vec![points[5]]);
        downsample(&[], 0, 10, 10, &mut out);
        assert!(out.is_empty());
    }
}
