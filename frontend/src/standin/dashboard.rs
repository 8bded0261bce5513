//! Stand-in for `vigil_shared::dashboard` (branch `model`): the subset of
//! the dashboard model, time expressions, interval rules, interpolation and
//! legend formatting the app needs, read leniently from Grafana's JSON.
//! Replaced by the shared crate's versions when `model` lands.

use std::collections::HashMap;

use serde_json::Value as Json;
use vigil_shared::model::labels::Labels;

/// A dashboard as the app uses it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub tags: Vec<String>,
    /// The default range, `now-6h` … `now` as Grafana writes it.
    pub time_from: String,
    pub time_to: String,
    /// The default auto-refresh (`""` for off).
    pub refresh: String,
    pub panels: Vec<Panel>,
    pub variables: Vec<Variable>,
}

/// Where a panel sits on the 24-column grid, in grid units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GridPos {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// One query of a panel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    pub ref_id: String,
    pub expr: String,
    pub legend_format: String,
    pub instant: bool,
    pub hide: bool,
    /// The target's minimum step (`interval`), e.g. `30s`.
    pub interval: String,
}

/// A panel; a `row` holds its panels in `panels` while collapsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    pub id: u32,
    pub panel_type: String,
    pub title: String,
    pub grid_pos: GridPos,
    pub targets: Vec<Target>,
    pub max_data_points: Option<u32>,
    /// The panel's minimum interval (Grafana's "Min interval").
    pub interval: Option<String>,
    pub collapsed: bool,
    pub panels: Vec<Panel>,
    pub options: Json,
    pub field_config: Json,
}

/// The kinds of template variable the app supports.
#[derive(Debug, Clone, PartialEq)]
pub enum VariableKind {
    /// `label_values(…)` / `query_result(…)`, filtered by `regex`.
    Query { query: String, regex: String },
    /// Comma-separated values.
    Custom { query: String },
    /// Comma-separated durations.
    Interval { query: String },
    Constant { query: String },
    /// A type Vigil does not handle (datasource, textbox, adhoc…).
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub label: String,
    pub kind: VariableKind,
    pub multi: bool,
    pub include_all: bool,
    pub all_value: Option<String>,
    /// The saved selection.
    pub current: Vec<String>,
    /// 0 shown, 1 label hidden, 2 hidden.
    pub hide: u64,
}

fn text(value: &Json, key: &str) -> String {
    match value.get(key) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn strings(value: Option<&Json>) -> Vec<String> {
    match value {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

impl Dashboard {
    /// Reads Grafana's dashboard JSON; missing fields take Grafana's defaults.
    pub fn from_json(json: &Json) -> Dashboard {
        let time = json.get("time").cloned().unwrap_or(Json::Null);
        let from = text(&time, "from");
        let to = text(&time, "to");
        let mut next_id = 1000;
        let panels = json
            .get("panels")
            .and_then(Json::as_array)
            .map(|ps| ps.iter().map(|p| Panel::from_json(p, &mut next_id)).collect())
            .unwrap_or_default();
        let variables = json
            .pointer("/templating/list")
            .and_then(Json::as_array)
            .map(|vs| vs.iter().map(Variable::from_json).collect())
            .unwrap_or_default();
        Dashboard {
            uid: text(json, "uid"),
            title: text(json, "title"),
            tags: strings(json.get("tags")),
            time_from: if from.is_empty() { "now-6h".to_owned() } else { from },
            time_to: if to.is_empty() { "now".to_owned() } else { to },
            refresh: match json.get("refresh") {
                Some(Json::String(s)) => s.clone(),
                _ => String::new(),
            },
            panels,
            variables,
        }
    }
}

impl Panel {
    fn from_json(json: &Json, next_id: &mut u32) -> Panel {
        let grid = json.get("gridPos").cloned().unwrap_or(Json::Null);
        let unit = |key: &str, default: u32| grid.get(key).and_then(Json::as_u64).map_or(default, |v| v as u32);
        let id = json.get("id").and_then(Json::as_u64).map(|v| v as u32).unwrap_or_else(|| {
            *next_id += 1;
            *next_id
        });
        let targets = json
            .get("targets")
            .and_then(Json::as_array)
            .map(|ts| {
                ts.iter()
                    .enumerate()
                    .map(|(i, t)| Target {
                        ref_id: Some(text(t, "refId"))
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| ((b'A' + (i % 26) as u8) as char).to_string()),
                        expr: text(t, "expr"),
                        legend_format: text(t, "legendFormat"),
                        instant: t.get("instant").and_then(Json::as_bool).unwrap_or(false)
                            && !t.get("range").and_then(Json::as_bool).unwrap_or(false),
                        hide: t.get("hide").and_then(Json::as_bool).unwrap_or(false),
                        interval: text(t, "interval"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Panel {
            id,
            panel_type: Some(text(json, "type")).filter(|t| !t.is_empty()).unwrap_or_else(|| "graph".to_owned()),
            title: text(json, "title"),
            grid_pos: GridPos { x: unit("x", 0), y: unit("y", 0), w: unit("w", 12).clamp(1, 24), h: unit("h", 8).max(1) },
            targets,
            max_data_points: json.get("maxDataPoints").and_then(Json::as_u64).map(|v| v as u32).filter(|v| *v > 0),
            interval: Some(text(json, "interval")).filter(|i| !i.is_empty()),
            collapsed: json.get("collapsed").and_then(Json::as_bool).unwrap_or(false),
            panels: json
                .get("panels")
                .and_then(Json::as_array)
                .map(|ps| ps.iter().map(|p| Panel::from_json(p, next_id)).collect())
                .unwrap_or_default(),
            options: json.get("options").cloned().unwrap_or(Json::Null),
            field_config: json.get("fieldConfig").cloned().unwrap_or(Json::Null),
        }
    }
}

impl Variable {
    fn from_json(json: &Json) -> Variable {
        let query = match json.get("query") {
            Some(Json::Object(q)) => q.get("query").and_then(Json::as_str).unwrap_or_default().to_owned(),
            Some(Json::String(s)) => s.clone(),
            _ => String::new(),
        };
        let kind = match text(json, "type").as_str() {
            "query" => VariableKind::Query { query, regex: text(json, "regex") },
            "custom" => VariableKind::Custom { query },
            "interval" => VariableKind::Interval { query },
            "constant" => VariableKind::Constant { query },
            other => VariableKind::Other(other.to_owned()),
        };
        Variable {
            name: text(json, "name"),
            label: text(json, "label"),
            kind,
            multi: json.get("multi").and_then(Json::as_bool).unwrap_or(false),
            include_all: json.get("includeAll").and_then(Json::as_bool).unwrap_or(false),
            all_value: json.get("allValue").and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_owned),
            current: strings(json.pointer("/current/value")),
            hide: json.get("hide").and_then(Json::as_u64).unwrap_or(0),
        }
    }
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
