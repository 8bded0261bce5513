//! The PromQL query editor that Explore and the panel editor share: a
//! plain `<textarea>` over a mirrored `<pre>` that draws the text again,
//! escaped (text nodes only), with the parse error's span underlined. The
//! query parses on every input with the server's own parser
//! (`vigil_shared::promql`), so the error shows before anything is sent.
//! Completion asks `vigil_shared::promql::complete` what fits at the cursor
//! and fills it with functions and aggregations (with their signatures and
//! a line on what they do), keywords, durations, and the server's metric
//! names, label names and label values, fetched once per session (a small
//! cache keyed by the request URL) after a short pause in typing.
//!
//! Grafana variables (`$job`, `${__rate_interval}`, `[[var]]`) are not
//! PromQL: before parsing or completing, each reference outside a string is
//! masked by a placeholder of the same byte length that the parser accepts
//! where it stands (a duration inside `[…]`, an identifier elsewhere), so
//! every span still points into the text as written.
//!
//! Element ids and classes (stable, for tests), with `ID` the `id` prop:
//! `#ID` the textarea; `#ID-error.query-error` the message, with
//! `data-start`/`data-end` the error's byte offsets; `.error-span` the
//! underlined text in the mirror; `#ID-completions` the popup, whose items
//! are `li.completion-item` with `data-kind` and `data-insert`, the active
//! one `aria-selected="true"`; `#ID-format` the Format button (also
//! Shift+Alt+F). Keys in the popup: ↑/↓ move, Enter/Tab insert, Escape
//! closes; Ctrl+Space opens it; Enter without a popup runs `on_submit`
//! (Shift+Enter is a new line).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use leptos::html::Textarea;
use leptos::leptos_dom::helpers::TimeoutHandle;
use leptos::prelude::*;
use leptos::task::spawn_local;
use vigil_shared::promql::ast::is_plain_metric_name;
use vigil_shared::promql::{AggregateOp, Completion, Expected, FUNCTIONS, Span, ValueType, complete};
use wasm_bindgen::JsCast;

/// How long typing must pause before the server is asked for names.
const FETCH_DEBOUNCE: Duration = Duration::from_millis(150);
/// How many items the popup lists at most.
const MAX_ITEMS: usize = 60;
/// How many answers the session cache keeps (oldest dropped first).
const CACHE_CAPACITY: usize = 64;
/// How long a cached answer is used before it is asked again: new series
/// appear while the app is open.
const CACHE_TTL_MS: f64 = 120_000.0;

/// A parse error, located in the text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offsets of the underlined span (empty at the end of input).
    pub start: usize,
    pub end: usize,
    /// Prometheus's message with its `line:col` position.
    pub message: String,
}

/// The parse error of `text`, if any; variables are masked first.
pub fn problem(text: &str) -> Option<Problem> {
    if text.trim().is_empty() {
        return None;
    }
    let masked = mask_variables(text);
    let error = vigil_shared::promql::parse(&masked).err()?;
    let start = floor_char_boundary(text, error.span.start);
    let end = floor_char_boundary(text, error.span.end.max(start));
    Some(Problem { start, end, message: error.describe(&masked) })
}

/// The text with its parse error's span underlined: before, marked, after.
/// An empty span (unexpected end of input) marks one space.
fn split_at_problem<'a>(text: &'a str, problem: &Problem) -> (&'a str, &'a str, &'a str) {
    let start = floor_char_boundary(text, problem.start);
    let end = floor_char_boundary(text, problem.end.max(start));
    let marked = if end > start { &text[start..end] } else { " " };
    (&text[..start], marked, &text[end..])
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `text` with every Grafana variable reference outside strings and
/// comments replaced by a placeholder of the same byte length: digits and
/// `m` inside brackets (a duration), underscores and a `v` elsewhere (an
/// identifier). `$__interval` in `rate(x[$__interval])` parses as
/// `rate(x[0000000001m])`.
pub fn mask_variables(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut brackets = 0usize;
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'"' | b'\'' | b'`' => {
                // A string: copied as it is (a variable in a label value is
                // just text to the parser).
                let mut j = i + 1;
                while let Some(&d) = bytes.get(j) {
                    j += 1;
                    if d == b'\\' && c != b'`' {
                        j += 1;
                    } else if d == c || (d == b'\n' && c != b'`') {
                        break;
                    }
                }
                let j = j.min(bytes.len());
                out.extend_from_slice(&bytes[i..j]);
                i = j;
            }
            b'#' => {
                let j = bytes[i..].iter().position(|&d| d == b'\n').map_or(bytes.len(), |p| i + p);
                out.extend_from_slice(&bytes[i..j]);
                i = j;
            }
            b'$' | b'[' if variable_len(&bytes[i..]) > 0 => {
                let len = variable_len(&bytes[i..]);
                if brackets > 0 && len >= 2 {
                    out.extend(std::iter::repeat_n(b'0', len - 2));
                    out.extend_from_slice(b"1m");
                } else {
                    out.extend(std::iter::repeat_n(b'_', len - 1));
                    out.push(b'v');
                }
                i += len;
            }
            _ => {
                match c {
                    b'[' => brackets += 1,
                    b']' => brackets = brackets.saturating_sub(1),
                    _ => {}
                }
                out.push(c);
                i += 1;
            }
        }
    }
    // Only ASCII was replaced by ASCII, so the bytes are still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// The byte length of the variable reference `rest` starts with: `$name`,
/// `${name}` / `${name:format}`, or `[[name]]`; 0 if it starts none.
fn variable_len(rest: &[u8]) -> usize {
    let word = |from: usize| {
        rest[from.min(rest.len())..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count()
    };
    match rest {
        [b'$', b'{', ..] => match rest.iter().position(|&c| c == b'}') {
            Some(close) if close > 2 && !rest[2..close].contains(&b'\n') => close + 1,
            _ => 0,
        },
        [b'$', ..] => match word(1) {
            0 => 0,
            n => n + 1,
        },
        [b'[', b'[', ..] => {
            let n = word(2);
            if n > 0 && rest.get(2 + n..4 + n) == Some(b"]]") { n + 4 } else { 0 }
        }
        _ => 0,
    }
}

/// Converts a UTF-16 offset (what the DOM's `selectionStart` counts) into
/// a byte offset into `text`.
pub fn utf16_to_byte(text: &str, units: u32) -> usize {
    let mut seen = 0u32;
    for (at, c) in text.char_indices() {
        if seen >= units {
            return at;
        }
        seen += c.len_utf16() as u32;
    }
    text.len()
}

/// Converts a byte offset into `text` into the DOM's UTF-16 offset.
pub fn byte_to_utf16(text: &str, at: usize) -> u32 {
    text.get(..floor_char_boundary(text, at)).map_or(0, |t| t.encode_utf16().count() as u32)
}

/// A list of names the server is asked for. Its URL is the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    MetricNames,
    LabelNames { metric: Option<String> },
    LabelValues { metric: Option<String>, label: String },
}

impl Lookup {
    /// The Prometheus API request, without a time range (all of the
    /// server's data, so one answer serves the whole session).
    pub fn url(&self) -> String {
        // A selector for `match[]`: the bare name when it is one, else
        // the `__name__` matcher (names with dots or other characters).
        let matcher = |metric: &Option<String>| {
            metric.as_deref().map(|m| {
                let selector = if is_plain_metric_name(m) { m.to_owned() } else { format!("{{__name__={m:?}}}") };
                format!("?match[]={}", crate::api::encode(&selector))
            })
        };
        match self {
            Lookup::MetricNames => "/api/v1/label/__name__/values".to_owned(),
            Lookup::LabelNames { metric } => format!("/api/v1/labels{}", matcher(metric).unwrap_or_default()),
            Lookup::LabelValues { metric, label } => {
                format!("/api/v1/label/{}/values{}", crate::api::encode(label), matcher(metric).unwrap_or_default())
            }
        }
    }
}

/// The server lists a completion at the cursor needs.
pub fn lookups(completion: &Completion) -> Vec<Lookup> {
    completion
        .expected
        .iter()
        .filter_map(|e| match e {
            Expected::MetricName => Some(Lookup::MetricNames),
            Expected::LabelName { metric } => Some(Lookup::LabelNames { metric: metric.clone() }),
            Expected::LabelValue { metric, label } => {
                Some(Lookup::LabelValues { metric: metric.clone(), label: label.clone() })
            }
            _ => None,
        })
        .collect()
}

/// What an item is, shown as a badge and written as `data-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Metric,
    Function,
    Aggregation,
    Keyword,
    Label,
    Value,
    Duration,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Metric => "metric",
            ItemKind::Function => "function",
            ItemKind::Aggregation => "aggregation",
            ItemKind::Keyword => "keyword",
            ItemKind::Label => "label",
            ItemKind::Value => "value",
            ItemKind::Duration => "duration",
        }
    }
}

/// One line of the completion popup.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub label: String,
    pub kind: ItemKind,
    /// The text that replaces [`Completion::replace`].
    pub insert: String,
    /// Where the cursor goes, in bytes into `insert` (inside a call's
    /// parentheses).
    pub cursor: usize,
    /// The signature, for functions and aggregations.
    pub detail: String,
    /// One line on what it does.
    pub doc: &'static str,
}

impl Item {
    fn plain(label: &str, kind: ItemKind) -> Item {
        Item {
            label: label.to_owned(),
            kind,
            insert: label.to_owned(),
            cursor: label.len(),
            detail: String::new(),
            doc: "",
        }
    }

    fn call(name: &str, kind: ItemKind, detail: String) -> Item {
        Item {
            label: name.to_owned(),
            kind,
            insert: format!("{name}()"),
            cursor: name.len() + 1,
            detail,
            doc: describe(name),
        }
    }
}

/// Durations offered inside `[…]` and after `offset`.
const DURATIONS: [&str; 10] = ["$__rate_interval", "$__interval", "1m", "5m", "10m", "15m", "30m", "1h", "6h", "1d"];

/// The popup's items for `completion`: what `names` has for each server
/// list (`None` while it is not fetched yet), functions, keywords and
/// durations, filtered by the typed prefix (items starting with it first,
/// then items containing it) and capped at [`MAX_ITEMS`].
pub fn build_items(completion: &Completion, names: &dyn Fn(&Lookup) -> Option<Rc<Vec<String>>>) -> Vec<Item> {
    let prefix = completion.prefix.to_ascii_lowercase();
    let mut all = Vec::new();
    for expected in &completion.expected {
        match expected {
            Expected::MetricName => {
                if let Some(list) = names(&Lookup::MetricNames) {
                    all.extend(list.iter().map(|n| Item::plain(n, ItemKind::Metric)));
                }
            }
            Expected::Function => {
                all.extend(
                    AggregateOp::ALL
                        .iter()
                        .map(|op| Item::call(op.as_str(), ItemKind::Aggregation, aggregation_signature(*op))),
                );
                all.extend(FUNCTIONS.iter().map(|f| Item::call(f.name, ItemKind::Function, f.signature())));
            }
            Expected::LabelName { metric } => {
                if let Some(list) = names(&Lookup::LabelNames { metric: metric.clone() }) {
                    // `__name__` is the metric name, written before the braces.
                    all.extend(list.iter().filter(|n| *n != "__name__").map(|n| Item::plain(n, ItemKind::Label)));
                }
            }
            Expected::LabelValue { metric, label } => {
                if let Some(list) = names(&Lookup::LabelValues { metric: metric.clone(), label: label.clone() }) {
                    all.extend(list.iter().map(|v| Item {
                        // The string literal with its quotes, as the
                        // printer writes it (Rust's escapes for `"`, `\`
                        // and control characters are PromQL's too).
                        insert: format!("{v:?}"),
                        cursor: format!("{v:?}").len(),
                        ..Item::plain(v, ItemKind::Value)
                    }));
                }
            }
            Expected::Keyword(words) => all.extend(words.iter().map(|w| Item::plain(w, ItemKind::Keyword))),
            Expected::Duration => all.extend(DURATIONS.iter().map(|d| Item::plain(d, ItemKind::Duration))),
        }
    }
    let lower = |item: &Item| item.label.to_ascii_lowercase();
    let mut starts: Vec<Item> = Vec::new();
    let mut contains: Vec<Item> = Vec::new();
    for item in all {
        let label = lower(&item);
        // What is typed in full is no suggestion (except a call's name:
        // the parentheses still come).
        if label == prefix && !matches!(item.kind, ItemKind::Function | ItemKind::Aggregation) {
            continue;
        }
        if label.starts_with(&prefix) {
            starts.push(item);
        } else if !prefix.is_empty() && label.contains(&prefix) {
            contains.push(item);
        }
    }
    starts.extend(contains);
    let mut seen = std::collections::HashSet::new();
    starts.retain(|i| seen.insert((i.kind, i.label.clone())));
    starts.truncate(MAX_ITEMS);
    starts
}

/// Applies `item` to `text` over `replace`: the new text and the cursor's
/// byte offset in it.
pub fn apply(text: &str, replace: Span, item: &Item) -> (String, usize) {
    let start = floor_char_boundary(text, replace.start);
    let end = floor_char_boundary(text, replace.end.max(start));
    let mut out = String::with_capacity(text.len() + item.insert.len());
    out.push_str(&text[..start]);
    out.push_str(&item.insert);
    // A call inserted before an opening parenthesis keeps that one.
    let rest = &text[end..];
    if matches!(item.kind, ItemKind::Function | ItemKind::Aggregation) && rest.starts_with('(') {
        out.truncate(out.len() - 2);
    }
    out.push_str(rest);
    (out, start + item.cursor)
}

/// The query written by the shared printer (Prometheus's canonical form),
/// or the parse error's message.
pub fn format_query(text: &str) -> Result<String, String> {
    vigil_shared::promql::parse(text).map(|e| e.to_string()).map_err(|e| e.describe(text))
}

fn aggregation_signature(op: AggregateOp) -> String {
    let param = match op.param_type() {
        Some(ValueType::String) => "string, ",
        Some(_) => "scalar, ",
        None => "",
    };
    format!("{} [by|without (labels)] ({param}instant vector) -> instant vector", op.as_str())
}

/// One line on what a function or aggregation does (after Prometheus's
/// documentation).
pub fn describe(name: &str) -> &'static str {
    match name {
        "sum" => "Sum over dimensions",
        "min" => "Minimum over dimensions",
        "max" => "Maximum over dimensions",
        "avg" => "Average over dimensions",
        "group" => "All values in the result are 1",
        "stddev" => "Population standard deviation over dimensions",
        "stdvar" => "Population standard variance over dimensions",
        "count" => "Count of elements in the vector",
        "count_values" => "Count of elements with the same value",
        "bottomk" => "Smallest k elements by sample value",
        "topk" => "Largest k elements by sample value",
        "quantile" => "φ-quantile (0 ≤ φ ≤ 1) over dimensions",
        "limitk" => "Some k elements, chosen deterministically",
        "limit_ratio" => "A deterministic sample of about the given ratio of elements",
        "abs" => "Absolute value of every sample",
        "absent" => "1-element vector when the input vector is empty",
        "absent_over_time" => "1-element vector when the range vector is empty",
        "acos" | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cos" | "cosh" | "sin" | "sinh" | "tan" | "tanh" => {
            "Trigonometric function of every sample"
        }
        "avg_over_time" => "Average of all points in the range",
        "ceil" => "Rounds every sample up to the nearest integer",
        "changes" => "Number of times the value changed within the range",
        "clamp" => "Clamps every sample between a minimum and a maximum",
        "clamp_max" => "Clamps every sample to an upper limit",
        "clamp_min" => "Clamps every sample to a lower limit",
        "count_over_time" => "Count of all points in the range",
        "day_of_month" => "Day of the month (1–31) in UTC",
        "day_of_week" => "Day of the week (0 = Sunday) in UTC",
        "day_of_year" => "Day of the year (1–366) in UTC",
        "days_in_month" => "Number of days in the month in UTC",
        "deg" => "Radians to degrees",
        "delta" => "Difference between the first and last value of a gauge",
        "deriv" => "Per-second derivative by simple linear regression",
        "double_exponential_smoothing" | "holt_winters" => "Smoothed value by double exponential smoothing",
        "end" => "End time of the range query",
        "exp" => "Exponential of every sample",
        "first_over_time" => "Oldest point in the range",
        "floor" => "Rounds every sample down to the nearest integer",
        "histogram_avg" => "Average of native histogram observations",
        "histogram_count" => "Count of native histogram observations",
        "histogram_fraction" => "Fraction of observations between two values",
        "histogram_quantile" => "φ-quantile from classic (le) buckets or native histograms",
        "histogram_quantiles" => "Several quantiles of a histogram at once",
        "histogram_stddev" => "Standard deviation of native histogram observations",
        "histogram_stdvar" => "Standard variance of native histogram observations",
        "histogram_sum" => "Sum of native histogram observations",
        "hour" => "Hour of the day (0–23) in UTC",
        "idelta" => "Difference between the last two points of a gauge",
        "increase" => "Increase of a counter over the range, extrapolated",
        "irate" => "Per-second rate from the last two points of a counter",
        "label_join" => "Joins the values of labels into a new label",
        "label_replace" => "Sets a label from a regex match on another label",
        "last_over_time" => "Most recent point in the range",
        "ln" => "Natural logarithm of every sample",
        "log10" => "Decimal logarithm of every sample",
        "log2" => "Binary logarithm of every sample",
        "mad_over_time" => "Median absolute deviation of the points in the range",
        "max_of" => "The larger of two scalars",
        "max_over_time" => "Maximum of all points in the range",
        "min_of" => "The smaller of two scalars",
        "min_over_time" => "Minimum of all points in the range",
        "minute" => "Minute of the hour (0–59) in UTC",
        "month" => "Month of the year (1–12) in UTC",
        "pi" => "The number π",
        "predict_linear" => "Value in t seconds by simple linear regression",
        "present_over_time" => "1 for every series with a point in the range",
        "quantile_over_time" => "φ-quantile of the points in the range",
        "rad" => "Degrees to radians",
        "range" => "Duration of the range query",
        "rate" => "Per-second rate of increase of a counter, extrapolated",
        "resets" => "Number of counter resets within the range",
        "round" => "Rounds every sample to the nearest multiple (default 1)",
        "scalar" => "The single sample of a 1-element vector as a scalar, else NaN",
        "sgn" => "Sign of every sample: 1, -1 or 0",
        "sort" => "Sorts by sample value, ascending",
        "sort_by_label" => "Sorts by the given labels' values, ascending",
        "sort_by_label_desc" => "Sorts by the given labels' values, descending",
        "sort_desc" => "Sorts by sample value, descending",
        "sqrt" => "Square root of every sample",
        "start" => "Start time of the range query",
        "stddev_over_time" => "Population standard deviation of the points in the range",
        "stdvar_over_time" => "Population standard variance of the points in the range",
        "step" => "Step of the range query",
        "sum_over_time" => "Sum of all points in the range",
        "time" => "Evaluation time in seconds since the epoch",
        "timestamp" => "Timestamp of every sample",
        "ts_of_first_over_time" => "Timestamp of the oldest point in the range",
        "ts_of_last_over_time" => "Timestamp of the most recent point in the range",
        "ts_of_max_over_time" => "Timestamp of the maximum in the range",
        "ts_of_min_over_time" => "Timestamp of the minimum in the range",
        "vector" => "The scalar as a vector without labels",
        "year" => "Year in UTC",
        _ => "",
    }
}

/// The session's answers to [`Lookup`]s, keyed by URL.
#[derive(Default)]
struct NameCache {
    entries: HashMap<String, (f64, Rc<Vec<String>>)>,
}

impl NameCache {
    fn get(&self, url: &str, now: f64) -> Option<Rc<Vec<String>>> {
        self.entries.get(url).filter(|(at, _)| now - at < CACHE_TTL_MS).map(|(_, names)| names.clone())
    }

    fn put(&mut self, url: String, names: Vec<String>, now: f64) {
        if self.entries.len() >= CACHE_CAPACITY && !self.entries.contains_key(&url) {
            let oldest = self.entries.iter().min_by(|a, b| a.1.0.total_cmp(&b.1.0)).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(url, (now, Rc::new(names)));
    }
}

thread_local! {
    // One per browser tab: every editor of the session shares the answers.
    static NAMES: RefCell<NameCache> = RefCell::new(NameCache::default());
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn cached(lookup: &Lookup) -> Option<Rc<Vec<String>>> {
    NAMES.with(|c| c.borrow().get(&lookup.url(), now_ms()))
}

/// Fetches what is not cached yet; failures are left uncached (the popup
/// then offers what it has) so the next pause asks again.
async fn fetch_missing(lookups: Vec<Lookup>) -> bool {
    let mut fetched = false;
    for lookup in lookups {
        if cached(&lookup).is_some() {
            continue;
        }
        let url = lookup.url();
        if let Ok(names) = crate::api::prometheus::<Vec<String>>(&url).await {
            NAMES.with(|c| c.borrow_mut().put(url, names, now_ms()));
            fetched = true;
        }
    }
    fetched
}

/// The open popup: what it replaces and its items.
#[derive(Debug, Clone, PartialEq)]
struct Popup {
    replace: Span,
    items: Vec<Item>,
    active: usize,
}

impl Popup {
    /// The popup for `completion` with what the cache has; none if empty.
    fn of(completion: &Completion) -> Option<Popup> {
        let items = build_items(completion, &cached);
        (!items.is_empty()).then_some(Popup { replace: completion.replace, items, active: 0 })
    }
}

/// A PromQL editor bound to `value`. `on_submit` runs on Enter when no
/// completion is open.
#[component]
pub fn QueryEditor(
    /// The textarea's id; the other elements' ids derive from it.
    #[prop(into)]
    id: String,
    value: RwSignal<String>,
    #[prop(optional)] on_submit: Option<Callback<()>>,
    #[prop(optional, into)] placeholder: Option<String>,
) -> impl IntoView {
    let textarea = NodeRef::<Textarea>::new();
    let problem_memo = Memo::new(move |_| value.with(|t| problem(t)));
    let popup = RwSignal::new(None::<Popup>);
    let format_error = RwSignal::new(None::<String>);
    // Bumped on every edit: a fetch answered after newer typing is dropped.
    let generation = StoredValue::new(0u64);
    let timer = StoredValue::new(None::<TimeoutHandle>);

    // Completion at the textarea's cursor: static items at once, server
    // names from the cache, or after a pause when not cached.
    let refresh_popup = move |open: bool| {
        let Some(el) = textarea.get_untracked() else { return };
        let text = el.value();
        let cursor = utf16_to_byte(&text, el.selection_start().ok().flatten().unwrap_or(0));
        let masked = mask_variables(&text);
        let completion = complete(&masked, cursor);
        let missing: Vec<Lookup> = lookups(&completion).into_iter().filter(|l| cached(l).is_none()).collect();
        let wanted = popup.with_untracked(Option::is_some) || open;
        if wanted {
            popup.set(Popup::of(&completion));
        }
        if missing.is_empty() || !wanted {
            return;
        }
        generation.update_value(|g| *g += 1);
        let asked = generation.get_value();
        if let Some(old) = timer.get_value() {
            old.clear();
        }
        let handle = set_timeout_with_handle(
            move || {
                spawn_local(async move {
                    if fetch_missing(missing).await
                        && generation.try_get_value() == Some(asked)
                        && textarea.get_untracked().is_some_and(|el| el.value() == text)
                    {
                        popup.set(Popup::of(&completion));
                    }
                });
            },
            FETCH_DEBOUNCE,
        );
        timer.set_value(handle.ok());
    };
    on_cleanup(move || {
        if let Some(handle) = timer.try_get_value().flatten() {
            handle.clear();
        }
    });

    let set_text = move |text: String, cursor: usize| {
        value.set(text.clone());
        if let Some(el) = textarea.get_untracked() {
            el.set_value(&text);
            let at = byte_to_utf16(&text, cursor);
            let _ = el.set_selection_range(at, at);
            let _ = el.focus();
        }
    };
    let accept = move |index: usize| {
        let Some(open) = popup.get_untracked() else { return };
        let Some(item) = open.items.get(index) else { return };
        let (text, cursor) = apply(&value.get_untracked(), open.replace, item);
        popup.set(None);
        set_text(text, cursor);
        // After `sum(` or `{job=` something else fits: offer it.
        refresh_popup(false);
    };
    let format = move || match format_query(&value.get_untracked()) {
        Ok(text) => {
            format_error.set(None);
            let end = text.len();
            set_text(text, end);
        }
        Err(message) => format_error.set(Some(message)),
    };
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        let key = ev.key();
        if ev.shift_key() && ev.alt_key() && (key == "F" || key == "f" || ev.code() == "KeyF") {
            ev.prevent_default();
            format();
            return;
        }
        if ev.ctrl_key() && (key == " " || ev.code() == "Space") {
            ev.prevent_default();
            refresh_popup(true);
            return;
        }
        if let Some(open) = popup.get_untracked() {
            let n = open.items.len().max(1);
            match key.as_str() {
                "ArrowDown" => {
                    ev.prevent_default();
                    popup.update(|p| {
                        if let Some(p) = p {
                            p.active = (p.active + 1) % n;
                        }
                    });
                }
                "ArrowUp" => {
                    ev.prevent_default();
                    popup.update(|p| {
                        if let Some(p) = p {
                            p.active = (p.active + n - 1) % n;
                        }
                    });
                }
                "Enter" | "Tab" => {
                    ev.prevent_default();
                    accept(open.active);
                }
                "Escape" => {
                    ev.prevent_default();
                    popup.set(None);
                }
                _ => {}
            }
            return;
        }
        if key == "Enter"
            && !ev.shift_key()
            && let Some(submit) = on_submit
        {
            ev.prevent_default();
            submit.run(());
        }
    };

    let error_id = format!("{id}-error");
    let popup_id = format!("{id}-completions");
    let format_id = format!("{id}-format");
    view! {
        <div class="query-editor">
            <div class="query-field">
                <pre class="query-mirror mono" aria-hidden="true">
                    {move || {
                        let text = value.get();
                        match problem_memo.get() {
                            Some(p) => {
                                let (before, marked, after) = split_at_problem(&text, &p);
                                view! {
                                    {before.to_owned()}
                                    <span class="error-span">{marked.to_owned()}</span>
                                    {format!("{after} ")}
                                }
                                    .into_any()
                            }
                            // The trailing space keeps a last empty line's height.
                            None => format!("{text} ").into_any(),
                        }
                    }}
                </pre>
                <textarea
                    id=id
                    node_ref=textarea
                    class="query-input mono"
                    spellcheck="false"
                    autocomplete="off"
                    rows="1"
                    placeholder=placeholder.unwrap_or_else(|| "PromQL expression, e.g. up".to_owned())
                    prop:value=move || value.get()
                    on:input=move |ev| {
                        value.set(event_target_value(&ev));
                        format_error.set(None);
                        // Typing a word, a brace or an operator opens the
                        // popup; deleting only updates an open one.
                        let typed = ev
                            .dyn_ref::<web_sys::InputEvent>()
                            .and_then(web_sys::InputEvent::data)
                            .is_some_and(|d| !d.trim().is_empty());
                        refresh_popup(typed);
                    }
                    on:keydown=on_keydown
                    on:click=move |_| {
                        if popup.with_untracked(Option::is_some) {
                            refresh_popup(false);
                        }
                    }
                    on:blur=move |_| popup.set(None)
                ></textarea>
                {move || {
                    popup
                        .get()
                        .map(|open| {
                            let active = open.active;
                            view! {
                                <ul class="query-completions" id=popup_id.clone() role="listbox">
                                    {open
                                        .items
                                        .into_iter()
                                        .enumerate()
                                        .map(|(i, item)| {
                                            view! {
                                                <li
                                                    class="completion-item"
                                                    role="option"
                                                    data-kind=item.kind.as_str()
                                                    data-insert=item.insert.clone()
                                                    aria-selected=if i == active { "true" } else { "false" }
                                                    // mousedown, not click: it comes before the
                                                    // textarea's blur closes the popup.
                                                    on:mousedown=move |ev| {
                                                        ev.prevent_default();
                                                        accept(i);
                                                    }
                                                >
                                                    <span class="completion-kind">{item.kind.as_str()}</span>
                                                    <span class="completion-label mono">{item.label}</span>
                                                    {(!item.detail.is_empty())
                                                        .then(|| {
                                                            view! {
                                                                <span class="completion-detail mono">{item.detail}</span>
                                                            }
                                                        })}
                                                    {(!item.doc.is_empty())
                                                        .then(|| view! { <span class="completion-doc">{item.doc}</span> })}
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                        })
                }}
            </div>
            <div class="query-tools">
                <button
                    type="button"
                    id=format_id
                    class="query-format"
                    title="Format the query (Shift+Alt+F)"
                    on:click=move |_| format()
                >
                    "Format"
                </button>
                {move || format_error.get().map(|m| view! { <span class="query-format-error">{m}</span> })}
            </div>
            {move || {
                problem_memo
                    .get()
                    .map(|p| {
                        view! {
                            <div
                                class="query-error"
                                id=error_id.clone()
                                data-start=p.start.to_string()
                                data-end=p.end.to_string()
                            >
                                {p.message}
                            </div>
                        }
                    })
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn masks_variables_keeping_offsets() {
        // `$__rate_interval` is 16 bytes: 14 zeros and `1m`.
        let rate = format!("rate(x[{}1m])", "0".repeat(14));
        let braced = format!("rate(x[{}1m])", "0".repeat(11));
        let cases = [
            ("rate(x[$__rate_interval])", rate.as_str()),
            ("rate(x[${__interval}])", braced.as_str()),
            ("up{job=\"$job\"}", "up{job=\"$job\"}"),
            ("sum by ($group) (x)", "sum by (_____v) (x)"),
            ("$metric", "______v"),
            ("x[[var]]", "x______v"),
            ("x # $not_a_var", "x # $not_a_var"),
            ("cost $ 5", "cost $ 5"),
            ("é + $x", "é + _v"),
        ];
        for (text, want) in cases {
            let masked = mask_variables(text);
            assert_eq!(masked, want, "{text}");
            assert_eq!(masked.len(), text.len(), "{text}");
        }
        for text in ["rate(x[$__rate_interval])", "sum by ($g) (rate(x{job=~\"$job\"}[$__interval]))"] {
            assert_eq!(problem(text), None, "{text}");
        }
    }

    #[wasm_bindgen_test]
    fn problems_point_into_the_text_as_written() {
        // (text, underlined text, message contains)
        let cases = [
            ("sum(rate(x[5m])", " ", "unclosed left parenthesis"),
            ("up{job=}", "}", "unexpected"),
            ("rate($x[5m]) +", " ", "unexpected end of input"),
            ("1 + é", "é", "unexpected character"),
        ];
        for (text, marked, message) in cases {
            let p = problem(text).unwrap_or_else(|| panic!("{text} should not parse"));
            assert_eq!(split_at_problem(text, &p).1, marked, "{text}: {p:?}");
            assert!(p.message.contains(message), "{text}: {}", p.message);
        }
        assert_eq!(problem("  "), None);
        assert_eq!(problem("sum by (job) (up)"), None);
    }

    #[wasm_bindgen_test]
    fn utf16_offsets_round_trip() {
        let text = "a é 😀 b";
        for (at, _) in text.char_indices().chain([(text.len(), ' ')]) {
            assert_eq!(utf16_to_byte(text, byte_to_utf16(text, at)), at);
        }
        // The emoji is two UTF-16 units: 8 in all.
        assert_eq!(byte_to_utf16(text, text.len()), 8);
        assert_eq!(utf16_to_byte(text, 100), text.len());
    }

    #[wasm_bindgen_test]
    fn cache_keys_are_the_requests() {
        let cases = [
            (Lookup::MetricNames, "/api/v1/label/__name__/values"),
            (Lookup::LabelNames { metric: None }, "/api/v1/labels"),
            (Lookup::LabelNames { metric: Some("up".into()) }, "/api/v1/labels?match[]=up"),
            (
                Lookup::LabelValues { metric: Some("a.b".into()), label: "job".into() },
                "/api/v1/label/job/values?match[]=%7B__name__%3D%22a.b%22%7D",
            ),
            (Lookup::LabelValues { metric: None, label: "job".into() }, "/api/v1/label/job/values"),
        ];
        for (lookup, url) in cases {
            assert_eq!(lookup.url(), url);
        }
        // Same question, same key; another metric, another key.
        let a = Lookup::LabelNames { metric: Some("up".into()) };
        assert_eq!(a.url(), a.clone().url());
        assert_ne!(a.url(), Lookup::LabelNames { metric: Some("down".into()) }.url());
    }

    #[wasm_bindgen_test]
    fn cache_expires_and_drops_the_oldest() {
        let mut cache = NameCache::default();
        cache.put("a".into(), vec!["x".into()], 0.0);
        assert_eq!(cache.get("a", 1000.0).map(|v| v.len()), Some(1));
        assert!(cache.get("a", CACHE_TTL_MS + 1.0).is_none());
        for i in 0..CACHE_CAPACITY {
            cache.put(format!("k{i}"), Vec::new(), 10.0 + i as f64);
        }
        assert_eq!(cache.entries.len(), CACHE_CAPACITY);
        assert!(cache.get("a", 100.0).is_none(), "the oldest entry made room");
        assert!(cache.get("k0", 100.0).is_some());
    }

    fn names(lookup: &Lookup) -> Option<Rc<Vec<String>>> {
        let list: &[&str] = match lookup {
            Lookup::MetricNames => &["up", "process_cpu_seconds_total", "scrape_duration_seconds"],
            Lookup::LabelNames { metric: Some(m) } if m == "up" => &["__name__", "instance", "job"],
            Lookup::LabelNames { .. } => &["instance", "job", "mode"],
            Lookup::LabelValues { label, .. } if label == "job" => &["node", "vigil", "we\"ird"],
            Lookup::LabelValues { .. } => &[],
        };
        Some(Rc::new(list.iter().map(|s| (*s).to_owned()).collect()))
    }

    #[wasm_bindgen_test]
    fn completion_lists_fit_the_cursor() {
        // (text, cursor, labels of the first items, kind of the first)
        let cases: [(&str, usize, &[&str], ItemKind); 8] = [
            ("u", 1, &["up"], ItemKind::Metric),
            ("rat", 3, &["rate"], ItemKind::Function),
            ("up{", 3, &["instance", "job"], ItemKind::Label),
            ("up{j", 4, &["job"], ItemKind::Label),
            ("up{job=\"v", 9, &["vigil"], ItemKind::Value),
            ("rate(x[", 7, &["$__rate_interval", "$__interval", "1m"], ItemKind::Duration),
            ("sum ", 4, &["by", "without"], ItemKind::Keyword),
            ("sum by (mo", 10, &["mode"], ItemKind::Label),
        ];
        for (text, cursor, want, kind) in cases {
            let items = build_items(&complete(text, cursor), &names);
            let labels: Vec<&str> = items.iter().take(want.len()).map(|i| i.label.as_str()).collect();
            assert_eq!(labels, want, "{text}");
            assert_eq!(items.first().map(|i| i.kind), Some(kind), "{text}");
        }
        // Items containing the prefix follow those starting with it.
        let items = build_items(&complete("seconds", 7), &names);
        assert!(items.iter().any(|i| i.label == "process_cpu_seconds_total"));
        // Functions carry their signature and a description.
        let items = build_items(&complete("histogram_q", 11), &names);
        let hq = items.iter().find(|i| i.label == "histogram_quantile").expect("histogram_quantile offered");
        assert_eq!(hq.detail, "histogram_quantile(scalar, instant vector) -> instant vector");
        assert!(!hq.doc.is_empty());
        let sum = build_items(&complete("su", 2), &names).into_iter().find(|i| i.label == "sum");
        assert!(sum.is_some_and(|s| s.kind == ItemKind::Aggregation && s.detail.contains("by|without")));
        // Nothing fetched yet: only what is known locally.
        let items = build_items(&complete("u", 1), &|_| None);
        assert!(items.iter().all(|i| i.kind != ItemKind::Metric));
        // Every function in the table has a description.
        for f in FUNCTIONS {
            assert!(!describe(f.name).is_empty(), "{} lacks a description", f.name);
        }
        for op in AggregateOp::ALL {
            assert!(!describe(op.as_str()).is_empty(), "{} lacks a description", op.as_str());
        }
    }

    #[wasm_bindgen_test]
    fn applying_an_item_edits_the_text() {
        let pick = |text: &str, cursor: usize, label: &str| {
            let completion = complete(text, cursor);
            let items = build_items(&completion, &names);
            let item = items.iter().find(|i| i.label == label).unwrap_or_else(|| panic!("{label} in {items:?}"));
            apply(text, completion.replace, item)
        };
        let cases = [
            ("u", 1, "up", "up", 2),
            ("rat", 3, "rate", "rate()", 5),
            ("rat(x[5m])", 3, "rate", "rate(x[5m])", 5),
            ("up{j}", 4, "job", "up{job}", 6),
            ("up{job=\"v\"}", 9, "vigil", "up{job=\"vigil\"}", 14),
            ("up{job=}", 7, "we\"ird", "up{job=\"we\\\"ird\"}", 16),
            ("sum(x) by (in) ", 13, "instance", "sum(x) by (instance) ", 19),
        ];
        for (text, cursor, label, want, at) in cases {
            assert_eq!(pick(text, cursor, label), (want.to_owned(), at), "{text}");
        }
    }

    #[wasm_bindgen_test]
    fn format_uses_the_shared_printer() {
        assert_eq!(format_query("sum by(job)(rate(x[5m]))").as_deref(), Ok("sum by (job) (rate(x[5m]))"));
        assert_eq!(format_query("up{job='a'}  +  1").as_deref(), Ok("up{job=\"a\"} + 1"));
        assert!(format_query("sum(").is_err_and(|e| e.contains("parse error")));
    }
}
