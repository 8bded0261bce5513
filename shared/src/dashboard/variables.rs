//! Template variables: what a variable's query asks of Prometheus, how its
//! answers become options (regex filter, sort), which value is selected
//! (URL, saved, first option, All), and interpolation of `$var`, `${var}`,
//! `[[var]]` and `${var:format}` into queries and text.
//!
//! It follows Grafana: the Prometheus variable query forms
//! (`metric_find_query.ts`), `metricNamesToVariableValues` and
//! `stringToJsRegex` for the regex filter, the custom variable's `a,b` and
//! `key : value` split, the template service's variable syntax and its
//! format registry. Inside PromQL (no explicit `:format`), values are written
//! as Grafana's Prometheus data source writes them (`interpolateQueryExpr`):
//! a single-value variable escapes `\` and `"` so the value cannot leave its
//! string literal; a multi-value or All variable also escapes regex
//! metacharacters (doubled, since the regex sits in a PromQL string) and
//! joins several values as `(a|b)`, so `label=~"$var"` matches exactly the
//! selected values. This is the behaviour Grafana has behind its
//! `prometheusSpecialCharsInLabelValues` switch; the older one did not escape
//! `"`, which let a value end the string literal and break (or rewrite) the
//! query. Unlike Grafana, a value shaped like a whole matcher (`job="x"`) is
//! escaped too.

use std::sync::OnceLock;

use regex::Regex;

use super::interval::{format_interval, round_interval};
use super::model::{Variable, VariableKind, VariableOption};

/// The value Grafana stores for the All option.
pub const ALL_VALUE: &str = "$__all";
/// The most options a variable keeps (queries can return huge label sets).
pub const MAX_OPTIONS: usize = 10_000;

/// Why a variable could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VariableError {
    #[error("variable {name:?}: the query is empty")]
    EmptyQuery { name: String },
    #[error("variable regex {regex:?} is invalid: {message}")]
    BadRegex { regex: String, message: String },
}

/// What a query variable asks of the Prometheus API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableQuery {
    /// `label_names()` / `label_names(match)`: `/api/v1/labels`.
    LabelNames { matcher: Option<String> },
    /// `label_values(label)`: `/api/v1/label/<label>/values`;
    /// `label_values(metric_or_selector, label)`: the same with `match[]`.
    LabelValues { label: String, matcher: Option<String> },
    /// `metrics(regex)`: metric names (`__name__` values) matching the
    /// unanchored regex.
    Metrics { regex: String },
    /// `query_result(expr)`: an instant query, one option per series written
    /// by [`query_result_text`].
    QueryResult { expr: String },
    /// Anything else: `/api/v1/series?match[]=<expr>`, one option per series.
    Series { expr: String },
}

fn cached(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    // The patterns are constants, checked by the tests.
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable!())))
}

/// Reads a Prometheus variable query into what to ask the API. The
/// expression is expected to have its variables already interpolated.
pub fn parse_variable_query(name: &str, query: &str) -> Result<VariableQuery, VariableError> {
    static LABEL_NAMES: OnceLock<Regex> = OnceLock::new();
    static LABEL_VALUES: OnceLock<Regex> = OnceLock::new();
    static METRICS: OnceLock<Regex> = OnceLock::new();
    static QUERY_RESULT: OnceLock<Regex> = OnceLock::new();
    let q = query.trim();
    if q.is_empty() {
        return Err(VariableError::EmptyQuery { name: name.to_string() });
    }
    // Grafana's patterns (metric_find_query.ts), `(?s)` so that a multi-line
    // expression matches as JavaScript's `.+` would not — Grafana users
    // write these on one line, and multi-line ones should not silently
    // become series queries.
    let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(c) = cached(&LABEL_NAMES, r"^label_names\((?s)(.+)?\)\s*$").captures(q) {
        return Ok(VariableQuery::LabelNames { matcher: c.get(1).and_then(|m| some(m.as_str())) });
    }
    if let Some(c) =
        cached(&LABEL_VALUES, r"^label_values\((?s)(?:(.+),\s*)?([a-zA-Z_$][a-zA-Z0-9_]*)\)\s*$").captures(q)
    {
        return Ok(VariableQuery::LabelValues {
            label: c.get(2).map_or_else(String::new, |m| m.as_str().to_string()),
            matcher: c.get(1).and_then(|m| some(m.as_str())),
        });
    }
    if let Some(c) = cached(&METRICS, r"^metrics\((?s)(.+)\)\s*$").captures(q) {
        return Ok(VariableQuery::Metrics { regex: c.get(1).map_or_else(String::new, |m| m.as_str().to_string()) });
    }
    if let Some(c) = cached(&QUERY_RESULT, r"^query_result\((?s)(.+)\)\s*$").captures(q) {
        return Ok(VariableQuery::QueryResult { expr: c.get(1).map_or_else(String::new, |m| m.as_str().to_string()) });
    }
    Ok(VariableQuery::Series { expr: q.to_string() })
}

/// How Grafana writes one `query_result` series as option text:
/// `name{a="1",b="2"} value timestamp_ms` (labels in the order given,
/// `__name__` left out of the braces).
pub fn query_result_text(labels: &[(String, String)], value: &str, timestamp_s: f64) -> String {
    let name = labels.iter().find(|(k, _)| k == "__name__").map_or("", |(_, v)| v.as_str());
    let pairs: Vec<String> =
        labels.iter().filter(|(k, _)| k != "__name__").map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let ms = timestamp_s * 1000.0;
    let ms = if ms.fract() == 0.0 { format!("{}", ms as i64) } else { format!("{ms}") };
    format!("{name}{{{}}} {value} {ms}", pairs.join(","))
}

/// Grafana's `stringToJsRegex`: `/re/flags` (flags `g i m s y`), or a bare
/// pattern that must match the whole value. Returns the regex and whether it
/// is global (every match yields an option).
fn js_regex(source: &str) -> Result<(Regex, bool), VariableError> {
    let bad = |message: String| VariableError::BadRegex { regex: source.to_string(), message };
    let (pattern, flags) = if let Some(rest) = source.strip_prefix('/') {
        let end = rest.rfind('/').ok_or_else(|| bad("a regex starting with / must end with /flags".into()))?;
        let flags = &rest[end + 1..];
        if !flags.chars().all(|c| "gimsy".contains(c)) {
            return Err(bad(format!("unknown flags {flags:?} (allowed: g i m s y)")));
        }
        (rest[..end].to_string(), flags)
    } else {
        (format!("^(?:{source})$"), "")
    };
    let mut inline = String::new();
    for f in ['i', 'm', 's'] {
        if flags.contains(f) {
            inline.push(f);
        }
    }
    let full = if inline.is_empty() { pattern } else { format!("(?{inline}){pattern}") };
    // JavaScript writes named groups `(?<name>…)`, which the regex crate reads.
    let re = regex::RegexBuilder::new(&full).size_limit(1 << 20).build().map_err(|e| bad(e.to_string()))?;
    Ok((re, flags.contains('g')))
}

/// Turns query answers into options: Grafana's `metricNamesToVariableValues`
/// (regex filter, capture group or named `text`/`value` groups, duplicates
/// dropped) then `sortVariableValues` (`sort` as Grafana numbers it).
pub fn options_from_values(values: &[String], regex: &str, sort: u8) -> Result<Vec<VariableOption>, VariableError> {
    let re = if regex.is_empty() { None } else { Some(js_regex(regex)?) };
    let mut out: Vec<VariableOption> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |text: String, value: String, out: &mut Vec<VariableOption>| {
        if out.len() < MAX_OPTIONS && seen.insert(value.clone()) {
            out.push(VariableOption { text, value, selected: false });
        }
    };
    for item in values {
        let Some((re, global)) = &re else {
            push(item.clone(), item.clone(), &mut out);
            continue;
        };
        let matches: Vec<regex::Captures> =
            if *global { re.captures_iter(item).collect() } else { re.captures(item).into_iter().collect() };
        if matches.is_empty() {
            continue;
        }
        let group = |name: &str| {
            matches.iter().find_map(|m| m.name(name).map(|g| g.as_str().to_string()).filter(|s| !s.is_empty()))
        };
        let (value_group, text_group) = (group("value"), group("text"));
        let first = matches.iter().find(|m| m.len() > 1);
        if value_group.is_some() || text_group.is_some() {
            let value = value_group.clone().or(text_group.clone()).unwrap_or_default();
            let text = text_group.or(value_group).unwrap_or_default();
            push(text, value, &mut out);
        } else if matches.len() > 1 && first.is_some() {
            for m in &matches {
                let v = m.get(1).map_or_else(String::new, |g| g.as_str().to_string());
                push(v.clone(), v, &mut out);
            }
        } else if let Some(m) = first {
            let v = m.get(1).map_or_else(String::new, |g| g.as_str().to_string());
            push(v.clone(), v, &mut out);
        } else {
            push(item.clone(), item.clone(), &mut out);
        }
    }
    sort_options(&mut out, sort);
    Ok(out)
}

/// Grafana's variable sort: 0 none, 1/2 alphabetical asc/desc, 3/4
/// numerical (first run of digits) asc/desc, 5/6 case-insensitive asc/desc,
/// 7/8 natural asc/desc.
pub fn sort_options(options: &mut [VariableOption], sort: u8) {
    fn first_number(s: &str) -> i64 {
        let digits: String = s.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or(-1)
    }
    match sort {
        1 | 2 => options.sort_by(|a, b| a.text.cmp(&b.text)),
        3 | 4 => options.sort_by_key(|o| first_number(&o.text)),
        5 | 6 => options.sort_by_key(|o| o.text.to_lowercase()),
        7 | 8 => options.sort_by(|a, b| natural_cmp(&a.text, &b.text)),
        _ => return,
    }
    if sort.is_multiple_of(2) {
        options.reverse();
    }
}

/// Compares runs of digits by value and the rest case-insensitively.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut s = String::new();
                    while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                        s.push(c);
                        it.next();
                    }
                    s
                };
                let (n, m) = (take(&mut x), take(&mut y));
                let (n, m) = (n.trim_start_matches('0'), m.trim_start_matches('0'));
                let ord = n.len().cmp(&m.len()).then_with(|| n.cmp(m));
                if ord.is_ne() {
                    return ord;
                }
            }
            (Some(c), Some(d)) => {
                let ord = c.to_lowercase().cmp(d.to_lowercase());
                if ord.is_ne() {
                    return ord;
                }
                x.next();
                y.next();
            }
        }
    }
}

/// A custom variable's options: comma-separated (`\,` for a literal comma),
/// each `text : value` or just a value.
pub fn custom_options(query: &str) -> Vec<VariableOption> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            ',' => items.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    items.push(cur);
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once(" : ") {
            Some((text, value)) if !text.trim().is_empty() && !value.trim().is_empty() => {
                VariableOption { text: text.trim().into(), value: value.trim().into(), selected: false }
            }
            _ => VariableOption { text: item.trim().into(), value: item.trim().into(), selected: false },
        })
        .filter(|o| seen.insert(o.value.clone()))
        .take(MAX_OPTIONS)
        .collect()
}

/// An interval variable's options (`1m,10m,1h`), and `auto` first when
/// enabled: the range divided into `auto_count` steps (default 30), at least
/// `auto_min` (default 10s), rounded as Grafana rounds intervals.
pub fn interval_options(variable: &Variable, range_ms: u64) -> Vec<VariableOption> {
    let mut out: Vec<VariableOption> = Vec::new();
    if variable.extra.get("auto").and_then(serde_json::Value::as_bool).unwrap_or(false) {
        let count =
            variable.extra.get("auto_count").and_then(serde_json::Value::as_u64).filter(|&n| n > 0).unwrap_or(30);
        let min = variable
            .extra
            .get("auto_min")
            .and_then(serde_json::Value::as_str)
            .and_then(|s| super::interval::parse_interval_ms(s).ok())
            .unwrap_or(10_000);
        let ms = round_interval(range_ms as f64 / count as f64).max(min);
        out.push(VariableOption { text: "auto".into(), value: format_interval(ms), selected: false });
    }
    out.extend(variable.query.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| VariableOption {
        text: s.into(),
        value: s.into(),
        selected: false,
    }));
    out
}

/// A variable with its options known and its selection made: what
/// interpolation reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedVariable {
    pub name: String,
    pub kind: VariableKind,
    pub multi: bool,
    pub include_all: bool,
    pub all_value: Option<String>,
    /// The options, without the All entry.
    pub options: Vec<VariableOption>,
    /// The selected values (`[$__all]` for All).
    pub selected: Vec<String>,
}

impl ResolvedVariable {
    /// Builds the selection: the URL's values (`var-name`), else the saved
    /// `current`, each kept only if it is an option (or the variable has no
    /// list, as constant and textbox do); otherwise All when offered, else
    /// the first option — Grafana's choice when the saved value vanished.
    pub fn resolve(variable: &Variable, options: Vec<VariableOption>, from_url: Option<&[String]>) -> ResolvedVariable {
        let free_form = matches!(variable.kind, VariableKind::Constant | VariableKind::Textbox);
        let options = match variable.kind {
            VariableKind::Constant => {
                vec![VariableOption { text: variable.query.clone(), value: variable.query.clone(), selected: true }]
            }
            _ => options,
        };
        let valid = |v: &String| {
            free_form
                || (v == ALL_VALUE && variable.include_all)
                || options.iter().any(|o| &o.value == v || &o.text == v)
        };
        // The URL may name options by text (Grafana accepts both).
        let to_value = |v: &String| {
            options.iter().find(|o| &o.text == v && &o.value != v).map_or_else(|| v.clone(), |o| o.value.clone())
        };
        let wanted: Vec<String> = from_url
            .map(<[String]>::to_vec)
            .filter(|v| !v.is_empty())
            .or_else(|| variable.current.as_ref().map(|c| c.value.clone()).filter(|v| !v.is_empty()))
            .unwrap_or_default();
        let mut selected: Vec<String> = wanted.iter().filter(|v| valid(v)).map(to_value).collect();
        if !variable.multi && selected.len() > 1 {
            selected.truncate(1);
        }
        if selected.iter().any(|v| v == ALL_VALUE) {
            selected = vec![ALL_VALUE.to_string()];
        }
        if selected.is_empty() {
            selected = match (variable.kind == VariableKind::Textbox, variable.include_all, options.first()) {
                (true, _, _) => vec![variable.query.clone()],
                (false, true, _) => vec![ALL_VALUE.to_string()],
                (false, false, Some(first)) => vec![first.value.clone()],
                (false, false, None) => Vec::new(),
            };
        }
        ResolvedVariable {
            name: variable.name.clone(),
            kind: variable.kind.clone(),
            multi: variable.multi,
            include_all: variable.include_all,
            all_value: variable.all_value.clone().filter(|s| !s.is_empty()),
            options,
            selected,
        }
    }

    /// Whether All is selected.
    pub fn is_all(&self) -> bool {
        self.selected.iter().any(|v| v == ALL_VALUE)
    }

    /// The values the selection stands for (All expanded to every option).
    pub fn values(&self) -> Vec<String> {
        if self.is_all() { self.options.iter().map(|o| o.value.clone()).collect() } else { self.selected.clone() }
    }

    /// The display text of the selection (`All` for All).
    pub fn texts(&self) -> Vec<String> {
        if self.is_all() {
            return vec!["All".into()];
        }
        self.selected
            .iter()
            .map(|v| self.options.iter().find(|o| &o.value == v).map_or_else(|| v.clone(), |o| o.text.clone()))
            .collect()
    }

    /// The `var-<name>` URL values for the selection.
    pub fn url_values(&self) -> Vec<String> {
        self.selected.clone()
    }
}

/// Grafana's variable formats (`${var:format}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// What the Prometheus data source does with no format (module doc).
    Prometheus,
    Raw,
    Regex,
    Pipe,
    Csv,
    Json,
    Glob,
    Text,
    QueryParam,
    DoubleQuote,
    SingleQuote,
    PercentEncode,
}

impl Format {
    /// The format by its Grafana name; unknown names fall back to glob, as
    /// Grafana does.
    pub fn by_name(name: &str) -> Format {
        match name {
            "raw" => Format::Raw,
            "regex" => Format::Regex,
            "pipe" => Format::Pipe,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "text" => Format::Text,
            "queryparam" => Format::QueryParam,
            "doublequote" => Format::DoubleQuote,
            "singlequote" => Format::SingleQuote,
            "percentencode" => Format::PercentEncode,
            _ => Format::Glob,
        }
    }
}

/// Escapes a single value for a PromQL double-quoted string.
pub fn prometheus_regular_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Escapes a value to match literally in a regex inside a PromQL
/// double-quoted string: metacharacters get `\\` (one backslash once the
/// string is read), backslashes become four, quotes are escaped for the
/// string and the regex.
pub fn prometheus_special_regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\\\\\"),
            '"' => out.push_str("\\\\\\\""),
            '$' | '^' | '*' | '{' | '}' | '[' | ']' | '\'' | '+' | '?' | '.' | '(' | ')' | '|' => {
                out.push_str("\\\\");
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// JavaScript-style regex escaping (Grafana's `escapeRegex`), for `:regex`.
fn escape_regex(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\^$.|?*+()[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `encodeURIComponent`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Formats a variable's value; `many` below is whether Grafana would hold an
/// array (multi or All) rather than a string.
fn format_value(var: &ResolvedVariable, format: Format) -> String {
    // A custom All value is used as written, in every format (Grafana).
    if let Some(all) =
        var.all_value.as_ref().filter(|_| var.is_all() && !matches!(format, Format::Text | Format::QueryParam))
    {
        return all.clone();
    }
    let values = var.values();
    let many = var.multi || var.is_all();
    match format {
        Format::Prometheus => {
            if !var.multi && !var.include_all {
                prometheus_regular_escape(&values.join(","))
            } else {
                let escaped: Vec<String> = values.iter().map(|v| prometheus_special_regex_escape(v)).collect();
                if escaped.len() == 1 || !many { escaped.join(",") } else { format!("({})", escaped.join("|")) }
            }
        }
        Format::Raw | Format::Csv => values.join(","),
        Format::Regex => {
            let escaped: Vec<String> = values.iter().map(|v| escape_regex(v)).collect();
            if escaped.len() == 1 { escaped.join("") } else { format!("({})", escaped.join("|")) }
        }
        Format::Pipe => values.join("|"),
        Format::Json => {
            if many {
                serde_json::to_string(&values).unwrap_or_default()
            } else {
                serde_json::to_string(&values.join(",")).unwrap_or_default()
            }
        }
        Format::Glob => {
            if values.len() > 1 {
                format!("{{{}}}", values.join(","))
            } else {
                values.join(",")
            }
        }
        Format::Text => var.texts().join(" + "),
        Format::QueryParam => var
            .url_values()
            .iter()
            .map(|v| format!("var-{}={}", percent_encode(&var.name), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&"),
        Format::DoubleQuote => {
            values.iter().map(|v| format!("\"{}\"", v.replace('"', "\\\""))).collect::<Vec<_>>().join(",")
        }
        Format::SingleQuote => {
            values.iter().map(|v| format!("'{}'", v.replace('\'', "\\'"))).collect::<Vec<_>>().join(",")
        }
        Format::PercentEncode => {
            if values.len() > 1 {
                percent_encode(&format!("{{{}}}", values.join(",")))
            } else {
                percent_encode(&values.join(","))
            }
        }
    }
}

/// What interpolation reads: resolved variables and built-ins
/// (`__interval`, `__rate_interval`, `__range`… from
/// [`super::interval::RangeQueryPlan::builtins`], `__dashboard`, …), which
/// are written raw whatever the format.
#[derive(Debug, Clone, Default)]
pub struct Scope<'a> {
    pub variables: &'a [ResolvedVariable],
    pub builtins: &'a [(&'a str, String)],
}

impl Scope<'_> {
    /// Replaces every variable reference Grafana recognises — `$name`,
    /// `${name}`, `${name:format}`, `[[name]]`, `[[name:format]]` — leaving
    /// unknown names as written. `default` applies when no format is given:
    /// [`Format::Prometheus`] for queries, [`Format::Glob`] (Grafana's
    /// default) or [`Format::Text`] for titles.
    pub fn interpolate(&self, template: &str, default: Format) -> String {
        static VARIABLE: OnceLock<Regex> = OnceLock::new();
        // Grafana's variableRegex.
        let re = cached(&VARIABLE, r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}");
        re.replace_all(template, |c: &regex::Captures| {
            let whole = c.get(0).map_or("", |m| m.as_str());
            let name = c.get(1).or(c.get(2)).or(c.get(4)).map_or("", |m| m.as_str());
            let format = c.get(3).or(c.get(6)).map(|m| Format::by_name(m.as_str())).unwrap_or(default);
            if let Some((_, v)) = self.builtins.iter().find(|(n, _)| *n == name) {
                return v.clone();
            }
            match self.variables.iter().find(|v| v.name == name) {
                Some(var) => format_value(var, format),
                None => whole.to_string(),
            }
        })
        .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn var(json: serde_json::Value) -> Variable {
        match serde_json::from_value(json) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_variable_queries() {
        use VariableQuery::*;
        let some = |s: &str| Some(s.to_string());
        let cases: &[(&str, VariableQuery)] = &[
            ("label_values(job)", LabelValues { label: "job".into(), matcher: None }),
            ("label_values(up, job)", LabelValues { label: "job".into(), matcher: some("up") }),
            (
                r#"label_values(node_uname_info{job="$job", a=~"x,y"}, instance)"#,
                LabelValues { label: "instance".into(), matcher: some(r#"node_uname_info{job="$job", a=~"x,y"}"#) },
            ),
            ("  label_values(up,job)  ", LabelValues { label: "job".into(), matcher: some("up") }),
            ("label_names()", LabelNames { matcher: None }),
            ("label_names(up)", LabelNames { matcher: some("up") }),
            ("metrics(node_.*)", Metrics { regex: "node_.*".into() }),
            ("query_result(topk(5, sum by (job) (up)))", QueryResult { expr: "topk(5, sum by (job) (up))".into() }),
            ("up{job=\"a\"}", Series { expr: "up{job=\"a\"}".into() }),
            // Not a valid label name: Grafana treats it as a series query.
            ("label_values(up, 1job)", Series { expr: "label_values(up, 1job)".into() }),
        ];
        for (q, want) in cases {
            assert_eq!(parse_variable_query("v", q).as_ref(), Ok(want), "{q}");
        }
        assert!(matches!(parse_variable_query("v", "  "), Err(VariableError::EmptyQuery { .. })));
    }

    #[test]
    fn query_result_text_as_grafana() {
        let labels = vec![
            ("__name__".to_string(), "up".to_string()),
            ("job".into(), "node".into()),
            ("instance".into(), "a:9100".into()),
        ];
        assert_eq!(
            query_result_text(&labels, "1", 1_700_000_000.5),
            r#"up{job="node",instance="a:9100"} 1 1700000000500"#
        );
        assert_eq!(query_result_text(&[], "3", 10.0), "{} 3 10000");
    }

    #[test]
    fn regex_filter() {
        let values =
            strings(&["node_cpu_seconds_total", "node_memory_MemFree_bytes", "up", "node_cpu_guest", "Node_X"]);
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "",
                &[
                    ("node_cpu_seconds_total", "node_cpu_seconds_total"),
                    ("node_memory_MemFree_bytes", "node_memory_MemFree_bytes"),
                    ("up", "up"),
                    ("node_cpu_guest", "node_cpu_guest"),
                    ("Node_X", "Node_X"),
                ],
            ),
            // Slash form is unanchored; first capture group becomes the option.
            ("/node_(cpu|memory)/", &[("cpu", "cpu"), ("memory", "memory")]),
            // Bare form must match the whole value.
            (
                "node_cpu.*",
                &[("node_cpu_seconds_total", "node_cpu_seconds_total"), ("node_cpu_guest", "node_cpu_guest")],
            ),
            ("node", &[]),
            // Flags.
            ("/^node_x$/i", &[("Node_X", "Node_X")]),
            // Named groups: text and value apart; duplicates by value dropped.
            ("/node_(?<value>[a-z]+)_(?<text>[a-z]+)/", &[("seconds", "cpu")]),
            ("/node_(?<text>[a-z]+)_(?<value>[a-z]+)/", &[("cpu", "seconds"), ("cpu", "guest")]),
            // Global: every match of the group.
            ("/_([a-z])/g", &[("c", "c"), ("s", "s"), ("t", "t"), ("m", "m"), ("b", "b"), ("g", "g")]),
        ];
        for (re, want) in cases {
            let got = match options_from_values(&values, re, 0) {
                Ok(o) => o,
                Err(e) => panic!("{re}: {e}"),
            };
            let got: Vec<(&str, &str)> = got.iter().map(|o| (o.text.as_str(), o.value.as_str())).collect();
            assert_eq!(&got, want, "{re}");
        }
        for bad in ["/unclosed", "/a/q", "/(/", "(["] {
            assert!(matches!(options_from_values(&values, bad, 0), Err(VariableError::BadRegex { .. })), "{bad}");
        }
    }

    #[test]
    fn sorting() {
        let values = strings(&["b10", "a2", "B1", "a10", "c"]);
        let cases: &[(u8, &[&str])] = &[
            (0, &["b10", "a2", "B1", "a10", "c"]),
            (1, &["B1", "a10", "a2", "b10", "c"]),
            (2, &["c", "b10", "a2", "a10", "B1"]),
            (3, &["c", "B1", "a2", "b10", "a10"]),
            (4, &["a10", "b10", "a2", "B1", "c"]),
            (5, &["a10", "a2", "B1", "b10", "c"]),
            (7, &["a2", "a10", "B1", "b10", "c"]),
            (8, &["c", "b10", "B1", "a10", "a2"]),
        ];
        for (sort, want) in cases {
            let got = options_from_values(&values, "", *sort).unwrap_or_default();
            let got: Vec<&str> = got.iter().map(|o| o.text.as_str()).collect();
            assert_eq!(&got, want, "sort {sort}");
        }
    }

    #[test]
    fn custom_and_interval_options() {
        let got = custom_options(r"a, b ,c\,d, Prod : prod-1 ,a");
        let got: Vec<(&str, &str)> = got.iter().map(|o| (o.text.as_str(), o.value.as_str())).collect();
        assert_eq!(got, [("a", "a"), ("b", "b"), ("c,d", "c,d"), ("Prod", "prod-1")]);
        let v = var(
            json!({"type": "interval", "name": "i", "query": "1m, 10m,1h", "auto": true, "auto_count": 30, "auto_min": "10s"}),
        );
        let got = interval_options(&v, 6 * 3_600_000);
        let got: Vec<(&str, &str)> = got.iter().map(|o| (o.text.as_str(), o.value.as_str())).collect();
        // 6h / 30 = 12 min → rounded to 10m.
        assert_eq!(got, [("auto", "10m"), ("1m", "1m"), ("10m", "10m"), ("1h", "1h")]);
    }

    fn resolved(json: serde_json::Value, values: &[&str], url: Option<&[&str]>) -> ResolvedVariable {
        let options = values
            .iter()
            .map(|v| VariableOption { text: v.to_string(), value: v.to_string(), selected: false })
            .collect();
        let url: Option<Vec<String>> = url.map(strings);
        ResolvedVariable::resolve(&var(json), options, url.as_deref())
    }

    #[test]
    fn selection() {
        let opts = ["a", "b", "c"];
        // (variable, url) → selected
        type Case = (serde_json::Value, Option<&'static [&'static str]>, &'static [&'static str]);
        let cases: Vec<Case> = vec![
            (json!({"name": "v", "current": {"value": "b"}}), None, &["b"]),
            (json!({"name": "v", "current": {"value": "b"}}), Some(&["c"]), &["c"]),
            // A vanished saved value: the first option.
            (json!({"name": "v", "current": {"value": "zz"}}), None, &["a"]),
            // …or All when offered.
            (json!({"name": "v", "includeAll": true, "current": {"value": "zz"}}), None, &["$__all"]),
            // Not multi: one value only.
            (json!({"name": "v"}), Some(&["a", "b"]), &["a"]),
            (json!({"name": "v", "multi": true}), Some(&["a", "b", "nope"]), &["a", "b"]),
            (json!({"name": "v", "multi": true, "includeAll": true}), Some(&["$__all"]), &["$__all"]),
            (json!({"type": "textbox", "name": "t", "query": "dflt"}), None, &["dflt"]),
            (json!({"type": "textbox", "name": "t", "query": "dflt"}), Some(&["typed"]), &["typed"]),
            (json!({"type": "constant", "name": "k", "query": "K"}), None, &["K"]),
        ];
        for (v, url, want) in cases {
            let r = resolved(v.clone(), &opts, url);
            assert_eq!(r.selected, strings(want), "{v} {url:?}");
        }
    }

    #[test]
    fn prometheus_interpolation() {
        let tricky = ["a.b", "x|y", "(", "\\", "q\"uote", "it's", "plain"];
        let single = |value: &str| resolved(json!({"name": "v", "current": {"value": value}}), &tricky, None);
        let multi = |values: &[&str]| {
            resolved(json!({"name": "v", "multi": true, "current": {"value": values}}), &tricky, None)
        };
        // Single value, neither multi nor All: only string escaping.
        let cases: Vec<(ResolvedVariable, &str)> = vec![
            (single("a.b"), r#"up{l="a.b"}"#),
            (single("x|y"), r#"up{l="x|y"}"#),
            (single("\\"), r#"up{l="\\"}"#),
            (single("q\"uote"), r#"up{l="q\"uote"}"#),
            // Multi with one value: regex-escaped, no parentheses.
            (multi(&["a.b"]), r#"up{l="a\\.b"}"#),
            (multi(&["a.b", "x|y"]), r#"up{l="(a\\.b|x\\|y)"}"#),
            (multi(&["(", "\\"]), r#"up{l="(\\(|\\\\)"}"#),
            (multi(&["q\"uote", "it's"]), r#"up{l="(q\\\"uote|it\\'s)"}"#),
        ];
        for (var, want) in cases {
            let vars = [var];
            let scope = Scope { variables: &vars, builtins: &[] };
            assert_eq!(scope.interpolate(r#"up{l="$v"}"#, Format::Prometheus), want, "{:?}", vars[0].selected);
        }

        // All: every option, escaped and joined; a custom All value raw.
        let all =
            resolved(json!({"name": "v", "includeAll": true, "current": {"value": "$__all"}}), &["a.b", "c"], None);
        let custom_all = resolved(
            json!({"name": "v", "includeAll": true, "allValue": ".*", "current": {"value": "$__all"}}),
            &["a"],
            None,
        );
        let scope_all = [all];
        let scope = Scope { variables: &scope_all, builtins: &[] };
        assert_eq!(scope.interpolate(r#"up{l=~"$v"}"#, Format::Prometheus), r#"up{l=~"(a\\.b|c)"}"#);
        let scope_custom = [custom_all];
        let scope = Scope { variables: &scope_custom, builtins: &[] };
        assert_eq!(scope.interpolate(r#"up{l=~"$v"}"#, Format::Prometheus), r#"up{l=~".*"}"#);
    }

    /// Every interpolated selector must still parse as PromQL and its regex
    /// must match exactly the selected values.
    #[test]
    fn interpolated_regex_matches_exactly_the_values() {
        let tricky = ["a.b", "x|y", "(", "\\", "q\"uote", "it's", "$^*{}[]+?", "plain"];
        for pick in [&tricky[..2], &tricky[2..5], &tricky[5..], &tricky[..]] {
            let v = resolved(json!({"name": "v", "multi": true, "current": {"value": pick}}), &tricky, None);
            let vars = [v];
            let scope = Scope { variables: &vars, builtins: &[] };
            let q = scope.interpolate(r#"up{l=~"$v"}"#, Format::Prometheus);
            let expr = match crate::promql::parse(&q) {
                Ok(e) => e,
                Err(e) => panic!("{q}: {}", e.describe(&q)),
            };
            let printed = expr.to_string();
            // The parser anchors regexes; check matching through it.
            let crate::promql::Expr::VectorSelector(sel) = &expr else { panic!("{printed}") };
            let m = sel.matchers.iter().find(|m| m.name == "l");
            let Some(m) = m else { panic!("{printed}") };
            for value in tricky {
                assert_eq!(m.matches(value), pick.contains(&value), "{q} on {value:?}");
            }
        }
    }

    #[test]
    fn syntaxes_and_formats() {
        let v = resolved(json!({"name": "v", "multi": true, "current": {"value": ["a.b", "c"]}}), &["a.b", "c"], None);
        let one = resolved(json!({"name": "one", "current": {"value": "x y"}}), &["x y"], None);
        let vars = [v, one];
        let builtins = [("__interval", "30s".to_string()), ("__rate_interval", "1m0s".to_string())];
        let scope = Scope { variables: &vars, builtins: &builtins };
        let cases: &[(&str, &str)] = &[
            ("$v", "(a\\\\.b|c)"),
            ("${v}", "(a\\\\.b|c)"),
            ("[[v]]", "(a\\\\.b|c)"),
            ("${v:raw}", "a.b,c"),
            ("${v:csv}", "a.b,c"),
            ("${v:regex}", "(a\\.b|c)"),
            ("${v:pipe}", "a.b|c"),
            ("${v:json}", r#"["a.b","c"]"#),
            ("${v:glob}", "{a.b,c}"),
            ("${v:text}", "a.b + c"),
            ("${v:queryparam}", "var-v=a.b&var-v=c"),
            ("${v:doublequote}", r#""a.b","c""#),
            ("${v:singlequote}", "'a.b','c'"),
            ("${v:percentencode}", "%7Ba.b%2Cc%7D"),
            ("${v:nosuchformat}", "{a.b,c}"),
            ("[[v:pipe]]", "a.b|c"),
            ("${one:queryparam}", "var-one=x%20y"),
            ("${one:json}", r#""x y""#),
            ("rate(x[$__rate_interval]) $__interval ${__interval}", "rate(x[1m0s]) 30s 30s"),
            ("$unknown ${unknown} [[unknown]] $", "$unknown ${unknown} [[unknown]] $"),
            ("$vv", "$vv"),
        ];
        for (t, want) in cases {
            assert_eq!(scope.interpolate(t, Format::Prometheus), *want, "{t}");
        }
    }

    /// Every query of the real Node Exporter Full dashboard, interpolated
    /// with its variables (one of them multi-valued with tricky values) and
    /// the step built-ins, is valid PromQL for Vigil's parser.
    #[test]
    fn node_exporter_full_queries_interpolate_to_valid_promql() {
        use crate::dashboard::interval::{PanelQueryContext, TargetStep};
        let src = include_str!("../../testdata/dashboards/node-exporter-full.json");
        let d = match crate::dashboard::Dashboard::from_json(src) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let values: &[(&str, &[&str])] =
            &[("job", &["node", "node.exporter|2"]), ("nodename", &["host-1"]), ("node", &["localhost:9100"])];
        let vars: Vec<ResolvedVariable> = d
            .templating
            .list
            .iter()
            .map(|v| {
                let opts = values.iter().find(|(n, _)| *n == v.name).map_or(&[][..], |(_, o)| *o);
                let mut v = v.clone();
                v.multi = opts.len() > 1;
                let options = opts
                    .iter()
                    .map(|o| VariableOption { text: o.to_string(), value: o.to_string(), selected: false })
                    .collect();
                ResolvedVariable::resolve(&v, options, Some(&strings(opts)))
            })
            .collect();
        let ctx = PanelQueryContext {
            from_ms: 1_700_000_000_000 - 86_400_000,
            to_ms: 1_700_000_000_000,
            width_px: 800,
            max_data_points: None,
            min_interval: None,
            scrape_interval: None,
        };
        let mut checked = 0;
        for panel in d.all_panels() {
            for target in &panel.targets {
                let plan = match ctx
                    .plan(&TargetStep { interval: target.interval.as_deref(), interval_factor: target.interval_factor })
                {
                    Ok(p) => p,
                    Err(e) => panic!("{}: {e}", panel.title),
                };
                let builtins = plan.builtins();
                let scope = Scope { variables: &vars, builtins: &builtins };
                let q = scope.interpolate(&target.expr, Format::Prometheus);
                assert!(!q.contains('$'), "{}: {q}", panel.title);
                if let Err(e) = crate::promql::parse(&q) {
                    panic!("{}: {q}: {}", panel.title, e.describe(&q));
                }
                checked += 1;
            }
        }
        assert!(checked > 250, "{checked}");
    }
}
