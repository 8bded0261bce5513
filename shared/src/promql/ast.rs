//! The PromQL syntax tree, and its printer (`Display` writes canonical PromQL).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use super::Span;
use super::lexer::go_quote;
use crate::model::METRIC_NAME;

/// A parsed PromQL expression, as Prometheus 3.x defines the language for
/// float data. Every node carries the byte span of its source text. Times and
/// durations are milliseconds, PromQL's own resolution.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number. A sign written directly before a literal is part of it
    /// (`-1` is the literal -1, as in Prometheus; `-(1)` is a `Unary`), and
    /// a duration where a number is expected (`foo + 5m`) is its seconds.
    NumberLiteral {
        value: f64,
        span: Span,
    },
    StringLiteral {
        value: String,
        span: Span,
    },
    /// An instant vector selector, with its `offset` and `@` modifiers.
    VectorSelector(VectorSelector),
    /// `selector[range]`; `offset` and `@` live on the inner selector, as in
    /// Prometheus (`x[5m] offset 1m` and `x offset 1m [5m]` are not both
    /// valid: only the former is).
    MatrixSelector(MatrixSelector),
    /// `expr[range:step]` with its own `offset` and `@`.
    Subquery(SubqueryExpr),
    Paren {
        expr: Box<Expr>,
        span: Span,
    },
    /// `-expr` or `+expr`.
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
        span: Span,
    },
    Binary(BinaryExpr),
    Aggregate(AggregateExpr),
    Call(Call),
}

/// The four types a PromQL expression can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// The name Prometheus uses in messages: "scalar", "instant vector",
    /// "range vector", "string".
    pub fn describe(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

/// An `@` modifier: a fixed time, or the query's start or end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtModifier {
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Start,
    End,
}

/// `name{matchers…} offset d @ t`. `name` is the metric name written before
/// the braces; the parser also puts it first in `matchers`, as a `__name__`
/// equality matcher. A name written inside the braces (`{"my.metric"}`,
/// `{__name__="x"}`) is only a matcher, as in Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    /// `offset` in milliseconds; negative for `offset -5m`; 0 when absent.
    pub offset_ms: i64,
    pub at: Option<AtModifier>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    pub selector: VectorSelector,
    pub range_ms: i64,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    pub expr: Box<Expr>,
    pub range_ms: i64,
    /// The resolution after `:`; `None` when omitted (the engine then uses
    /// the global evaluation interval, one minute by default).
    pub step_ms: Option<i64>,
    pub offset_ms: i64,
    pub at: Option<AtModifier>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
}

/// Binary operators, in Prometheus's precedence groups (see
/// [`BinaryOp::precedence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    And,
    Or,
    Unless,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lss => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gtr => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// Higher binds tighter: `or` 1, `and`/`unless` 2, comparisons 3,
    /// `+ -` 4, `* / % atan2` 5, `^` 6 (right-associative).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql | BinaryOp::Neq | BinaryOp::Lss | BinaryOp::Lte | BinaryOp::Gtr | BinaryOp::Gte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eql | BinaryOp::Neq | BinaryOp::Lss | BinaryOp::Lte | BinaryOp::Gtr | BinaryOp::Gte)
    }

    /// `and`, `or`, `unless`: only between two instant vectors.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

/// How the two sides of a vector/vector operation pair up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    /// `group_left`: many on the left to one on the right.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on(…)`/`ignoring(…)` and `group_left(…)`/`group_right(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// The labels in `on(…)` or `ignoring(…)`.
    pub matching_labels: Vec<String>,
    /// `on` when true, `ignoring` when false (also when neither was written).
    pub on: bool,
    /// The extra labels of `group_left(…)`/`group_right(…)`.
    pub include: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    /// The `bool` modifier of a comparison.
    pub return_bool: bool,
    /// Present when both sides are instant vectors (the parser fills in the
    /// default: one-to-one, or many-to-many for set operators, ignoring no
    /// labels), `None` otherwise.
    pub matching: Option<VectorMatching>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    Sum,
    Min,
    Max,
    Avg,
    Group,
    Stddev,
    Stdvar,
    Count,
    CountValues,
    Bottomk,
    Topk,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggregateOp {
    pub const ALL: [AggregateOp; 14] = [
        AggregateOp::Sum,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Avg,
        AggregateOp::Group,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Count,
        AggregateOp::CountValues,
        AggregateOp::Bottomk,
        AggregateOp::Topk,
        AggregateOp::Quantile,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Avg => "avg",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Count => "count",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Topk => "topk",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Case-insensitive, as PromQL keywords are.
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        AggregateOp::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(name))
    }

    /// The type of the parameter before the vector, if the operator takes
    /// one: `count_values("label", v)`, `topk(3, v)`, `quantile(0.9, v)`.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::CountValues => Some(ValueType::String),
            AggregateOp::Bottomk
            | AggregateOp::Topk
            | AggregateOp::Quantile
            | AggregateOp::Limitk
            | AggregateOp::LimitRatio => Some(ValueType::Scalar),
            _ => None,
        }
    }
}

/// `by (…)` or `without (…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Neither was written, or `by ()`: everything aggregates into one
    /// series. (Prometheus does not tell the two apart either.)
    None,
    By(Vec<String>),
    Without(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    pub op: AggregateOp,
    pub expr: Box<Expr>,
    pub param: Option<Box<Expr>>,
    pub grouping: Grouping,
    pub span: Span,
}

/// A function call; `func` comes from [`super::functions::FUNCTIONS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: &'static super::functions::Function,
    pub args: Vec<Expr>,
    pub span: Span,
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::NumberLiteral { span, .. }
            | Expr::StringLiteral { span, .. }
            | Expr::Paren { span, .. }
            | Expr::Unary { span, .. } => *span,
            Expr::VectorSelector(selector) => selector.span,
            Expr::MatrixSelector(m) => m.span,
            Expr::Subquery(s) => s.span,
            Expr::Binary(b) => b.span,
            Expr::Aggregate(a) => a.span,
            Expr::Call(c) => c.span,
        }
    }

    /// The expression's type, as Prometheus's type checker assigns it.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::NumberLiteral { .. } => ValueType::Scalar,
            Expr::StringLiteral { .. } => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar && b.rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
        }
    }
}

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher. Regexes are fully anchored, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; fails only on an invalid regular expression.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(anchored_regex(&value)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher { name: name.into(), op, value, regex })
    }

    /// Whether a label value (empty for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether the matcher also matches the empty string, i.e. series that
    /// lack the label entirely.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

/// How many compiled regexes [`anchored_regex`] keeps per thread.
const REGEX_CACHE_CAPACITY: usize = 64;
/// Longer patterns are compiled every time rather than kept.
const REGEX_CACHE_MAX_PATTERN: usize = 4096;

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<String, regex::Regex>> = RefCell::new(HashMap::new());
}

/// Compiles `^(?s:value)$` (anchored, `.` matching newlines, as Prometheus
/// does), reusing an earlier compilation of the same pattern on this thread.
///
/// Compiling costs tens of microseconds, over 90% of parsing a typical
/// query with one regex matcher, and the same patterns come back: the
/// editor re-parses the query on every keystroke, dashboards re-run theirs
/// on every refresh. A clone of a `Regex` shares the compiled program but
/// gets its own match-time caches, and the kept copies never match, so the
/// cache holds only programs; it is emptied when full. Failures are not
/// kept: they compile again and fail the same way.
fn anchored_regex(value: &str) -> Result<regex::Regex, regex::Error> {
    let compile = || regex::Regex::new(&format!("^(?s:{value})$"));
    if value.len() > REGEX_CACHE_MAX_PATTERN {
        return compile();
    }
    if let Some(regex) = REGEX_CACHE.with_borrow(|cache| cache.get(value).cloned()) {
        return Ok(regex);
    }
    let regex = compile()?;
    REGEX_CACHE.with_borrow_mut(|cache| {
        if cache.len() >= REGEX_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(value.to_owned(), regex.clone());
    });
    Ok(regex)
}

/// Empties this thread's cache of compiled regexes, so that a benchmark can
/// measure parsing a query whose regexes were never seen.
#[doc(hidden)]
pub fn clear_regex_cache() {
    REGEX_CACHE.with_borrow_mut(HashMap::clear);
}

impl fmt::Display for Expr {
    /// Canonical PromQL, formatted as Prometheus's printer formats it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::NumberLiteral { value, .. } => write_number(f, *value),
            Expr::StringLiteral { value, .. } => write_quoted(f, value),
            Expr::VectorSelector(selector) => selector.fmt(f),
            Expr::MatrixSelector(m) => {
                m.selector.write_name_and_matchers(f)?;
                f.write_str("[")?;
                write_duration(f, m.range_ms)?;
                f.write_str("]")?;
                write_at_offset(f, m.selector.at, m.selector.offset_ms)
            }
            Expr::Subquery(s) => {
                write!(f, "{}[", s.expr)?;
                write_duration(f, s.range_ms)?;
                f.write_str(":")?;
                if let Some(step) = s.step_ms {
                    write_duration(f, step)?;
                }
                f.write_str("]")?;
                write_at_offset(f, s.at, s.offset_ms)
            }
            Expr::Paren { expr, .. } => write!(f, "({expr})"),
            Expr::Unary { op, expr, .. } => {
                f.write_str(if *op == UnaryOp::Neg { "-" } else { "+" })?;
                write!(f, "{expr}")
            }
            Expr::Binary(b) => {
                match &*b.lhs {
                    // `+Inf ^ 2` would read back as `+(Inf ^ 2)`, and
                    // `-2 ^ 2` as `-(2 ^ 2)`: the unary operator binds
                    // looser than `^`. The parser never makes the negative
                    // case (it keeps the parentheses); built trees may.
                    Expr::NumberLiteral { value, .. } if b.op == BinaryOp::Pow && *value == f64::INFINITY => {
                        f.write_str("Inf")?
                    }
                    Expr::NumberLiteral { value, .. } if b.op == BinaryOp::Pow && *value < 0.0 => {
                        write!(f, "({})", b.lhs)?
                    }
                    lhs => write!(f, "{lhs}")?,
                }
                write!(f, " {}", b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    let grouped = matches!(m.card, Cardinality::ManyToOne | Cardinality::OneToMany);
                    if m.on || !m.matching_labels.is_empty() || grouped {
                        f.write_str(if m.on { " on (" } else { " ignoring (" })?;
                        write_label_list(f, &m.matching_labels)?;
                        f.write_str(")")?;
                    }
                    if grouped {
                        f.write_str(if m.card == Cardinality::ManyToOne { " group_left (" } else { " group_right (" })?;
                        write_label_list(f, &m.include)?;
                        f.write_str(")")?;
                    }
                }
                write!(f, " {}", b.rhs)
            }
            Expr::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                match &a.grouping {
                    // `by ()` means no grouping; Prometheus prints it so.
                    Grouping::None => {}
                    Grouping::By(labels) if labels.is_empty() => {}
                    Grouping::By(labels) => {
                        f.write_str(" by (")?;
                        write_label_list(f, labels)?;
                        f.write_str(") ")?;
                    }
                    Grouping::Without(labels) => {
                        f.write_str(" without (")?;
                        write_label_list(f, labels)?;
                        f.write_str(") ")?;
                    }
                }
                f.write_str("(")?;
                if let Some(param) = &a.param {
                    write!(f, "{param}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, arg) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_label_list(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        if is_plain_label_name(label) {
            f.write_str(label)?;
        } else {
            write_quoted(f, label)?;
        }
    }
    Ok(())
}

/// Writes a duration as Prometheus's `model.Duration` does: largest units
/// first (`1h30m`, `90s` is `1m30s`, `0s` for zero), but years and weeks
/// only when they divide the duration exactly (`90d`, not `12w6d`).
pub fn write_duration(f: &mut fmt::Formatter<'_>, ms: i64) -> fmt::Result {
    if ms == 0 {
        return f.write_str("0s");
    }
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        f.write_str("-")?;
    }
    const UNITS: [(&str, u64, bool); 7] = [
        ("y", 365 * 24 * 3_600_000, true),
        ("w", 7 * 24 * 3_600_000, true),
        ("d", 24 * 3_600_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ];
    for (unit, size, exact) in UNITS {
        if exact && !rest.is_multiple_of(size) {
            continue;
        }
        if rest >= size {
            write!(f, "{}{unit}", rest / size)?;
            rest %= size;
        }
    }
    Ok(())
}

/// A duration as [`write_duration`] formats it.
pub fn format_duration(ms: i64) -> String {
    struct D(i64);
    impl fmt::Display for D {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_duration(f, self.0)
        }
    }
    D(ms).to_string()
}

fn write_at_offset(f: &mut fmt::Formatter<'_>, at: Option<AtModifier>, offset_ms: i64) -> fmt::Result {
    match at {
        None => {}
        Some(AtModifier::Timestamp(ms)) => write!(f, " @ {:.3}", ms as f64 / 1000.0)?,
        Some(AtModifier::Start) => f.write_str(" @ start()")?,
        Some(AtModifier::End) => f.write_str(" @ end()")?,
    }
    if offset_ms != 0 {
        f.write_str(" offset ")?;
        write_duration(f, offset_ms)?;
    }
    Ok(())
}

/// As Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with Prometheus's
/// spellings of the infinities: `+Inf`, `-Inf`, `NaN`.
fn write_number(f: &mut fmt::Formatter<'_>, value: f64) -> fmt::Result {
    if value.is_nan() {
        f.write_str("NaN")
    } else if value.is_infinite() {
        f.write_str(if value > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        write!(f, "{value}")
    }
}

impl VectorSelector {
    /// The name (when it can be written bare) and the other matchers,
    /// sorted and comma-separated as Prometheus prints them.
    fn write_name_and_matchers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare_name = self.name.as_deref().filter(|name| is_plain_metric_name(name));
        let mut skipped_name = false;
        let mut shown: Vec<String> = Vec::with_capacity(self.matchers.len());
        for m in &self.matchers {
            let is_name =
                m.name == METRIC_NAME && m.op == MatchOp::Equal && Some(m.value.as_str()) == bare_name && !skipped_name;
            if is_name {
                skipped_name = true;
                continue;
            }
            let mut text = if is_plain_label_name(&m.name) { m.name.clone() } else { go_quote(&m.name) };
            text.push_str(m.op.as_str());
            text.push_str(&go_quote(&m.value));
            shown.push(text);
        }
        if let Some(name) = bare_name {
            f.write_str(name)?;
            if shown.is_empty() {
                return Ok(());
            }
        }
        shown.sort();
        write!(f, "{{{}}}", shown.join(","))
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_name_and_matchers(f)?;
        write_at_offset(f, self.at, self.offset_ms)
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str(&go_quote(s))
}

/// Whether `name` can be written bare as a metric name: an identifier
/// (colons allowed) that the lexer would not read as a number or a keyword
/// that cannot name a metric.
pub fn is_plain_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !super::parser::is_reserved_word(name)
}

/// Whether `name` can be written bare as a label name.
pub fn is_plain_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Expr {
    /// Whether two trees mean the same query: equal but for spans, with NaN
    /// equal to NaN and matchers compared as a set (the printer sorts them,
    /// the parser keeps them in source order). `parse(&e.to_string())` is
    /// `same_as` `e` for every `e` that `parse` returns.
    pub fn same_as(&self, other: &Expr) -> bool {
        use Expr::*;
        match (self, other) {
            (NumberLiteral { value: a, .. }, NumberLiteral { value: b, .. }) => a == b || (a.is_nan() && b.is_nan()),
            (StringLiteral { value: a, .. }, StringLiteral { value: b, .. }) => a == b,
            (VectorSelector(a), VectorSelector(b)) => a.same_as(b),
            (MatrixSelector(a), MatrixSelector(b)) => a.range_ms == b.range_ms && a.selector.same_as(&b.selector),
            (Subquery(a), Subquery(b)) => {
                a.range_ms == b.range_ms
                    && a.step_ms == b.step_ms
                    && a.offset_ms == b.offset_ms
                    && a.at == b.at
                    && a.expr.same_as(&b.expr)
            }
            (Paren { expr: a, .. }, Paren { expr: b, .. }) => a.same_as(b),
            (Unary { op: oa, expr: a, .. }, Unary { op: ob, expr: b, .. }) => oa == ob && a.same_as(b),
            (Binary(a), Binary(b)) => {
                a.op == b.op
                    && a.return_bool == b.return_bool
                    && a.matching == b.matching
                    && a.lhs.same_as(&b.lhs)
                    && a.rhs.same_as(&b.rhs)
            }
            (Aggregate(a), Aggregate(b)) => {
                a.op == b.op
                    && a.grouping == b.grouping
                    && a.expr.same_as(&b.expr)
                    && match (&a.param, &b.param) {
                        (Some(pa), Some(pb)) => pa.same_as(pb),
                        (None, None) => true,
                        _ => false,
                    }
            }
            (Call(a), Call(b)) => {
                std::ptr::eq(a.func, b.func)
                    && a.args.len() == b.args.len()
                    && a.args.iter().zip(&b.args).all(|(x, y)| x.same_as(y))
            }
            _ => false,
        }
    }
}

impl VectorSelector {
    /// Equal but for spans, with the matchers compared as a set.
    pub fn same_as(&self, other: &VectorSelector) -> bool {
        let key = |m: &Matcher| (m.name.clone(), m.op.as_str(), m.value.clone());
        let mut a: Vec<_> = self.matchers.iter().map(key).collect();
        let mut b: Vec<_> = other.matchers.iter().map(key).collect();
        a.sort();
        b.sort();
        self.name == other.name && self.offset_ms == other.offset_ms && self.at == other.at && a == b
    }
}
