//! Stand-in for the parts of `vigil_shared::dashboard` (branch `model`)
//! not yet on main: time expressions, interval rules, variable queries,
//! interpolation and legend formatting. The dashboard model itself is
//! `vigil_shared::dashboard::model`. Replaced when the rest lands.

use std::collections::HashMap;

use vigil_shared::dashboard::{Dashboard, Panel};
use vigil_shared::model::labels::Labels;

/// Gives every panel without an id one (old dashboards lack them): the
/// app keys panel state and DOM ids by panel id.
pub fn ensure_panel_ids(dashboard: &mut Dashboard) {
    let mut next = dashboard.all_panels().filter_map(|p| p.id).max().unwrap_or(0);
    let mut assign = |p: &mut Panel| {
        if p.id.is_none() {
            next += 1;
            p.id = Some(next);
        }
    };
    for panel in &mut dashboard.panels {
        assign(panel);
        for nested in &mut panel.panels {
            assign(nested);
        }
    }
}

/// The key of a panel's state and DOM id (see [`ensure_panel_ids`]).
pub fn panel_id(panel: &Panel) -> i64 {
    panel.id.unwrap_or(0)
}

/// The value Grafana stores for "All".
pub const ALL: &str = "$__all";

/// A parsed variable query.
#[derive(Debug, Clone, PartialEq)]
pub enum VariableQuery {
    LabelValues { metric: Option<String>, label: String },
    QueryResult(String),
    LabelNames,
    Metrics(String),
}

/// Reads `label_values(metric, label)`, `label_values(label)`,
/// `query_result(expr)`, `label_names()`, `metrics(regex)`.
pub fn parse_variable_query(query: &str) -> Option<VariableQuery> {
    let query = query.trim();
    let inner = |name: &str| {
        query.strip_prefix(name)?.trim_start().strip_prefix('(')?.strip_suffix(')').map(str::trim)
    };
    if let Some(args) = inner("label_values") {
        return Some(match args.rsplit_once(',') {
            Some((metric, label)) => VariableQuery::LabelValues {
                metric: Some(metric.trim().to_owned()).filter(|m| !m.is_empty()),
                label: label.trim().to_owned(),
            },
            None => VariableQuery::LabelValues { metric: None, label: args.to_owned() },
        });
    }
    if let Some(expr) = inner("query_result") {
        return Some(VariableQuery::QueryResult(expr.to_owned()));
    }
    if inner("label_names").is_some() {
        return Some(VariableQuery::LabelNames);
    }
    inner("metrics").map(|re| VariableQuery::Metrics(re.to_owned()))
}

/// Milliseconds of now, in the browser.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A duration unit of Grafana's time expressions, in ms (months and years
/// as Grafana's approximations when not rounding).
fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "M" => 30 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => return None,
    })
}

/// Rounds `ms` down (or up, to the unit's last millisecond) to the start of
/// its local-time `unit`, as Grafana's `now/d`.
fn round_to(ms: i64, unit: &str, up: bool) -> Option<i64> {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    date.set_milliseconds(0);
    match unit {
        "s" => {}
        "m" => {
            date.set_seconds(0);
        }
        "h" => {
            date.set_minutes(0);
            date.set_seconds(0);
        }
        "d" | "w" | "M" | "y" => {
            date.set_hours(0);
            date.set_minutes(0);
            date.set_seconds(0);
            if unit == "w" {
                let back = date.get_day();
                date.set_date(date.get_date() - back);
            }
            if unit == "M" || unit == "y" {
                date.set_date(1);
            }
            if unit == "y" {
                date.set_month(0);
            }
        }
        _ => return None,
    }
    let start = date.get_time() as i64;
    if !up {
        return Some(start);
    }
    match unit {
        "M" => date.set_month(date.get_month() + 1),
        "y" => date.set_full_year(date.get_full_year() + 1),
        "w" => date.set_date(date.get_date() + 7),
        "d" => date.set_date(date.get_date() + 1),
        _ => {
            return Some(start + unit_ms(unit)? - 1);
        }
    };
    Some(date.get_time() as i64 - 1)
}

/// A time expression as Grafana reads it: `now`, `now-6h`, `now/d`,
/// `now-1d/d`, epoch milliseconds, or an ISO date. `round_up` is for the
/// `to` end, where `now/d` means the end of today.
pub fn parse_time(expr: &str, now: i64, round_up: bool) -> Option<i64> {
    let expr = expr.trim();
    if let Some(rest) = expr.strip_prefix("now") {
        let mut at = now;
        let mut rest = rest;
        while !rest.is_empty() {
            let op = rest.chars().next()?;
            rest = &rest[1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let amount: i64 = if digits == 0 { 1 } else { rest[..digits].parse().ok()? };
            rest = &rest[digits..];
            let unit_len = if rest.starts_with("ms") { 2 } else { rest.chars().next().map_or(0, char::len_utf8) };
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            match op {
                '-' => at -= amount * unit_ms(unit)?,
                '+' => at += amount * unit_ms(unit)?,
                '/' if digits == 0 => at = round_to(at, unit, round_up)?,
                _ => return None,
            }
        }
        return Some(at);
    }
    if !expr.is_empty() && expr.bytes().all(|b| b.is_ascii_digit()) {
        return expr.parse().ok();
    }
    let parsed = js_sys::Date::parse(expr);
    parsed.is_finite().then_some(parsed as i64)
}

/// Grafana's table of "nice" intervals: the raw interval rounds to the
/// nearest of these.
pub fn round_interval(ms: i64) -> i64 {
    const TABLE: &[(i64, i64)] = &[
        (10, 1),
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1_500, 1_000),
        (3_500, 2_000),
        (7_500, 5_000),
        (12_500, 10_000),
        (17_500, 15_000),
        (25_000, 20_000),
        (45_000, 30_000),
        (90_000, 60_000),
        (210_000, 120_000),
        (450_000, 300_000),
        (1_050_000, 600_000),
        (2_100_000, 1_800_000),
        (6_000_000, 3_600_000),
        (13_800_000, 7_200_000),
        (32_400_000, 21_600_000),
        (64_800_000, 43_200_000),
        (302_400_000, 86_400_000),
        (907_200_000, 604_800_000),
        (5_256_000_000, 2_592_000_000),
    ];
    TABLE.iter().find(|(limit, _)| ms <= *limit).map_or(31_536_000_000, |(_, v)| *v)
}

/// `15s`, `1m`, `500ms`, `2h`, `1d`.
pub fn format_duration(ms: i64) -> String {
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A duration such as `15s` or `1m30s` in ms.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('>');
    vigil_shared::promql::lexer::parse_duration_ms(text)
}

/// What one panel query needs: the step and the built-in variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Intervals {
    pub interval_ms: i64,
    pub rate_interval_ms: i64,
    pub range_ms: i64,
}

/// Grafana's rule: the range over `max_data_points` (default the panel's
/// width in pixels), rounded to a nice interval, never under the minimum
/// (the panel's or the scrape interval); `$__rate_interval` is
/// `max($__interval + scrape, 4 × scrape)`. Prometheus refuses more than
/// 11,000 points, so the step grows to stay under that.
pub fn intervals(range_ms: i64, max_data_points: u32, min_interval_ms: i64, scrape_ms: i64) -> Intervals {
    let raw = range_ms / i64::from(max_data_points.max(1));
    let mut interval_ms = round_interval(raw).max(min_interval_ms).max(1);
    interval_ms = interval_ms.max((range_ms + 10_999) / 11_000);
    let rate_interval_ms = (interval_ms + scrape_ms).max(4 * scrape_ms);
    Intervals { interval_ms, rate_interval_ms, range_ms }
}

/// Escapes regex metacharacters, as Grafana's Prometheus data source does
/// for multi-value variables inside `=~`.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
            // Inside a PromQL string the backslash itself needs escaping.
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The selection of one variable at interpolation time.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub values: Vec<String>,
    /// Multi-value or "All" variables interpolate as a regex alternation.
    pub as_regex: bool,
}

/// Replaces `$name`, `${name}` and `[[name]]` with each variable's value.
pub fn interpolate(text: &str, vars: &HashMap<String, Selection>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['$', '[']) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let (name, len) = if let Some(inner) = rest.strip_prefix("${") {
            match inner.find('}') {
                Some(end) => (inner[..end].split(':').next().unwrap_or_default(), end + 3),
                None => ("", 0),
            }
        } else if let Some(inner) = rest.strip_prefix("[[") {
            match inner.find("]]") {
                Some(end) => (&inner[..end], end + 4),
                None => ("", 0),
            }
        } else if let Some(inner) = rest.strip_prefix('$') {
            let end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
            (&inner[..end], end + 1)
        } else {
            ("", 0)
        };
        match vars.get(name).filter(|_| len > 0) {
            Some(selection) => {
                out.push_str(&format_selection(selection));
                rest = &rest[len..];
            }
            None => {
                let c = rest.chars().next().map_or(1, char::len_utf8);
                out.push_str(&rest[..c]);
                rest = &rest[c..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn format_selection(selection: &Selection) -> String {
    if !selection.as_regex {
        return selection.values.first().cloned().unwrap_or_default();
    }
    let escaped: Vec<String> = selection.values.iter().map(|v| regex_escape(v)).collect();
    if escaped.len() == 1 { escaped[0].clone() } else { format!("({})", escaped.join("|")) }
}

/// `{{label}}` replaced by the series' label values; an empty format gives
/// the series' labels as PromQL writes them.
pub fn legend(format: &str, labels: &Labels) -> String {
    if format.trim().is_empty() || format == "__auto" {
        return labels.to_string();
    }
    let mut out = String::new();
    let mut rest = format;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(labels.get(after[..end].trim()).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
