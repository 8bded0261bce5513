//! Prometheus's PromQL test-script language (`promqltest`), so Vigil's engine
//! can be checked against the scripts Prometheus checks its own engine with
//! (`tests/promqltest.rs` runs them).
//!
//! This module parses a script into [`Command`]s and provides the pieces of
//! Prometheus's `promql/promqltest/test.go` that do not depend on the engine:
//! duration and number syntax, the series-values notation, float comparison
//! ([`almost_equal`]) and the `@`-modifier variants of an instant query
//! ([`at_modifier_variants`]). Parsing mirrors `test.go`: the same command
//! and `expect` line patterns, the same quirks (a scalar result line or a
//! deprecated `expected_fail_message` ends the block; `expect` lines do not
//! count as result positions for `expect ordered`), and errors carry
//! `file:line`, never a panic.
//!
//! # The language
//!
//! ```text
//! load 1m
//!     metric{label="value"} 1+2x3 _ stale -1-2x3 _x3 1e3 Inf NaN
//! eval instant at 2m sum(metric)
//!     expect no_warn
//!     {} 5
//! eval range from 0 to 2m step 1m metric
//!     metric{label="value"} 1 3 5
//! clear
//! ```
//!
//! * Values: `a` is one sample; `axN` is `N+1` samples of `a`; `a+bxN` and
//!   `a-bxN` are `N+1` samples from `a` by steps of `b` (accumulated by
//!   repeated addition, as Prometheus does); `_` is no sample and `_xN` is
//!   `N` of them; `stale` is a staleness marker; numbers are Go numbers
//!   (`1e3`, `.5`, `1_000`, a leading `0` means octal, `Inf`, `NaN`).
//! * `eval_fail`, `eval_warn`, `eval_info` and `eval_ordered` are the
//!   deprecated forms of `expect fail|warn|info|ordered`, and
//!   `expected_fail_message`/`expected_fail_regexp` of `expect fail
//!   msg:`/`regex:`.
//!
//! Prometheus also checks at parse time that each query parses; Vigil's
//! parser is still growing, so here a query that does not parse is a query
//! failure at run time (and passes an `expect fail` whose message matches).
//! Start-timestamp (`@st`) lines, which none of the shipped scripts use, are
//! refused with an error.
//!
//! # Native histograms
//!
//! Vigil has float samples only, so native histograms are skipped, by this
//! rule:
//!
//! * A histogram literal (`{{…}}`) in a `load` line is parsed (so the float
//!   samples after it keep their timestamps) but not loaded; the float
//!   samples of the same series are loaded. A series with any histogram
//!   sample is a *histogram series*.
//! * `load_with_nhcb` loads its float series as `load` does; the native
//!   histograms with custom buckets it would derive from `_bucket`, `_count`
//!   and `_sum` series are not built, and those derived series (the base
//!   name, without `le`) are histogram series.
//! * An `eval` is skipped (reason "native histograms") when its expected
//!   output contains a histogram literal, or when its query may read a
//!   histogram series loaded since the last `clear`: one of its selectors
//!   matches the series' labels or, while Vigil's parser cannot parse the
//!   query, the query mentions the series' metric name as a whole word.
//!   See [`Script::histogram_series_by_eval`] and [`Eval::reads_any`].
//!
//! Everything else in such a file runs: float series loaded beside
//! histograms are still checked by the evals that read only them.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use vigil_shared::model::{Labels, METRIC_NAME};
use vigil_shared::promql::{AtModifier, Expr, VectorSelector};

use crate::tsdb::{STALE_NAN_BITS, Sample};

/// Relative tolerance for sample values (`test.go`'s `defaultEpsilon`).
pub const DEFAULT_EPSILON: f64 = 0.000001;

/// A malformed script: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// A parsed script: its commands in order.
#[derive(Debug, Clone)]
pub struct Script {
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone)]
pub enum Command {
    Load(Load),
    Clear { line: usize },
    Eval(Box<Eval>),
}

/// `load <interval>` (or `load_with_nhcb`) and its series.
#[derive(Debug, Clone)]
pub struct Load {
    pub line: usize,
    pub interval_ms: i64,
    pub with_nhcb: bool,
    /// One entry per distinct label set; a later line for the same labels
    /// replaces an earlier one, as in Prometheus.
    pub series: Vec<LoadSeries>,
}

#[derive(Debug, Clone)]
pub struct LoadSeries {
    pub line: usize,
    pub labels: Labels,
    pub values: Vec<SequenceValue>,
}

/// One position of a series-values sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SequenceValue {
    /// `_`: no sample at this position.
    Omitted,
    /// A float; `stale` is the staleness-marker NaN.
    Float(f64),
    /// A native-histogram literal, kept as written (`{{…}}`); never loaded.
    Histogram(String),
}

impl SequenceValue {
    pub fn is_histogram(&self) -> bool {
        matches!(self, SequenceValue::Histogram(_))
    }
}

impl fmt::Display for SequenceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceValue::Omitted => f.write_str("_"),
            SequenceValue::Float(v) => f.write_str(&format_float(*v)),
            SequenceValue::Histogram(h) => f.write_str(h),
        }
    }
}

/// Formats a float as the scripts write it (`stale`, `NaN`, `Inf`, `-Inf`).
pub fn format_float(v: f64) -> String {
    if v.to_bits() == STALE_NAN_BITS {
        "stale".to_owned()
    } else if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        format!("{v}")
    }
}

impl Load {
    /// The float samples of each series, at `interval_ms` steps from 0
    /// (histogram positions are left out).
    pub fn float_samples(&self) -> impl Iterator<Item = (&Labels, Vec<Sample>)> {
        self.series.iter().map(move |s| {
            let samples = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    SequenceValue::Float(value) => {
                        Some(Sample { timestamp_ms: i as i64 * self.interval_ms, value: *value })
                    }
                    _ => None,
                })
                .collect();
            (&s.labels, samples)
        })
    }

    /// The label sets of the histogram series this load creates: series with
    /// a histogram literal, and with `load_with_nhcb` the series it would
    /// derive from classic histograms.
    pub fn histogram_series(&self) -> Vec<Labels> {
        let mut out: Vec<Labels> = Vec::new();
        for s in &self.series {
            if s.values.iter().any(SequenceValue::is_histogram) {
                push_unique(&mut out, s.labels.clone());
            }
            if self.with_nhcb
                && let Some(derived) = nhcb_series(&s.labels)
            {
                push_unique(&mut out, derived);
            }
        }
        out
    }
}

fn push_unique(out: &mut Vec<Labels>, labels: Labels) {
    if !out.contains(&labels) {
        out.push(labels);
    }
}

/// The native-histogram series `load_with_nhcb` derives from a classic
/// histogram's series (`x_bucket{le=…}`, `x_count`, `x_sum` → `x`).
fn nhcb_series(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?;
    let base = if let Some(base) = name.strip_suffix("_bucket") {
        labels.get("le")?;
        base
    } else {
        name.strip_suffix("_count").or_else(|| name.strip_suffix("_sum"))?
    };
    Some(Labels::from_pairs(
        labels
            .iter()
            .filter(|l| l.name != "le" && l.name != METRIC_NAME)
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .chain([(METRIC_NAME, base)]),
    ))
}

/// How an `expect` line (or deprecated form) matches a message.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// `msg:`: the whole message.
    Message(String),
    /// `regex:` (unanchored, as Go's `MatchString`), or `^.*$` when neither
    /// was given.
    Pattern(Regex),
}

impl TextMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Message(m) => m == text,
            TextMatch::Pattern(re) => re.is_match(text),
        }
    }

    fn any() -> TextMatch {
        TextMatch::Pattern(Regex::new("^.*$").expect("valid regex"))
    }

    /// "message" or "pattern", for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            TextMatch::Message(_) => "message",
            TextMatch::Pattern(_) => "pattern",
        }
    }
}

impl fmt::Display for TextMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextMatch::Message(m) => f.write_str(m),
            TextMatch::Pattern(re) => f.write_str(re.as_str()),
        }
    }
}

/// The kind of an `expect` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExpectKind {
    Ordered,
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

impl ExpectKind {
    fn from_name(name: &str) -> Option<ExpectKind> {
        Some(match name {
            "ordered" => ExpectKind::Ordered,
            "fail" => ExpectKind::Fail,
            "warn" => ExpectKind::Warn,
            "no_warn" => ExpectKind::NoWarn,
            "info" => ExpectKind::Info,
            "no_info" => ExpectKind::NoInfo,
            _ => return None,
        })
    }
}

/// One expected series of an `eval`.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    /// 1-based position among the result lines (for `expect ordered`).
    pub pos: usize,
    pub labels: Labels,
    pub values: Vec<SequenceValue>,
}

/// An `eval instant` or `eval range` command and its expectations.
#[derive(Debug, Clone)]
pub struct Eval {
    /// 1-based line of the `eval`.
    pub line: usize,
    /// The `eval` line as written.
    pub header: String,
    /// The query text.
    pub expr: String,
    pub is_range: bool,
    /// Range queries: the range. Instant queries with `expect range vector`:
    /// the timestamps of the expected samples.
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    /// Instant queries: the evaluation time.
    pub eval_ms: i64,
    /// The deprecated `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered`.
    pub legacy_fail: bool,
    pub legacy_warn: bool,
    pub legacy_info: bool,
    pub legacy_ordered: bool,
    pub expected_fail_message: Option<String>,
    pub expected_fail_regexp: Option<Regex>,
    pub expects: BTreeMap<ExpectKind, Vec<TextMatch>>,
    /// Expected series, in the order written (a repeated label set replaces
    /// the earlier line).
    pub series: Vec<ExpectedSeries>,
    /// A scalar result line.
    pub scalar: Option<f64>,
    /// `expect string "…"`; Prometheus compares string results with this
    /// even when no `expect string` line was given (then it is empty).
    pub expected_string: String,
    /// `expect range vector` was given.
    pub expect_range_vector: bool,
    /// The instant query is not re-run as a range query (`expect range
    /// vector` and `expect string`).
    pub exclude_from_range_query: bool,
}

impl Eval {
    fn new(line: usize, header: &str, expr: &str) -> Eval {
        Eval {
            line,
            header: header.to_owned(),
            expr: expr.to_owned(),
            is_range: false,
            start_ms: 0,
            end_ms: 0,
            step_ms: 0,
            eval_ms: 0,
            legacy_fail: false,
            legacy_warn: false,
            legacy_info: false,
            legacy_ordered: false,
            expected_fail_message: None,
            expected_fail_regexp: None,
            expects: BTreeMap::new(),
            series: Vec::new(),
            scalar: None,
            expected_string: String::new(),
            expect_range_vector: false,
            exclude_from_range_query: false,
        }
    }

    pub fn expects(&self, kind: ExpectKind) -> &[TextMatch] {
        self.expects.get(&kind).map_or(&[], Vec::as_slice)
    }

    pub fn is_ordered(&self) -> bool {
        self.legacy_ordered || !self.expects(ExpectKind::Ordered).is_empty()
    }

    pub fn is_fail(&self) -> bool {
        self.legacy_fail || !self.expects(ExpectKind::Fail).is_empty()
    }

    /// Whether the expected output contains a native-histogram literal.
    pub fn expects_histograms(&self) -> bool {
        self.series.iter().any(|s| s.values.iter().any(SequenceValue::is_histogram))
    }

    /// Whether the query may read any of `series`: one of the selectors of
    /// `parsed` (the query, when it parses) matches one's labels or, when
    /// it does not parse, the query names one's metric as a whole word.
    pub fn reads_any(&self, parsed: Option<&Expr>, series: &[Labels]) -> bool {
        series.iter().any(|labels| match parsed {
            Some(expr) => any_selector_matches(expr, labels),
            None => labels.metric_name().is_some_and(|name| contains_word(&self.expr, name)),
        })
    }

    /// Checks a query error against `expect fail` (test.go's
    /// `checkExpectedFailure`): `None` when it is the expected failure.
    pub fn check_expected_failure(&self, error: &str) -> Option<String> {
        if let Some(want) = &self.expected_fail_message
            && want != error
        {
            return Some(format!("expected error {want:?}, but got: {error}"));
        }
        if let Some(re) = &self.expected_fail_regexp
            && !re.is_match(error)
        {
            return Some(format!("expected error matching pattern {:?}, but got: {error}", re.as_str()));
        }
        if let Some(first) = self.expects(ExpectKind::Fail).first()
            && !first.matches(error)
        {
            return Some(format!("expected error matching {:?}, but got: {error}", first.to_string()));
        }
        None
    }

    /// Checks rendered annotations against the `expect warn|info|no_warn|
    /// no_info` lines and deprecated flags (test.go's `checkAnnotations`).
    pub fn check_annotations(&self, warnings: &[String], infos: &[String]) -> Result<(), String> {
        if self.legacy_warn && warnings.is_empty() {
            return Err("expected warnings but got none".to_owned());
        }
        if self.legacy_info && infos.is_empty() {
            return Err("expected info annotations but got none".to_owned());
        }
        check_annotations_of_kind(self.expects(ExpectKind::Warn), warnings, "warn")?;
        check_annotations_of_kind(self.expects(ExpectKind::Info), infos, "info")?;
        if self.expects.contains_key(&ExpectKind::NoWarn) && !warnings.is_empty() {
            return Err(format!("unexpected warning annotations: {warnings:?}"));
        }
        if self.expects.contains_key(&ExpectKind::NoInfo) && !infos.is_empty() {
            return Err(format!("unexpected info annotations: {infos:?}"));
        }
        Ok(())
    }

    /// The expected output, in script notation, for failure reports.
    pub fn describe_expected(&self) -> String {
        let mut out = String::new();
        if self.is_fail() {
            out.push_str("an error");
            if let Some(m) = &self.expected_fail_message {
                out.push_str(&format!(" {m:?}"));
            }
            if let Some(re) = &self.expected_fail_regexp {
                out.push_str(&format!(" matching /{}/", re.as_str()));
            }
            if let Some(m) = self.expects(ExpectKind::Fail).first() {
                out.push_str(&format!(" matching {} {:?}", m.kind(), m.to_string()));
            }
            return out;
        }
        if let Some(v) = self.scalar {
            return format!("scalar {}", format_float(v));
        }
        if self.exclude_from_range_query && !self.expect_range_vector {
            return format!("string {:?}", self.expected_string);
        }
        if self.series.is_empty() {
            return "(empty result)".to_owned();
        }
        for (i, s) in self.series.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&s.labels.to_string());
            for v in &s.values {
                out.push(' ');
                out.push_str(&v.to_string());
            }
        }
        out
    }
}

fn check_annotations_of_kind(expected: &[TextMatch], actual: &[String], kind: &str) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!("expected {kind} annotations but none were found"));
    }
    for e in expected {
        if !actual.iter().any(|a| e.matches(a)) {
            return Err(format!(
                "expected {kind} annotation matching {} {:?} but no matching annotation was found, found: {actual:?}",
                e.kind(),
                e.to_string()
            ));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.matches(a)) {
            return Err(format!("unexpected {kind} annotation {a:?}"));
        }
    }
    Ok(())
}

impl Script {
    /// For each `eval` (by its line), the histogram series loaded since the
    /// last `clear` before it.
    pub fn histogram_series_by_eval(&self) -> BTreeMap<usize, Vec<Labels>> {
        let mut current: Vec<Labels> = Vec::new();
        let mut out = BTreeMap::new();
        for command in &self.commands {
            match command {
                Command::Clear { .. } => current.clear(),
                Command::Load(load) => {
                    for labels in load.histogram_series() {
                        push_unique(&mut current, labels);
                    }
                }
                Command::Eval(eval) => {
                    out.insert(eval.line, current.clone());
                }
            }
        }
        out
    }

    /// The `eval` commands.
    pub fn evals(&self) -> impl Iterator<Item = &Eval> {
        self.commands.iter().filter_map(|c| match c {
            Command::Eval(e) => Some(&**e),
            _ => None,
        })
    }
}

/// Whether `word` occurs in `text` not preceded or followed by an
/// identifier character.
fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(is_ident)
            && !text[i + word.len()..].chars().next().is_some_and(is_ident)
    })
}

fn any_selector_matches(expr: &Expr, labels: &Labels) -> bool {
    let selector_matches = |s: &VectorSelector| s.matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")));
    match expr {
        Expr::NumberLiteral { .. } | Expr::StringLiteral { .. } => false,
        Expr::VectorSelector(s) => selector_matches(s),
        Expr::MatrixSelector(m) => selector_matches(&m.selector),
        Expr::Subquery(s) => any_selector_matches(&s.expr, labels),
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => any_selector_matches(expr, labels),
        Expr::Binary(b) => any_selector_matches(&b.lhs, labels) || any_selector_matches(&b.rhs, labels),
        Expr::Aggregate(a) => {
            any_selector_matches(&a.expr, labels) || a.param.as_deref().is_some_and(|p| any_selector_matches(p, labels))
        }
        Expr::Call(c) => c.args.iter().any(|a| any_selector_matches(a, labels)),
    }
}

// ---------------------------------------------------------------------------
// Parsing commands.

/// Parses a whole script. `file` only labels errors.
pub fn parse(file: &str, input: &str) -> Result<Script, ScriptError> {
    let err = |line: usize, message: String| ScriptError { file: file.to_owned(), line: line + 1, message };
    // test.go's getLines: trimmed, comment lines blanked.
    let lines: Vec<&str> = input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { "" } else { l }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line.split([' ', '\t']).next().unwrap_or("").to_lowercase();
        let (next, command) = if word == "clear" {
            (i, Command::Clear { line: i + 1 })
        } else if word.starts_with("load") {
            let (next, load) = parse_load(&lines, i).map_err(|(line, m)| err(line, m))?;
            (next, Command::Load(load))
        } else if word.starts_with("eval") {
            let (next, eval) = parse_eval(&lines, i).map_err(|(line, m)| err(line, m))?;
            (next, Command::Eval(Box::new(eval)))
        } else {
            return Err(err(i, format!("invalid command {line:?}")));
        };
        commands.push(command);
        i = next + 1;
    }
    Ok(Script { commands })
}

/// An error at a 0-based line index.
type LineError = (usize, String);

struct Patterns {
    load: Regex,
    eval_instant: Regex,
    eval_range: Regex,
    expect: Regex,
    expect_range: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| Patterns {
        load: Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").expect("valid regex"),
        eval_instant: Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
            .expect("valid regex"),
        eval_range: Regex::new(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
            .expect("valid regex"),
        expect: Regex::new(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
            .expect("valid regex"),
        expect_range: Regex::new(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
            .expect("valid regex"),
    })
}

fn parse_load(lines: &[&str], mut i: usize) -> Result<(usize, Load), LineError> {
    let Some(caps) = patterns().load.captures(lines[i]) else {
        return Err((i, "invalid load command. (load[_with_nhcb] <step:duration>)".to_owned()));
    };
    let step = &caps[2];
    let interval_ms = parse_duration(step).map_err(|e| (i, format!("invalid step definition {step:?}: {e}")))?;
    let mut load = Load { line: i + 1, interval_ms, with_nhcb: caps.get(1).is_some(), series: Vec::new() };
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        let line = lines[i];
        if line.split([' ', '\t']).next().is_some_and(|first| first.ends_with("@st")) {
            return Err((i, "start-timestamp (@st) lines are not supported by Vigil's harness".to_owned()));
        }
        let (labels, values) = parse_series(line).map_err(|e| (i, e))?;
        let series = LoadSeries { line: i + 1, labels, values };
        match load.series.iter_mut().find(|s| s.labels == series.labels) {
            Some(existing) => *existing = series,
            None => load.series.push(series),
        }
    }
    Ok((i, load))
}

fn parse_eval(lines: &[&str], mut i: usize) -> Result<(usize, Eval), LineError> {
    let header = lines[i];
    let p = patterns();
    let instant = p.eval_instant.captures(header);
    let range = p.eval_range.captures(header);
    let (modifier, expr) = match (&instant, &range) {
        (Some(c), _) => (c.get(1).map(|m| m.as_str()), c.get(3).map_or("", |m| m.as_str())),
        (None, Some(c)) => (c.get(1).map(|m| m.as_str()), c.get(5).map_or("", |m| m.as_str())),
        (None, None) => {
            return Err((
                i,
                "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant [at <offset:duration>] \
                 <query>' or 'eval[_fail|_warn] range from <from> to <to> step <step> <query>'"
                    .to_owned(),
            ));
        }
    };
    let line = i + 1;
    let format_err = |i: usize, message: String| (i, format!("error in eval {expr} (line {line}): {message}"));
    let mut eval = Eval::new(line, header, expr);
    if let Some(c) = &instant {
        let at = c.get(2).map_or("", |m| m.as_str());
        eval.eval_ms =
            parse_duration(at).map_err(|e| format_err(i, format!("invalid timestamp definition {at:?}: {e}")))?;
        eval.start_ms = eval.eval_ms;
    } else if let Some(c) = &range {
        let (start, end, step) = parse_durations(&c[2], &c[3], &c[4]).map_err(|e| format_err(i, e))?;
        eval.is_range = true;
        (eval.start_ms, eval.end_ms, eval.step_ms) = (start, end, step);
    }
    match modifier {
        Some("ordered") => eval.legacy_ordered = true,
        Some("fail") => eval.legacy_fail = true,
        Some("warn") => eval.legacy_warn = true,
        Some("info") => eval.legacy_info = true,
        _ => {}
    }

    // The position of the next result line; `expect <kind>` lines do not
    // count (test.go's `j`).
    let mut pos = 1;
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        let def = lines[i];
        if eval.legacy_fail
            && let Some(rest) = def.strip_prefix("expected_fail_message")
        {
            eval.expected_fail_message = Some(rest.trim().to_owned());
            break;
        }
        if eval.legacy_fail
            && let Some(rest) = def.strip_prefix("expected_fail_regexp")
        {
            let pattern = rest.trim();
            let re = Regex::new(pattern)
                .map_err(|e| format_err(i, format!("invalid regexp '{pattern}' for expected_fail_regexp: {e}")))?;
            eval.expected_fail_regexp = Some(re);
            break;
        }
        if def.starts_with("expect range vector") {
            let Some(c) = p.expect_range.captures(def) else {
                return Err(format_err(i, format!("invalid range vector definition {def:?}")));
            };
            let (start, end, step) = parse_durations(&c[1], &c[2], &c[3]).map_err(|e| format_err(i, e))?;
            eval.expect_range_vector = true;
            (eval.start_ms, eval.end_ms, eval.step_ms) = (start, end, step);
            eval.eval_ms = end;
            eval.exclude_from_range_query = true;
            pos += 1;
            continue;
        }
        if def.starts_with("expect string") {
            eval.expected_string = parse_expect_string(def).map_err(|e| format_err(i, e))?;
            eval.exclude_from_range_query = true;
            pos += 1;
            continue;
        }
        // A metric named `expect` must be written `expect{}`.
        if def.split(' ').next() == Some("expect") {
            let (kind, matcher) = parse_expect(def).map_err(|e| format_err(i, e))?;
            eval.expects.entry(kind).or_default().push(matcher);
            validate_expects(&eval).map_err(|e| format_err(i, e))?;
            continue;
        }
        if let Some(v) = parse_go_number(def) {
            // A scalar result ends the block, as in test.go.
            eval.scalar = Some(v);
            break;
        }
        let (labels, values) = parse_series(def).map_err(|e| (i, e))?;
        if values.len() > 1 && !eval.is_range && !eval.expect_range_vector {
            return Err(format_err(
                i,
                "expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' \
                 directive to enable a range vector result for an instant query"
                    .to_owned(),
            ));
        }
        let series = ExpectedSeries { pos, labels, values };
        match eval.series.iter_mut().find(|s| s.labels == series.labels) {
            Some(existing) => *existing = series,
            None => eval.series.push(series),
        }
        pos += 1;
    }
    Ok((i, eval))
}

fn parse_durations(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start = parse_duration(from).map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let end = parse_duration(to).map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if end < start {
        return Err(format!("invalid test definition, end timestamp ({to}) is before start timestamp ({from})"));
    }
    let step = parse_duration(step).map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((start, end, step))
}

fn parse_expect(line: &str) -> Result<(ExpectKind, TextMatch), String> {
    let Some(c) = patterns().expect.captures(line.trim()) else {
        return Err("invalid expect statement, must match `expect <type> <match_type>: <string>` format".to_owned());
    };
    let kind =
        ExpectKind::from_name(&c[1]).ok_or_else(|| format!("invalid expected error/annotation type {}", &c[1]))?;
    let matcher = match c.get(2).map(|m| m.as_str()) {
        None => TextMatch::any(),
        Some("msg") => TextMatch::Message(c[3].trim().to_owned()),
        Some(_) => {
            let pattern = c[3].trim();
            TextMatch::Pattern(Regex::new(pattern).map_err(|_| format!("invalid regex {pattern} for {}", &c[1]))?)
        }
    };
    Ok((kind, matcher))
}

fn validate_expects(eval: &Eval) -> Result<(), String> {
    let has = |k| eval.expects.contains_key(&k);
    if has(ExpectKind::Info) && has(ExpectKind::NoInfo) {
        return Err("invalid expect lines, info and no_info cannot be used together".to_owned());
    }
    if has(ExpectKind::Warn) && has(ExpectKind::NoWarn) {
        return Err("invalid expect lines, warn and no_warn cannot be used together".to_owned());
    }
    if eval.expects(ExpectKind::Fail).len() > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".to_owned());
    }
    Ok(())
}

fn parse_expect_string(line: &str) -> Result<String, String> {
    let invalid = "expected string literal not valid - a quoted string literal is required";
    let text = line.strip_prefix("expect string ").ok_or(invalid)?;
    if text.is_empty() {
        return Err(invalid.to_owned());
    }
    let unquoted = || -> Option<String> {
        let first = text.chars().next()?;
        if !matches!(first, '"' | '`') || text.len() < 2 || !text.ends_with(first) {
            return None;
        }
        let body = &text[1..text.len() - 1];
        if first == '`' && body.contains('`') {
            return None;
        }
        vigil_shared::promql::lexer::unquote(text).ok()
    };
    unquoted().ok_or_else(|| "expected string literal not valid - check that the string is correctly quoted".to_owned())
}

// ---------------------------------------------------------------------------
// Durations and numbers.

/// A Prometheus duration (`model.ParseDuration`): `0`, or units from `y`
/// down to `ms`, each at most once and in that order. Milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    match text {
        "0" => return Ok(0),
        "" => return Err("empty duration string".to_owned()),
        _ => {}
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {text:?}");
    let mut rest = text;
    let mut total: i64 = 0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| "duration out of range".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let index = UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(|| format!("unknown unit {unit:?} in duration {text:?}"))?;
        if last_unit.is_some_and(|last| index <= last) {
            return Err(invalid());
        }
        last_unit = Some(index);
        total = n.checked_mul(UNITS[index].1).and_then(|v| total.checked_add(v)).ok_or("duration out of range")?;
    }
    Ok(total)
}

/// A number as Go's `strconv.ParseInt(s, 0, 64)` and then `ParseFloat`
/// read it, which is how Prometheus reads numbers in scripts: signs,
/// `0x`/`0o`/`0b` prefixes, a leading `0` for octal, `_` between digits,
/// `Inf`, `NaN`.
pub fn parse_go_number(text: &str) -> Option<f64> {
    parse_go_int(text).map(|n| n as f64).or_else(|| parse_go_float(text))
}

fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b.strip_prefix('_').unwrap_or(b))
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b.strip_prefix('_').unwrap_or(b))
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.strip_prefix('_').unwrap_or(b))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].strip_prefix('_').unwrap_or(&lower[1..]))
    } else {
        (10, lower.as_str())
    };
    // Underscores only between digits.
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 { Some((magnitude as i128).wrapping_neg() as i64) } else { None }
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn parse_go_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let lower = unsigned.to_ascii_lowercase();
    // Go accepts "inf", "infinity" and "nan" in any case; Rust also accepts
    // those, but not underscores or hex floats, which Go allows only with a
    // base prefix and Prometheus's lexer never produces in series values.
    if lower == "inf"
        || lower == "infinity"
        || lower == "nan"
        || unsigned.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b))
    {
        text.parse().ok()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Series descriptions: `metric{label="value"} <values>`.

/// Parses a series line of a `load` or an expected result.
pub fn parse_series(line: &str) -> Result<(Labels, Vec<SequenceValue>), String> {
    let mut cursor = Cursor { text: line, pos: 0 };
    let labels = cursor.metric()?;
    let mut values = Vec::new();
    loop {
        let before = cursor.pos;
        cursor.skip_space();
        if cursor.at_end() {
            break;
        }
        if cursor.pos == before {
            return Err(cursor.error("expected a space before the series values"));
        }
        cursor.item(&mut values)?;
    }
    Ok((labels, values))
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_alphanumeric(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.pos += 1;
        }
    }

    fn error(&self, message: &str) -> String {
        let col = self.text[..self.pos].chars().count() + 1;
        match self.peek() {
            Some(c) => format!("{message} at column {col} (found {c:?}) in {:?}", self.text),
            None => format!("{message} at column {col} (end of line) in {:?}", self.text),
        }
    }

    /// `[A-Za-z_:][A-Za-z0-9_:]*` (`colon`) or `[A-Za-z_][A-Za-z0-9_]*`.
    fn identifier(&mut self, colon: bool) -> Option<&str> {
        let start = self.pos;
        let ok_first = |c: char| is_ident_start(c) || (colon && c == ':');
        if !self.peek().is_some_and(ok_first) {
            return None;
        }
        while self.peek().is_some_and(|c| is_alphanumeric(c) || (colon && c == ':')) {
            self.pos += 1;
        }
        Some(&self.text[start..self.pos])
    }

    fn string(&mut self) -> Result<Option<String>, String> {
        let Some(quote @ ('"' | '\'' | '`')) = self.peek() else {
            return Ok(None);
        };
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted string")),
                Some('\\') if quote != '`' => {
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        self.pos += c.len_utf8();
                    }
                }
                Some(c) => {
                    self.pos += c.len_utf8();
                    if c == quote {
                        break;
                    }
                }
            }
        }
        vigil_shared::promql::lexer::unquote(&self.text[start..self.pos]).map(Some).map_err(|e| self.error(&e))
    }

    /// `name`, `name{…}` or `{…}`.
    fn metric(&mut self) -> Result<Labels, String> {
        let name = self.identifier(true).map(str::to_owned);
        let mut pairs: Vec<(String, String)> = Vec::new();
        if self.eat('{') {
            loop {
                self.skip_space();
                if self.eat('}') {
                    break;
                }
                let label = match self.identifier(false) {
                    Some(ident) => Some(ident.to_owned()),
                    None => match self.string()? {
                        Some(quoted) => {
                            self.skip_space();
                            if !self.rest().starts_with('=') {
                                // `{"name"}` sets the metric name.
                                pairs.push((METRIC_NAME.to_owned(), quoted));
                                None
                            } else {
                                Some(quoted)
                            }
                        }
                        None => return Err(self.error("expected a label name or \"}\" in label set")),
                    },
                };
                if let Some(label) = label {
                    self.skip_space();
                    if !self.eat('=') {
                        return Err(self.error("expected \"=\" in label set"));
                    }
                    self.skip_space();
                    let value = self.string()?.ok_or_else(|| self.error("expected a quoted label value"))?;
                    pairs.push((label, value));
                }
                self.skip_space();
                if self.eat('}') {
                    break;
                }
                if !self.eat(',') {
                    return Err(self.error("expected \",\" or \"}\" in label set"));
                }
            }
        } else if name.is_none() {
            return Err(self.error("expected a metric name or label set"));
        }
        if let Some(name) = name {
            pairs.push((METRIC_NAME.to_owned(), name));
        }
        Ok(Labels::from_pairs(pairs))
    }

    /// A Prometheus number token in series values (decimal only, as the
    /// lexer's `scanNumber` in series-description mode), then its value.
    fn number_token(&mut self) -> Result<Option<f64>, String> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let at = |p: usize| bytes.get(p).copied();
        if let Some(word) = self.peek().filter(|&c| is_ident_start(c)).and_then(|_| {
            let mut end = self.pos;
            while at(end).is_some_and(|b| is_alphanumeric(b as char) || b == b':') {
                end += 1;
            }
            let word = &self.text[self.pos..end];
            (word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan")).then_some(end)
        }) {
            let text = &self.text[start..word];
            self.pos = word;
            return Ok(parse_go_number(text));
        }
        let starts = at(self.pos).is_some_and(|b| b.is_ascii_digit())
            || (at(self.pos) == Some(b'.') && at(self.pos + 1).is_some_and(|b| b.is_ascii_digit()));
        if !starts {
            return Ok(None);
        }
        let mut p = self.pos;
        let bad = |p: usize| -> Result<Option<f64>, String> {
            let c = Cursor { text: self.text, pos: p.min(self.text.len()) };
            Err(c.error(&format!("bad number syntax {:?}", &self.text[start..p.min(self.text.len())])))
        };
        if at(p) == Some(b'.') {
            p += 1;
        }
        if at(p).is_some_and(|b| b.is_ascii_digit()) {
            p += 1;
        }
        let (mut dot, mut exponent) = (false, false);
        while let Some(b) = at(p).filter(|b| b.is_ascii_digit() || b"._eE".contains(b)) {
            match b {
                b'.' if dot => return bad(p + 1),
                b'e' | b'E' if exponent => return bad(p + 1),
                b'.' => {
                    dot = true;
                    p += 1;
                    if at(p).is_some_and(|b| b"_.".contains(&b)) {
                        return bad(p + 1);
                    }
                }
                b'e' | b'E' => {
                    exponent = true;
                    p += 1;
                    if at(p).is_some_and(|b| b"+-".contains(&b)) {
                        p += 1;
                    }
                    if at(p).is_none_or(|b| b"._eE".contains(&b)) {
                        return bad(p + 1);
                    }
                }
                b'_' => {
                    p += 1;
                    if at(p).is_none_or(|b| b"._eE".contains(&b)) {
                        return bad(p + 1);
                    }
                }
                _ => {
                    while at(p).is_some_and(|b| b.is_ascii_digit()) {
                        p += 1;
                    }
                }
            }
        }
        if at(p).is_some_and(|b| b != b'x' && is_alphanumeric(b as char)) {
            return bad(p + 1);
        }
        self.pos = p;
        match parse_go_number(&self.text[start..p]) {
            Some(v) => Ok(Some(v)),
            None => bad(p),
        }
    }

    /// `[+-]number` or `number`.
    fn signed_number(&mut self) -> Result<Option<f64>, String> {
        let sign = if self.eat('-') {
            -1.0
        } else if self.eat('+') {
            1.0
        } else {
            return self.number_token();
        };
        match self.number_token()? {
            Some(v) => Ok(Some(sign * v)),
            None => Err(self.error("expected a number after the sign")),
        }
    }

    /// `x<uint>` after a value, if present.
    fn times(&mut self) -> Result<Option<u64>, String> {
        if !self.eat('x') {
            return Ok(None);
        }
        let start = self.pos;
        while self.peek().is_some_and(is_alphanumeric) || self.peek() == Some('.') {
            self.pos += 1;
        }
        let text = &self.text[start..self.pos];
        text.parse::<u64>().map(Some).map_err(|_| {
            let c = Cursor { text: self.text, pos: start };
            c.error(&format!("invalid repetition in series values {text:?}"))
        })
    }

    fn histogram(&mut self) -> Result<Option<String>, String> {
        if !self.rest().starts_with("{{") {
            return Ok(None);
        }
        let Some(end) = self.rest().find("}}") else {
            return Err(self.error("unterminated histogram literal"));
        };
        let literal = self.rest()[..end + 2].to_owned();
        self.pos += end + 2;
        Ok(Some(literal))
    }

    /// One item of the values, appended to `out`.
    fn item(&mut self, out: &mut Vec<SequenceValue>) -> Result<(), String> {
        let repeat_limit = |n: u64| -> Result<usize, String> {
            usize::try_from(n).ok().filter(|&n| n <= 1_000_000).ok_or_else(|| format!("repetition {n} is too large"))
        };
        if self.eat('_') {
            let n = self.times()?.unwrap_or(1);
            out.extend(std::iter::repeat_n(SequenceValue::Omitted, repeat_limit(n)?));
        } else if let Some(h) = self.histogram()? {
            let n = if self.peek().is_some_and(|c| c == '+' || c == '-') {
                self.pos += 1;
                if self.histogram()?.is_none() {
                    return Err(self.error("expected a histogram literal"));
                }
                Some(self.times()?.ok_or_else(|| self.error("expected \"x<count>\" after the histogram increment"))?)
            } else {
                self.times()?
            };
            let count = match n {
                Some(n) => repeat_limit(n)? + 1,
                None => 1,
            };
            out.extend(std::iter::repeat_n(SequenceValue::Histogram(h), count));
        } else {
            let value = if self.rest().starts_with("stale")
                && !self.rest()[5..].starts_with(|c: char| is_alphanumeric(c) || c == ':')
            {
                self.pos += 5;
                f64::from_bits(STALE_NAN_BITS)
            } else {
                self.signed_number()?.ok_or_else(|| self.error("expected a number, \"stale\", \"_\" or a histogram"))?
            };
            if let Some(n) = self.times()? {
                out.extend(std::iter::repeat_n(SequenceValue::Float(value), repeat_limit(n)? + 1));
            } else if self.peek().is_some_and(|c| c == '+' || c == '-') {
                let step = self.signed_number()?.ok_or_else(|| self.error("expected a number"))?;
                let n = self.times()?.ok_or_else(|| self.error("expected \"x<count>\" after the increment"))?;
                let mut v = value;
                for _ in 0..=repeat_limit(n)? {
                    out.push(SequenceValue::Float(v));
                    v += step;
                }
            } else {
                out.push(SequenceValue::Float(value));
            }
        }
        if self.peek().is_some_and(|c| c != ' ' && c != '\t') {
            return Err(self.error("unexpected character in series values"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Comparison and the `@` variants.

/// Prometheus's `almost.Equal`, as the test scripts compare floats.
pub use super::functions::almost_equal;

/// Functions whose result can vary with the evaluation time even when their
/// arguments are step invariant (Prometheus's `AtModifierUnsafeFunctions`).
pub const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// test.go's `atModifierTestCases`: the query with `@ <eval time>` on every
/// selector and subquery that has no `@ <time>` (`@ start()`/`@ end()` are
/// replaced, as Prometheus's printer does; nothing inside a subquery that
/// has one is changed), and the extra evaluation times to run it at. `None`
/// when the query calls a function in [`AT_MODIFIER_UNSAFE_FUNCTIONS`]
/// outside such a subquery.
pub fn at_modifier_variants(expr: &Expr, eval_ms: i64) -> Option<(Expr, Vec<i64>)> {
    let mut expr = expr.clone();
    let mut unsafe_call = false;
    set_at(&mut expr, eval_ms, &mut unsafe_call);
    if unsafe_call {
        return None;
    }
    let times =
        if eval_ms == 0 { vec![-1000, 0, 1000] } else { vec![-10 * eval_ms, 0, eval_ms / 5, eval_ms, 10 * eval_ms] };
    Some((expr, times))
}

fn set_at(expr: &mut Expr, ts: i64, unsafe_call: &mut bool) {
    let fix = |at: &mut Option<AtModifier>| {
        if !matches!(at, Some(AtModifier::Timestamp(_))) {
            *at = Some(AtModifier::Timestamp(ts));
        }
    };
    match expr {
        Expr::NumberLiteral { .. } | Expr::StringLiteral { .. } => {}
        Expr::VectorSelector(s) => fix(&mut s.at),
        Expr::MatrixSelector(m) => fix(&mut m.selector.at),
        // Below a subquery with an `@` time nothing changes (and, as in
        // Prometheus, its calls are not checked).
        Expr::Subquery(s) => fix(&mut s.at),
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => set_at(expr, ts, unsafe_call),
        Expr::Binary(b) => {
            set_at(&mut b.lhs, ts, unsafe_call);
            set_at(&mut b.rhs, ts, unsafe_call);
        }
        Expr::Aggregate(a) => {
            if let Some(param) = &mut a.param {
                set_at(param, ts, unsafe_call);
            }
            set_at(&mut a.expr, ts, unsafe_call);
        }
        Expr::Call(c) => {
            *unsafe_call |= AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name);
            for arg in &mut c.args {
                set_at(arg, ts, unsafe_call);
            }
        }
    }
}

/// Whether the query uses `start()`, `end()`, `range()` or `step()`, whose
/// values differ between an instant query and a range query (test.go's
/// `reQueryContextFuncs`): such queries are not re-run as range queries.
pub fn uses_query_context_functions(query: &str) -> bool {
    ["start()", "end()", "range()", "step()"].iter().any(|f| query.contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::promql::{MatchOp, Matcher, Span, SubqueryExpr};

    fn floats(values: &[SequenceValue]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn series_values_expand() {
        let cases: &[(&str, &[&str])] = &[
            ("m 1 2 3", &["1", "2", "3"]),
            ("m 1+2x3", &["1", "3", "5", "7"]),
            ("m -1-2x3", &["-1", "-3", "-5", "-7"]),
            ("m 1-2x2", &["1", "-1", "-3"]),
            ("m 10+-0x0", &[]),
            ("m 5x2", &["5", "5", "5"]),
            ("m _ 1 _x3 2", &["_", "1", "_", "_", "_", "2"]),
            ("m stale 1 stale", &["stale", "1", "stale"]),
            ("m 1e3 .5 -2.5e-1 1_000 010 09", &["1000", "0.5", "-0.25", "1000", "8", "9"]),
            ("m Inf -Inf +Inf NaN nan inf", &["Inf", "-Inf", "Inf", "NaN", "NaN", "Inf"]),
            ("m Infx2", &[]),
            ("m 0.1+0.1x2", &["0.1", "0.2", "0.30000000000000004"]),
            (
                "m 1 {{schema:1 sum:3 count:22 buckets:[5 10 7]}} 2",
                &["1", "{{schema:1 sum:3 count:22 buckets:[5 10 7]}}", "2"],
            ),
            ("m {{count:1}}x2", &["{{count:1}}", "{{count:1}}", "{{count:1}}"]),
            ("m {{count:1}}+{{count:2}}x1 3", &["{{count:1}}", "{{count:1}}", "3"]),
            ("m", &[]),
            ("m  \t 4  ", &["4"]),
        ];
        for (line, want) in cases {
            match parse_series(line) {
                Ok((_, values)) => {
                    assert!(!want.is_empty() || values.is_empty(), "{line}: want error or nothing, got {values:?}");
                    assert_eq!(floats(&values), *want, "{line}");
                }
                Err(e) => assert!(want.is_empty(), "{line}: unexpected error {e}"),
            }
        }
        // Failures (the empty `want` above accepts either; these must fail).
        for line in ["m 10+-0x0", "m Infx2", "m 1-2", "m 5m", "m 1x", "m 1x1.5", "m foo", "m 1..2", "m 1e", "m {{a"] {
            assert!(parse_series(line).is_err(), "{line} should not parse");
        }
        let (_, stale) = parse_series("m stale").unwrap();
        assert!(matches!(stale[0], SequenceValue::Float(v) if v.to_bits() == STALE_NAN_BITS));
    }

    #[test]
    fn series_labels() {
        let cases: &[(&str, &str)] = &[
            ("metric 1", "metric"),
            ("metric{} 1", "metric"),
            ("{} 1", "{}"),
            (r#"metric{a="b", c='d',} 1"#, r#"metric{a="b", c="d"}"#),
            (r#"{__name__="x", job="j"} 1"#, r#"x{job="j"}"#),
            (r#"{"some.metric", "a.b"="c"} 1"#, r#"some.metric{a.b="c"}"#),
            (r#"m{a="q\"\n"} 1"#, r#"m{a="q\"\n"}"#),
            ("sum{a=`x\\y`}", r#"sum{a="x\\y"}"#),
            ("ns:metric:rate5m 1", "ns:metric:rate5m"),
        ];
        for (line, want) in cases {
            let (labels, _) = parse_series(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(labels.to_string(), *want, "{line}");
        }
        for line in ["m{a=b} 1", "m{a} 1", r#"m{a="b" 1"#, "1 2", r#"m{a="b"}1"#, r#"m{a="b}"#] {
            assert!(parse_series(line).is_err(), "{line} should not parse");
        }
    }

    #[test]
    fn durations_and_numbers() {
        let durations: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("0s", Some(0)),
            ("1m", Some(60_000)),
            ("1m30s", Some(90_000)),
            ("10s53ms", Some(10_053)),
            ("1111111s", Some(1_111_111_000)),
            ("1y2w", Some((365 + 14) * 86_400_000)),
            ("", None),
            ("5", None),
            ("30s1m", None),
            ("1m1m", None),
            ("1x", None),
            ("-1m", None),
        ];
        for (text, want) in durations {
            assert_eq!(parse_duration(text).ok(), *want, "{text:?}");
        }
        let numbers: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("-2.5", Some(-2.5)),
            ("0x10", Some(16.0)),
            ("010", Some(8.0)),
            ("1_000", Some(1000.0)),
            ("1e-3", Some(0.001)),
            ("+Inf", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("9223372036854775808", Some(9.223_372_036_854_776e18)),
            ("foo", None),
            ("1m", None),
            ("", None),
            ("1_", None),
        ];
        for (text, want) in numbers {
            assert_eq!(parse_go_number(text), *want, "{text:?}");
        }
        assert!(parse_go_number("NaN").unwrap().is_nan());
    }

    fn eval_of(script: &str) -> Eval {
        let parsed = parse("t.test", script).unwrap_or_else(|e| panic!("{e}"));
        parsed.evals().next().expect("an eval").clone()
    }

    #[test]
    fn eval_headers() {
        // (script, is_range, eval/start, end, step, expr)
        let cases: &[(&str, bool, i64, i64, i64, &str)] = &[
            ("eval instant at 50m sum(x)", false, 3_000_000, 0, 0, "sum(x)"),
            ("eval instant at 0 x", false, 0, 0, 0, "x"),
            ("eval range from 0 to 10m step 1m rate(x[5m])", true, 0, 600_000, 60_000, "rate(x[5m])"),
            (
                "eval range from 1m to 2m step 30s label_replace(x, \"to\", \"a\", \"b\", \"c\")",
                true,
                60_000,
                120_000,
                30_000,
                "label_replace(x, \"to\", \"a\", \"b\", \"c\")",
            ),
            ("eval_fail instant at 1m x", false, 60_000, 0, 0, "x"),
            ("eval_ordered instant at 1m x", false, 60_000, 0, 0, "x"),
        ];
        for (script, is_range, start, end, step, expr) in cases {
            let e = eval_of(script);
            assert_eq!(
                (e.is_range, e.start_ms, e.end_ms, e.step_ms, e.expr.as_str()),
                (*is_range, *start, *end, *step, *expr),
                "{script}"
            );
            if !e.is_range {
                assert_eq!(e.eval_ms, *start, "{script}");
            }
        }
        assert!(eval_of("eval_fail instant at 1m x").is_fail());
        assert!(eval_of("eval_ordered instant at 1m x").is_ordered());
        assert!(eval_of("eval_warn range from 0 to 1m step 1m x").legacy_warn);
    }

    #[test]
    fn expect_lines() {
        let e = eval_of(
            "eval instant at 1m x\n  expect warn msg: PromQL warning: boom (1:1)\n  expect info regex: foo.*bar\n  expect{} 1\n",
        );
        assert_eq!(e.expects(ExpectKind::Warn).len(), 1);
        assert!(e.expects(ExpectKind::Warn)[0].matches("PromQL warning: boom (1:1)"));
        assert!(!e.expects(ExpectKind::Warn)[0].matches("PromQL warning: boom"));
        assert!(e.expects(ExpectKind::Info)[0].matches("xx foo and bar"));
        assert_eq!(e.series.len(), 1);
        assert_eq!(e.series[0].pos, 1, "expect lines do not count as result positions");

        let e = eval_of("eval instant at 1m x\n  expect fail\n");
        assert!(e.is_fail());
        assert_eq!(e.check_expected_failure("anything"), None);
        let e = eval_of("eval instant at 1m x\n  expect fail msg:some error\n");
        assert_eq!(e.check_expected_failure("some error"), None);
        assert!(e.check_expected_failure("other error").is_some());
        let e = eval_of("eval_fail instant at 1m x\n  expected_fail_message boom\n");
        assert_eq!(e.expected_fail_message.as_deref(), Some("boom"));
        let e = eval_of("eval_fail instant at 1m x\n  expected_fail_regexp b.*m\n");
        assert_eq!(e.check_expected_failure("a boom"), None);

        let e = eval_of("eval instant at 1m x\n  expect ordered\n  a 1\n  b 2\n");
        assert!(e.is_ordered());
        assert_eq!(e.series.iter().map(|s| s.pos).collect::<Vec<_>>(), vec![1, 2]);

        let e = eval_of("eval instant at 1m \"a\"\n  expect string \"a b\"\n");
        assert_eq!(e.expected_string, "a b");
        assert!(e.exclude_from_range_query);
        let e = eval_of("eval instant at 1m \"a\"\n  expect string `x\\y`\n");
        assert_eq!(e.expected_string, "x\\y");

        let e = eval_of("eval instant at 1m x[1m]\n  expect range vector from 10s to 1m step 10s\n  x 1 2 3 4 5 6\n");
        assert!(e.expect_range_vector && e.exclude_from_range_query);
        assert_eq!((e.start_ms, e.end_ms, e.step_ms, e.eval_ms), (10_000, 60_000, 10_000, 60_000));
        assert_eq!(e.series[0].values.len(), 6);

        let e = eval_of("eval instant at 1m 1+1\n  2\n");
        assert_eq!(e.scalar, Some(2.0));

        // Annotations.
        let e = eval_of("eval instant at 1m x\n  expect warn\n");
        assert!(e.check_annotations(&["w".to_owned()], &[]).is_ok());
        assert!(e.check_annotations(&[], &[]).is_err());
        let e = eval_of("eval instant at 1m x\n  expect warn msg: a\n");
        assert!(e.check_annotations(&["a".to_owned(), "b".to_owned()], &[]).is_err(), "every warning must be expected");
        let e = eval_of("eval instant at 1m x\n  expect no_info\n");
        assert!(e.check_annotations(&["w".to_owned()], &[]).is_ok());
        assert!(e.check_annotations(&[], &["i".to_owned()]).is_err());
        let e = eval_of("eval instant at 1m x\n");
        assert!(e.check_annotations(&["w".to_owned()], &["i".to_owned()]).is_ok(), "no expectations: anything goes");
    }

    #[test]
    fn commands_and_loads() {
        let script = parse(
            "t.test",
            "# comment\nload 1m\n  a 1 2\n  a 3\n  b{x=\"y\"} 1 {{count:1}} 2\n\nload_with_nhcb 5m\n  h_bucket{le=\"1\"} 1\n  h_count 1\n  h_sum 1\n  other 1\n\neval instant at 0 a\n  a 3\n\nclear\neval instant at 0 a\n",
        )
        .unwrap();
        assert_eq!(script.commands.len(), 5);
        let Command::Load(load) = &script.commands[0] else { panic!("load expected") };
        assert_eq!((load.line, load.interval_ms, load.with_nhcb), (2, 60_000, false));
        assert_eq!(load.series.len(), 2, "a later line for the same series replaces the earlier one");
        let samples: Vec<(String, Vec<(i64, f64)>)> = load
            .float_samples()
            .map(|(l, s)| (l.to_string(), s.iter().map(|s| (s.timestamp_ms, s.value)).collect()))
            .collect();
        assert_eq!(
            samples,
            vec![("a".to_owned(), vec![(0, 3.0)]), ("b{x=\"y\"}".to_owned(), vec![(0, 1.0), (120_000, 2.0)])]
        );
        let histograms: Vec<String> = load.histogram_series().iter().map(|l| l.to_string()).collect();
        assert_eq!(histograms, vec!["b{x=\"y\"}"]);
        let Command::Load(nhcb) = &script.commands[1] else { panic!("load expected") };
        assert!(nhcb.with_nhcb);
        let histograms: Vec<String> = nhcb.histogram_series().iter().map(|l| l.to_string()).collect();
        assert_eq!(histograms, vec!["h"]);
        assert!(matches!(script.commands[3], Command::Clear { line: 16 }));
        let by_eval = script.histogram_series_by_eval();
        assert_eq!(by_eval[&13].len(), 2);
        assert!(by_eval[&17].is_empty(), "clear forgets histogram series");
        let first = script.evals().next().unwrap();
        assert_eq!(first.line, 13);
        assert!(first.reads_any(None, &[Labels::from_pairs([("__name__", "a")])]));
        assert!(!first.reads_any(None, &[Labels::from_pairs([("__name__", "ab")])]));
        let hist = Labels::from_pairs([("__name__", "a"), ("type", "h")]);
        let mut only_floats = selector("a");
        only_floats.matchers.push(Matcher::new(MatchOp::Equal, "type", "f").unwrap());
        assert!(first.reads_any(Some(&Expr::VectorSelector(selector("a"))), std::slice::from_ref(&hist)));
        assert!(!first.reads_any(Some(&Expr::VectorSelector(only_floats)), std::slice::from_ref(&hist)));
        let mut by_regex = selector("b");
        by_regex.matchers = vec![Matcher::new(MatchOp::Regex, METRIC_NAME, "a|b").unwrap()];
        assert!(first.reads_any(Some(&Expr::VectorSelector(by_regex)), &[hist]));
    }

    #[test]
    fn malformed_scripts_report_file_and_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("foo bar", 1, "invalid command"),
            ("\n\nload x\n  a 1", 3, "invalid step definition"),
            ("load\n", 1, "invalid load command"),
            ("load 1m\n  a 1\n  a{ 2\n", 3, "label"),
            ("load 1m\n  a 1 zz\n", 2, "expected a number"),
            ("eval instant at 1x x", 1, "invalid timestamp definition"),
            ("eval instant at 1m x\n  x 1 2", 2, "expecting multiple values"),
            ("eval range from 2m to 1m step 1m x", 1, "end timestamp (1m) is before start timestamp (2m)"),
            ("eval range from 0 to 1m step x x", 1, "invalid step definition"),
            ("eval foo", 1, "invalid evaluation command"),
            ("eval instant at 1m x\n  expect warn\n  expect no_warn", 3, "warn and no_warn cannot be used together"),
            ("eval instant at 1m x\n  expect fail\n  expect fail", 3, "multiple expect fail lines"),
            ("eval instant at 1m x\n  expect bogus", 2, "invalid expect statement"),
            ("eval instant at 1m x\n  expect fail regex: (", 2, "invalid regex"),
            ("eval instant at 1m x\n  expect string foo", 2, "correctly quoted"),
            ("eval instant at 1m x\n  expect range vector from 1m", 2, "invalid range vector definition"),
            ("load 1m\n  m@st 0s\n  m 1", 2, "@st"),
            ("eval instant at 1m x\n  1\n  x 1", 3, "invalid command"),
        ];
        for (script, line, want) in cases {
            let err = parse("bad.test", script).expect_err(script);
            assert_eq!(err.line, *line, "{script}: {err}");
            assert!(err.message.contains(want), "{script}: {err}");
            assert!(err.to_string().starts_with(&format!("bad.test:{line}: ")), "{err}");
        }
    }

    #[test]
    fn almost_equal_as_prometheus() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let cases: &[(f64, f64, bool)] = &[
            (1.0, 1.0, true),
            (1.0, 1.0 + 1e-7, true),
            (1.0, 1.0 + 1e-5, false),
            (0.0, 1e-300, false),
            (0.0, 0.0, true),
            (f64::NAN, f64::NAN, true),
            (stale, f64::NAN, false),
            (stale, stale, true),
            (f64::INFINITY, f64::INFINITY, true),
            (f64::INFINITY, f64::NEG_INFINITY, false),
            (f64::INFINITY, f64::MAX, false),
            (1e300, 1.0000001e300, true),
        ];
        for (a, b, want) in cases {
            assert_eq!(almost_equal(*a, *b, DEFAULT_EPSILON), *want, "{a} vs {b}");
        }
    }

    fn selector(name: &str) -> VectorSelector {
        VectorSelector {
            name: Some(name.to_owned()),
            matchers: vec![Matcher::new(MatchOp::Equal, METRIC_NAME, name).unwrap()],
            offset_ms: 0,
            at: None,
            span: Span::default(),
        }
    }

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call(vigil_shared::promql::Call {
            func: vigil_shared::promql::functions::lookup(name).expect("known function"),
            args,
            span: Span::default(),
        })
    }

    #[test]
    fn at_modifier_variants_as_prometheus() {
        let plain = Expr::VectorSelector(selector("x"));
        let (expr, times) = at_modifier_variants(&plain, 100_000).unwrap();
        assert_eq!(expr.to_string(), "x @ 100.000");
        assert_eq!(times, vec![-1_000_000, 0, 20_000, 100_000, 1_000_000]);
        assert_eq!(at_modifier_variants(&plain, 0).unwrap().1, vec![-1000, 0, 1000]);

        let mut fixed = selector("y");
        fixed.at = Some(AtModifier::Timestamp(5000));
        let mut start = selector("z");
        start.at = Some(AtModifier::Start);
        let sub = Expr::Subquery(SubqueryExpr {
            expr: Box::new(call("abs", vec![Expr::VectorSelector(selector("w"))])),
            range_ms: 60_000,
            step_ms: None,
            offset_ms: 0,
            at: None,
            span: Span::default(),
        });
        let expr = call(
            "max_over_time",
            vec![Expr::Binary(vigil_shared::promql::BinaryExpr {
                op: vigil_shared::promql::BinaryOp::Add,
                lhs: Box::new(Expr::VectorSelector(fixed)),
                rhs: Box::new(Expr::VectorSelector(start)),
                return_bool: false,
                matching: None,
                span: Span::default(),
            })],
        );
        let (expr, _) = at_modifier_variants(&expr, 1000).unwrap();
        assert_eq!(expr.to_string(), "max_over_time(y @ 5.000 + z @ 1.000)");
        let (sub, _) = at_modifier_variants(&sub, 1000).unwrap();
        assert_eq!(sub.to_string(), "abs(w)[1m:] @ 1.000");

        assert!(at_modifier_variants(&call("timestamp", vec![plain.clone()]), 1000).is_none());
        assert!(at_modifier_variants(&call("time", vec![]), 1000).is_none());
        assert!(uses_query_context_functions("x * step()"));
        assert!(!uses_query_context_functions("x * steps"));
    }
}
